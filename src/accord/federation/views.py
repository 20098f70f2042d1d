"""The inbox endpoint peers post to, and the pages for the channel (the notes'
pages are in note_views)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accord.core.audit import Actor
from accord.core.clockwork import open_failures
from accord.core.models import AuditEvent, FailureTally
from accord.core.policy import offered
from accord.core.signals import client_ip
from accord.core.tally import Channel
from accord.federation import (
    anchoring,
    peering,
    recovery,
    recovery_answers,
    replicas,
    signed_view,
)
from accord.federation import inbox as receiving
from accord.federation.forms import PeerForm
from accord.federation.models import InboxMessage, OutboxMessage, Peer
from accord.federation.policy import PERMISSIONS, Action, allowed
from accord.federation.queries import channel_summary
from accord.web.actions import act
from accord.web.guards import SignedInRequest, permission_required


@csrf_exempt  # authenticated by the envelope signatures, not by a session
@require_POST
def inbox(request: HttpRequest) -> JsonResponse:
    limit = settings.FEDERATION_MAX_REQUEST_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        # Refused before reading it: the JSON answer tells the sender to split.
        receiving.record_rejection("too_large", f"request of {length} bytes", client_ip(request))
        return JsonResponse(
            {
                "receipts": [],
                "duplicates": [],
                "error": {"index": 0, "reason": "too_large", "detail": f"over {limit} bytes"},
            },
            status=413,
        )
    try:
        result = receiving.receive_batch(request.read(limit + 1), client_ip(request))
    except DatabaseError:
        return JsonResponse(
            {"receipts": [], "error": {"reason": "unavailable", "detail": "try again later"}},
            status=503,
        )
    return JsonResponse(result.as_response(), status=result.status)


@csrf_exempt  # authenticated by the ask's signature, not by a session
@require_POST
def checkpoints(request: HttpRequest) -> JsonResponse:
    """A peer asks for the checkpoints of its audit log kept here (anchoring)."""
    status, answer = anchoring.answer_ask(
        request.read(anchoring.MAX_ASK_BYTES + 1), client_ip(request)
    )
    return JsonResponse(answer, status=status)


@csrf_exempt  # authenticated by the ask's signature, not by a session
@require_POST
def recovery_ask(request: HttpRequest) -> JsonResponse:
    """A peer restored from a back-up asks for what it lost (federation.recovery)."""
    status, answer = recovery_answers.answer_ask(
        request.read(recovery.MAX_ASK_BYTES + 1), client_ip(request)
    )
    return JsonResponse(answer, status=status)


@permission_required(PERMISSIONS[Action.VIEW_CHANNEL])
def channel(request: SignedInRequest) -> HttpResponse:
    user = request.user
    peers = Peer.objects.restrict(user).order_by("-active", "node_id")
    context = {
        "channels": [
            (
                peer,
                channel_summary(peer),
                offered(allowed(user, Action.REMOVE_PEER, peer)),
                offered(allowed(user, Action.RECONCILE, peer)),
            )
            for peer in peers
        ],
        "can_add": offered(allowed(user, Action.ADD_PEER)),
        "can_retry": offered(allowed(user, Action.RETRY)),
        "form": PeerForm(),
        # Envelopes rejected, counted per reason, address and window (core.tally).
        "rejections": FailureTally.objects.restrict(user).filter(channel=Channel.INBOX)[:50],
        "sent": OutboxMessage.objects.restrict(user)
        .select_related("peer")
        .order_by("-created_at", "-seq")[:20],
        "received": InboxMessage.objects.restrict(user)
        .select_related("peer")
        .order_by("-received_at", "-seq")[:20],
        # Timed work that fails (a hold whose peer was removed): from the audit log.
        "clock_failures": open_failures(AuditEvent.objects.restrict(user))[:50],
        # Shared items whose copy here differs from the owner's (federation.replicas).
        "out_of_step": replicas.out_of_step(peers),
        "repaired": replicas.recently_repaired(peers),
    }
    return render(request, "federation/channel.html", context)


@require_POST
@permission_required(PERMISSIONS[Action.ADD_PEER])
def peer_add(request: SignedInRequest) -> HttpResponse:
    form = PeerForm(request.POST)
    if form.is_valid():
        try:
            peer = peering.add_peer(
                Actor.of(request.user),
                form.cleaned_data["url"],
                form.cleaned_data["fingerprint"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("%(node)s is now a peer.") % {"node": peer.node_id})
    else:
        messages.error(request, _("Give the peer's address and fingerprint."))
    return redirect("federation:channel")


@require_POST
@permission_required(PERMISSIONS[Action.REMOVE_PEER])
def peer_remove(request: SignedInRequest, node_id: str) -> HttpResponse:
    peer = get_object_or_404(Peer.objects.restrict(request.user), node_id=node_id)
    return act(
        request,
        lambda: peering.remove_peer(Actor.of(request.user), peer, ip=client_ip(request)),
        done=_("%(node)s is no longer a peer.") % {"node": node_id},
        to="federation:channel",
    )


@require_POST
@permission_required(PERMISSIONS[Action.RECONCILE])
def peer_reconcile(request: SignedInRequest, node_id: str) -> HttpResponse:
    peer = get_object_or_404(Peer.objects.restrict(request.user), node_id=node_id)
    return act(
        request,
        lambda: replicas.reconcile(Actor.of(request.user), peer, ip=client_ip(request)),
        done=_(
            "The digest of every item shared with %(node)s is on its way; "
            "what differs will be repaired from its owner's copy."
        )
        % {"node": node_id},
        to="federation:channel",
    )


@require_POST
@permission_required(PERMISSIONS[Action.RETRY])
def outbox_retry(request: SignedInRequest) -> HttpResponse:
    count = peering.retry(Actor.of(request.user), ip=client_ip(request))
    messages.success(
        request, _("Delivery will be retried now (%(count)s peers).") % {"count": count}
    )
    return redirect("federation:channel")


@permission_required(PERMISSIONS[Action.VIEW_CHANNEL])
def message_detail(request: SignedInRequest, message_id: str) -> HttpResponse:
    outgoing = OutboxMessage.objects.restrict(request.user).filter(pk=message_id).first()
    incoming = None
    if outgoing is None:
        incoming = get_object_or_404(InboxMessage.objects.restrict(request.user), pk=message_id)
    if outgoing is not None:
        signed = signed_view.of_outgoing(outgoing, _("The receiver's signed receipt"))
    else:
        assert incoming is not None
        signed = signed_view.of_incoming(
            incoming, _("The envelope as received"), _("The receipt this node signed")
        )
    context = {"outgoing": outgoing, "incoming": incoming, "signed": signed}
    return render(request, "federation/message.html", context)
