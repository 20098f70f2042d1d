"""Notes as conversations (issue 15): threads with one peer, each optionally
about a request shared with that peer (the link travels with every note) and,
on this node only, about one of its own cases. What a reader sees of a link is
need-to-know: a request or case the reader may not open is not named at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.federation import kinds
from accord.federation.models import Note, NoteThread, Peer
from accord.federation.policy import Action, allowed, enforce
from accord.federation.wire import NoteBody


def as_id(value: UUID | str | None) -> UUID | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise ValidationError(_("Not a valid identifier.")) from None


def _requests() -> Any:
    from accord.assistance.models import AssistanceRequest

    return AssistanceRequest.objects


def _cases() -> Any:
    from accord.cases.models import Case

    return Case.objects


def _shared_with(peer: Peer) -> Any:
    """The requests both nodes hold: received from `peer`, or sent to it."""
    from django.db.models import Q

    return _requests().filter(peer=peer).filter(Q(outgoing=False) | Q(submit_message__isnull=False))


# ---------------------------------------------------------------- writing


def reply_to(user: User | None, peer: Peer, thread_id: UUID | str) -> NoteThread:
    """The thread a reply goes to: one with `peer` the sender may read."""
    thread = (
        NoteThread.objects.restrict(user).filter(pk=as_id(thread_id), peer=peer).first()
        if user
        else None
    )
    if thread is None:
        raise ValidationError(_("No such conversation with %(node)s.") % {"node": peer.node_id})
    return thread


def shared_request(user: User | None, peer: Peer, request_id: UUID | str | None) -> UUID | None:
    """A request a new thread is about: shared with `peer`, and one the
    sender may open (else it is not named: no such request)."""
    wanted = as_id(request_id)
    if wanted is None:
        return None
    if user is None or not _shared_with(peer).restrict(user).filter(pk=wanted).exists():
        raise ValidationError(_("No such request shared with %(node)s.") % {"node": peer.node_id})
    return wanted


def own_case(user: User | None, case_id: UUID | str | None) -> UUID | None:
    wanted = as_id(case_id)
    if wanted is None:
        return None
    if user is None or not _cases().restrict(user).filter(pk=wanted).exists():
        raise ValidationError(_("No such case."))
    return wanted


def receiving_thread(peer: Peer, thread_id: str, body: NoteBody) -> NoteThread:
    """The thread an arriving note belongs to (made if new), refused as the
    body's fault if it is another peer's thread or names a request not shared
    with the sender."""
    request_id = UUID(body.request) if body.request else None
    if request_id and not _shared_with(peer).filter(pk=request_id).exists():
        raise kinds.Refusal("invalid_body: the note names a request not shared with its sender")
    now = timezone.now()
    thread = NoteThread.objects.select_for_update().filter(pk=thread_id).first()
    if thread is None:
        return NoteThread.objects.create(
            id=UUID(str(thread_id)),
            peer=peer,
            subject=body.subject,
            request_id=request_id,
            started_at=now,
            last_at=now,
        )
    if thread.peer_id != peer.pk:
        raise kinds.Refusal("invalid_body: the thread is not one with the sender")
    if request_id and thread.request_id and thread.request_id != request_id:
        raise kinds.Refusal("invalid_body: the thread is about another request")
    thread.last_at = now
    thread.request_id = thread.request_id or request_id
    thread.save(update_fields=["last_at", "request_id"])
    return thread


def link_case(
    actor: Actor, thread: NoteThread, case_id: UUID | str | None, *, ip: str = ""
) -> None:
    """Link a thread to one of this node's cases (or unlink it): kept here,
    never sent; only a case the officer may open."""
    enforce(actor, Action.SEND_NOTE, ip=ip, what="link_note_thread")
    case = own_case(actor.user, case_id)
    with transaction.atomic():
        NoteThread.objects.filter(pk=thread.pk).update(case_id=case)
        audit.record(
            actor,
            AuditAction.NOTE_LINK,
            thread,
            data={"case": str(case) if case else None, "before": _str(thread.case_id)},
            ip=ip,
        )
    thread.case_id = case


def _str(value: UUID | None) -> str | None:
    return str(value) if value else None


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Row:
    """A thread as the list shows it."""

    thread: NoteThread
    last: Note | None
    count: int
    unread: int
    request: Any  # AssistanceRequest the reader may open, or None
    case: Any  # Case the reader may open, or None


def links(user: User, threads: list[NoteThread]) -> tuple[dict[UUID, Any], dict[UUID, Any]]:
    """The linked requests and cases this user may open, by id: the others
    are left out, so a confidential case's existence is not told."""
    request_ids = {t.request_id for t in threads if t.request_id}
    case_ids = {t.case_id for t in threads if t.case_id}
    found = _requests().restrict(user).in_bulk(request_ids) if request_ids else {}
    cases = _cases().restrict(user).in_bulk(case_ids) if case_ids else {}
    return found, cases


