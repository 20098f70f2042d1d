"""A request as a replicated item (federation.replicas): the family
"assistance.request", owned by the requested node, which orders every step of
a submitted request. Its shared view is `wire.shared_view`; when the requesting
node's copy differs, the requested node's snapshot replaces the shared part of
it (content, state, timeline, milestones, file list). What is this node's own
(team, screening notes, reminders, pending actions) stays as it is."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from pydantic import ValidationError as SchemaError

from accord.assistance.models import AssistanceRequest, RequestEvent, ResponseFile, State
from accord.assistance.rules import content_fields, parse_request, schema_messages
from accord.assistance.wire import RequestView, SharedFile, content_of, shared_view
from accord.core.identity import this_node
from accord.federation import kinds, replicas
from accord.federation.models import MessageStatus, Peer

FAMILY = "assistance.request"
SKEW = timedelta(minutes=10)
MILESTONES = (
    "created_at",
    "submitted_at",
    "received_at",
    "decided_at",
    "responded_at",
    "ended_at",
    "acknowledge_due",
    "decision_due",
    "response_due",
    "hold_expires",
)


def _shared(peer: Peer) -> Q:
    """The requests both nodes hold: every incoming one; an outgoing one once
    the partner has applied its submission; one this node (the requested
    central authority) assigned to the peer for execution."""
    delivered = Q(submit_message__status=MessageStatus.APPLIED) | Q(received_at__isnull=False)
    executed_by_peer = Q(outgoing=False, executing_node=peer.node_id)
    return (Q(peer=peer) & (Q(outgoing=False) | (Q(outgoing=True) & delivered))) | executed_by_peer


def _item(request: AssistanceRequest) -> replicas.Item:
    return replicas.Item(
        key=f"{FAMILY}:{request.pk}", owner=request.requested_node, view=shared_view(request)
    )


def items(peer: Peer) -> Iterator[replicas.Item]:
    found = AssistanceRequest.objects.filter(_shared(peer)).prefetch_related("events", "files")
    for request in found.iterator(chunk_size=200):
        yield _item(request)


def item(peer: Peer, item_id: str) -> replicas.Item | None:
    try:
        pk = uuid.UUID(item_id)
    except ValueError:
        return None
    request = AssistanceRequest.objects.filter(_shared(peer), pk=pk).first()
    return _item(request) if request else None


def apply(peer: Peer, item_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """Replace the shared part of this node's copy with the owner's; returns
    what the audit record should say beyond the digests."""
    snapshot = parse_view(view)
    request = (
        AssistanceRequest.objects.select_for_update()
        .filter(Q(outgoing=True) | ~Q(requested_node=this_node().node_id), pk=item_id, peer=peer)
        .first()
    )
    if request is None:
        raise kinds.Refusal("unknown_request: this node asked the peer for no such request")
    _check(peer, request, snapshot)
    removed, listed_only = write_shared(request, snapshot)
    return {
        "reference": request.reference,
        "version": request.version,
        "files_removed": removed,
        "files_without_content": listed_only,
    }


def parse_view(view: dict[str, Any]) -> RequestView:
    try:
        return RequestView.model_validate(view)
    except SchemaError as exc:
        raise kinds.Refusal("invalid_snapshot: " + "; ".join(schema_messages(exc))[:400]) from None


def write_shared(request: AssistanceRequest, snapshot: RequestView) -> tuple[list[str], list[str]]:
    """Make the shared part of this node's copy the owner's `snapshot` (the
    request's row is saved, a new one inserted): content, state, timeline,
    milestones, file list. Returns the files removed and those listed only."""
    if snapshot.content != content_of(request):
        content, problems = parse_request(snapshot.content)
        if problems:
            raise kinds.Refusal("invalid_snapshot: " + "; ".join(problems)[:400])
        for name, value in content_fields(content).items():
            setattr(request, name, value)
    request.state = snapshot.state
    request.version = snapshot.version
    request.executing_node = snapshot.executing_node
    request.conditions = snapshot.conditions
    request.conditions_accepted = snapshot.conditions_accepted
    request.refusal_grounds = snapshot.refusal_grounds
    request.restrictions = snapshot.restrictions
    for name in MILESTONES:
        text = getattr(snapshot, name)
        setattr(request, name, datetime.fromisoformat(text) if text else None)
    request.save()
    request.events.all().delete()
    RequestEvent.objects.bulk_create(
        RequestEvent(
            request=request,
            **{**event.model_dump(), "at": datetime.fromisoformat(event.at)},
        )
        for event in snapshot.events
    )
    removed, listed_only = _replace_files(request, snapshot.files)
    _settle_pending(request)
    return removed, listed_only


def _check(peer: Peer, request: AssistanceRequest, snapshot: RequestView) -> None:
    if (
        snapshot.id != str(request.pk)
        or snapshot.reference != request.reference
        or snapshot.requesting_node != request.requesting_node
        or snapshot.requested_node != peer.node_id
    ):
        raise kinds.Refusal("invalid_snapshot: it names another request or other nodes")
    check_timeline(snapshot)


def check_timeline(snapshot: RequestView) -> None:
    if snapshot.state not in State.values:
        raise kinds.Refusal(f"invalid_snapshot: unknown state {snapshot.state[:40]}")
    versions = [event.version for event in snapshot.events]
    last = snapshot.events[-1]
    if versions != list(range(1, snapshot.version + 1)) or last.to_state != snapshot.state:
        raise kinds.Refusal("invalid_snapshot: the timeline does not lead to its state")


def _replace_files(
    request: AssistanceRequest, files: list[SharedFile]
) -> tuple[list[str], list[str]]:
    """The owner's list of response files; a file this node already holds keeps
    its content and type, one it lacks is listed by name and hash only (both
    are named in the audit record)."""
    wanted = {(f.version, f.name, f.sha256): f for f in files}
    removed = []
    for held in request.files.all():
        if wanted.pop((held.version, held.name, held.sha256), None) is None:
            removed.append(f"{held.name} ({held.sha256})")
            held.delete()
    for ref in wanted.values():
        ResponseFile.objects.create(
            request=request,
            version=ref.version,
            name=ref.name,
            sha256=ref.sha256,
            size=ref.size,
            content_type="application/octet-stream",
        )
    return removed, [f"{ref.name} ({ref.sha256})" for ref in wanted.values()]


def _settle_pending(request: AssistanceRequest) -> None:
    """A step this node asked for that the owner's timeline shows taken (by the
    owner's clock, which may run a little behind this one): applied."""
    for pending in request.pending_actions.filter(outcome=""):
        since = pending.created_at - SKEW
        if request.events.filter(action=pending.action, at__gte=since).exists():
            pending.outcome = "applied"
            pending.save(update_fields=["outcome"])


replicas.register(replicas.Family(FAMILY, items, item, apply))
