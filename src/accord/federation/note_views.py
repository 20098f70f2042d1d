"""The Notes pages: the conversations with the peers, one conversation, and
marking every note read. Reading is recorded (threads.record_list,
threads.open_thread); what changes goes through the services."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accord.core.audit import Actor
from accord.core.policy import offered
from accord.core.signals import client_ip
from accord.federation import notes, threads
from accord.federation.forms import CaseLinkForm, NoteForm, ReplyForm
from accord.federation.models import Note, OutboxMessage, Peer
from accord.federation.policy import PERMISSIONS, Action, allowed
from accord.web.guards import SignedInRequest, permission_required

PAGE_SIZE = 25


def _states(shown: list[Note]) -> dict[UUID, str]:
    """The delivery state of each sent note among `shown`, by message id."""
    sent = [n.message_id for n in shown if n.direction == Note.Direction.OUT]
    return dict(OutboxMessage.objects.filter(pk__in=sent).values_list("pk", "status"))


@permission_required(PERMISSIONS[Action.VIEW_NOTES])
def note_list(request: SignedInRequest) -> HttpResponse:
    user = request.user
    actor = Actor.of(user)
    peers = list(Peer.objects.restrict(user, "message"))
    can_send = allowed(user, Action.SEND_NOTE) is None
    asked = request.GET.get("request", "")
    linkable = threads.linkable_requests(user, asked=asked) if can_send else []
    initial = {
        "language": translation.get_language(),
        "request": asked,
        "case": request.GET.get("case", ""),
    }
    # From a request page's "write to the partner": to its peer, about it.
    about = next((r for r in linkable if str(r.pk) == asked), None)
    if about is not None:
        initial["peer"] = about.peer.node_id
        initial["subject"] = _("About request %(reference)s") % {"reference": about.reference}
    form = NoteForm(
        request.POST or None,
        peers=peers,
        requests=linkable,
        cases=threads.linkable_cases(user) if can_send else (),
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        peer = next(p for p in peers if p.node_id == form.cleaned_data["peer"])
        try:
            note = notes.send_note(
                actor,
                peer,
                form.cleaned_data["subject"],
                form.cleaned_data["text"],
                form.cleaned_data["language"],
                request_id=form.cleaned_data["request"] or None,
                case_id=form.cleaned_data["case"] or None,
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Note queued for %(node)s.") % {"node": peer.node_id})
            return redirect("federation:note-thread", thread_id=note.thread_id)
    page = Paginator(threads.visible(user), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = threads.rows(user, list(page))
    states = _states([r.last for r in rows if r.last])
    threads.record_list(actor, len(rows), ip=client_ip(request))
    context = {
        "form": form,
        "listed": [(row, states.get(row.last.message_id) if row.last else None) for row in rows],
        "page": page,
        "peers": peers,
        "unread": notes.unread(user).count(),
        "can_send": offered(allowed(user, Action.SEND_NOTE)),
        "can_inspect": offered(allowed(user, Action.VIEW_CHANNEL)),
    }
    return render(request, "federation/notes.html", context)


@permission_required(PERMISSIONS[Action.VIEW_NOTES])
def note_thread(request: SignedInRequest, thread_id: UUID) -> HttpResponse:
    user = request.user
    actor = Actor.of(user)
    can_send = allowed(user, Action.SEND_NOTE) is None
    cases = threads.linkable_cases(user) if can_send else []
    reply = ReplyForm(
        request.POST if "reply" in request.POST else None,
        initial={"language": translation.get_language()},
    )
    link = CaseLinkForm(request.POST if "link" in request.POST else None, cases=cases)
    thread, shown = threads.open_thread(actor, thread_id, ip=client_ip(request))
    if request.method == "POST" and "reply" in request.POST and reply.is_valid():
        try:
            notes.send_note(
                actor,
                thread.peer,
                thread.subject,
                reply.cleaned_data["text"],
                reply.cleaned_data["language"],
                thread_id=thread.pk,
                ip=client_ip(request),
            )
        except ValidationError as exc:
            reply.add_error(None, exc)
        else:
            messages.success(
                request, _("Reply queued for %(node)s.") % {"node": thread.peer.node_id}
            )
            return redirect("federation:note-thread", thread_id=thread.pk)
    if request.method == "POST" and "link" in request.POST and link.is_valid():
        try:
            threads.link_case(
                actor, thread, link.cleaned_data["case"] or None, ip=client_ip(request)
            )
        except ValidationError as exc:
            link.add_error(None, exc)
        else:
            messages.success(request, _("The conversation's case is saved."))
            return redirect("federation:note-thread", thread_id=thread.pk)
    states = _states(shown)
    linked_requests, linked_cases = threads.links(user, [thread])
    if thread.case_id and thread.case_id in linked_cases:
        link.initial["case"] = str(thread.case_id)
    context = {
        "thread": thread,
        "shown": [(note, states.get(note.message_id)) for note in shown],
        "linked_request": linked_requests.get(thread.request_id) if thread.request_id else None,
        "linked_case": linked_cases.get(thread.case_id) if thread.case_id else None,
        "reply": reply,
        "link": link,
        "can_send": offered(allowed(user, Action.SEND_NOTE)) and thread.peer.active,
        "can_inspect": offered(allowed(user, Action.VIEW_CHANNEL)),
    }
    return render(request, "federation/note_thread.html", context)


@require_POST
@permission_required(PERMISSIONS[Action.VIEW_NOTES])
def notes_read(request: SignedInRequest) -> HttpResponse:
    """Mark every note waiting for this reader as read."""
    count = notes.mark_read(
        Actor.of(request.user), list(notes.unread(request.user)), ip=client_ip(request)
    )
    messages.success(
        request,
        ngettext("%(count)s note marked as read.", "%(count)s notes marked as read.", count)
        % {"count": count},
    )
    return redirect("federation:notes")