def visible(user: User | None) -> Any:
    return NoteThread.objects.restrict(user).select_related("peer")


def rows(user: User, threads: list[NoteThread]) -> list[Row]:
    from accord.federation.notes import unread

    ids = [t.pk for t in threads]
    last_ids = dict(
        NoteThread.objects.filter(pk__in=ids)
        .annotate(
            last_note=Subquery(
                Note.objects.filter(thread=OuterRef("pk"))
                .order_by("-created_at", "-id")
                .values("pk")[:1]
            )
        )
        .values_list("pk", "last_note")
    )
    counts = dict(
        Note.objects.filter(thread__in=ids)
        .values("thread")
        .annotate(n=Count("id"))
        .values_list("thread", "n")
    )
    unread_counts = dict(
        unread(user)
        .filter(thread__in=ids)
        .values("thread")
        .annotate(n=Count("id"))
        .values_list("thread", "n")
    )
    last_notes = Note.objects.in_bulk([n for n in last_ids.values() if n])
    linked_requests, linked_cases = links(user, threads)
    return [
        Row(
            thread=t,
            last=last_notes.get(last_ids.get(t.pk)),
            count=counts.get(t.pk, 0),
            unread=unread_counts.get(t.pk, 0),
            request=linked_requests.get(t.request_id) if t.request_id else None,
            case=linked_cases.get(t.case_id) if t.case_id else None,
        )
        for t in threads
    ]


def record_list(actor: Actor, shown: int | None, *, ip: str = "", via: str = "web") -> None:
    """Reading the list of notes is recorded, as reading a request list is."""
    data: dict[str, Any] = {"via": via}
    if shown is not None:
        data["shown"] = shown
    audit.record_read(actor, AuditAction.NOTE_LIST, data=data, ip=ip)


def open_thread(actor: Actor, thread_id: UUID, *, ip: str = "") -> tuple[NoteThread, list[Note]]:
    """A thread and its notes, oldest first, for a reader: recorded as a read,
    and its received notes become read by this reader (notes.mark_read)."""
    from accord.federation.notes import mark_read

    enforce(actor, Action.VIEW_NOTES, ip=ip, what="read_note_thread")
    thread = visible(actor.user).filter(pk=thread_id).first() if actor.user else None
    if thread is None:
        raise Http404
    shown = list(thread.notes.order_by("created_at", "id"))
    audit.record_read(actor, AuditAction.NOTE_READ, thread, data={"notes": len(shown)}, ip=ip)
    mark_read(actor, shown, ip=ip)
    return thread, shown


def linkable_requests(user: User, limit: int = 200, asked: str = "") -> list[Any]:
    """The requests a new thread may be about, for the form: shared with a
    peer and open to this officer, newest first, and the one `asked` for (a
    request page's "write to the partner" link) if it is such a request."""
    from django.db.models import Q

    shared = Q(outgoing=False) | Q(submit_message__isnull=False)
    rows = _requests().restrict(user).filter(shared).select_related("peer")
    newest = list(rows.order_by("-created_at")[:limit])
    try:
        wanted = as_id(asked) if asked else None
    except ValidationError:
        wanted = None  # a mangled link: the form simply names no request
    if wanted and all(r.pk != wanted for r in newest):
        newest += list(rows.filter(pk=wanted))  # the one the page links from, however old
    return newest


def linkable_cases(user: User, limit: int = 200) -> list[Any]:
    return list(_cases().restrict(user).order_by("-created_at")[:limit])


def about_request(user: User, request: Any, limit: int = 20) -> list[Row]:
    """The conversations about one request this user may read, newest first:
    for the request page's card."""
    return rows(user, list(visible(user).filter(request_id=request.pk)[:limit]))


def may_write_about(user: User, request: Any) -> bool:
    """Whether this officer may start a thread about `request` with its peer:
    one who may send notes, about a request both nodes hold."""
    if allowed(user, Action.SEND_NOTE) is not None:
        return False
    return _shared_with(request.peer).filter(pk=request.pk).exists()
