"""The assistance.* message kinds arriving from a peer (DESIGN.md, federation
protocol): each body is checked against its schema before its handler runs,
and the handlers apply it through the app's public functions: `steps.advance`
for a step (a response's files come as evidence items: evidence/inbound.py).

Nothing a peer sends is trusted: a step's payload is checked against the
step's own schema as it travels (`wire.check_payload`) before anything is
applied, so a malformed message is refused whole and both replicas stay as
they were. What can fail for reasons of this node alone (drafting the
follow-up of a conversion as an officer who may since have left: follow_up.py)
runs after the message is applied and committed, never inside the handler."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError as SchemaError

from accord.assistance import deadlines, evidence_files, replica, routing, steps
from accord.assistance.follow_up import draft_follow_up
from accord.assistance.machine import (
    EXECUTION,
    REQUESTING,
    TRANSITIONS,
    Transition,
)
from accord.assistance.models import (
    AssistanceRequest,
    PendingAction,
    RequestEvent,
    State,
)
from accord.assistance.rules import (
    content_fields,
    parse_request,
    schema_messages,
    state_message,
)
from accord.assistance.types import (
    TEXT,
    RequestType,
    RestrictionKind,
)
from accord.assistance.wire import (
    ACTION_KIND,
    ACTION_REFUSED_KIND,
    ASSIGN_KIND,
    SUBMIT_KIND,
    TRANSITION_KIND,
    ActionBody,
    ActionRefusedBody,
    AssignBody,
    EventBody,
    SubmitBody,
    TransitionBody,
    check_payload,
)
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.federation import kinds
from accord.federation import services as federation
from accord.federation.kinds import Refusal
from accord.federation.models import Peer
from accord.federation.parties import same_party
from accord.federation.signals import messages_refused


def receive_submit(peer: Peer, body: SubmitBody) -> None:
    """A partner's new request arrives (or a re-submission is confirmed)."""
    node = this_node()
    if body.requesting_node != peer.node_id or body.requested_node != node.node_id:
        raise Refusal("wrong_parties: the request names other nodes")
    if not node.central_authority or same_party(peer):
        raise Refusal(
            "not_central_authority: a request goes to the requested party's central "
            "authority, from another party"
        )
    if AssistanceRequest.objects.filter(pk=body.request_id).exists():
        raise Refusal("duplicate_request: this request is already here")
    content, problems = parse_request(body.content)
    if problems:
        raise Refusal("invalid_request: " + "; ".join(problems)[:400])
    events = [_parse_event(raw) for raw in body.events]
    last = events[-1]
    if last.action != "submit" or last.version != body.version:
        raise Refusal("invalid_request: the history must end with its submission")
    request = AssistanceRequest(
        id=uuid.UUID(body.request_id),
        reference=body.reference,
        requesting_node=peer.node_id,
        requested_node=node.node_id,
        peer=peer,
        outgoing=False,
        state=State.SUBMITTED,
        version=body.version,
        created_at=datetime.fromisoformat(body.created_at),
        follows=_preservation_followed(peer, body.follows),
        **content_fields(content),
    )
    submitted = datetime.fromisoformat(last.at)
    request.submitted_at = submitted
    request.acknowledge_due = deadlines.on_submission(request, submitted)
    request.save(force_insert=True)
    for event in events:
        RequestEvent.objects.create(request=request, **_event_fields(event))
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": "submit", "version": request.version},
    )


def _preservation_followed(peer: Peer, request_id: str | None) -> AssistanceRequest | None:
    """The preservation this peer asked of this node that a full request
    follows: its hold lasts while the full request is decided (clock.due_holds).
    A link to anything else is left out; it would change nothing else."""
    if request_id is None:
        return None
    return AssistanceRequest.objects.filter(
        pk=request_id, peer=peer, outgoing=False, request_type=RequestType.PRESERVATION
    ).first()


def _parse_event(raw: dict[str, Any]) -> EventBody:
    """One event of a submitted request's history: a step taken before
    submission, with the payload that step carries ("create" carries none)."""
    try:
        event = EventBody.model_validate(raw)
    except SchemaError as exc:
        raise Refusal("invalid_event: " + "; ".join(schema_messages(exc))[:400]) from None
    if event.action == "create" and not event.payload:
        return event
    transition = TRANSITIONS.get(event.action)
    if transition is None or not transition.local:
        raise Refusal(f"invalid_event: {event.action} is not a step before submission")
    _check_payload(transition, event.payload, "invalid_event")
    return event


def _check_payload(transition: Transition, payload: dict[str, Any], refusal: str) -> None:
    try:
        check_payload(transition, payload)
    except SchemaError as exc:
        raise Refusal(f"{refusal}: " + "; ".join(schema_messages(exc))[:400]) from None


def _event_fields(event: EventBody) -> dict[str, Any]:
    fields = event.model_dump()
    fields["at"] = datetime.fromisoformat(event.at)
    return fields


def receive_transition(peer: Peer, body: TransitionBody) -> None:
    """The requested node moved the request on (on its own, or confirming ours)."""
    request = _owned_by(peer, body.request_id)
    event = body.event
    transition = TRANSITIONS.get(event.action)
    if transition is None or transition.local:
        raise Refusal(f"unknown_step: {event.action}")
    _check_payload(transition, event.payload, "invalid_step")
    if event.version != request.version + 1 or event.from_state != request.state:
        raise Refusal(
            f"version_conflict: at version {request.version} ({request.state}), "
            f"got {event.version} from {event.from_state}"
        )
    if request.state not in transition.sources or request.request_type not in transition.types:
        raise Refusal(f"invalid_step: {event.action} from {request.state}")
    if event.side != transition.side or event.to_state != transition.leaves(request.state):
        raise Refusal("invalid_step: side or target state does not match")
    pending = None
    if body.action_id:
        pending = request.pending_actions.filter(pk=body.action_id, outcome="").first()
    if transition.side == REQUESTING and pending is None and request.outgoing:
        raise Refusal("invalid_step: a requesting-side step this node did not ask for")
    steps.advance(
        request,
        transition,
        event.payload,
        event.side,
        event.actor_name,
        event.actor_role,
        datetime.fromisoformat(event.at),
    )
    if pending is not None:
        pending.outcome = "applied"
        pending.save(update_fields=["outcome"])
        if transition.action == "convert":
            # Local work, once the conversion is committed; should this process
            # die first, the clock drafts it (follow_up.sweep).
            transaction.on_commit(functools.partial(draft_follow_up, request.pk), robust=True)
    if transition.action == "restrict_use" and event.payload.get("kind") == RestrictionKind.DELETE:
        deleted = evidence_files.delete_files(request)
        audit.record(
            Actor(label=f"peer:{peer.node_id}"),
            AuditAction.REQUEST_FILES_DELETED,
            request,
            data={"reference": request.reference, "files": deleted},
        )
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": event.action, "version": request.version},
    )


def receive_action(peer: Peer, body: ActionBody) -> None:
    """The requester asks for one of its steps, or the executing agency for
    an execution step: apply it in order, or say why not."""
    request = _asked_of_owner(peer, body.request_id)
    executing = peer.node_id == request.executing_node
    transition = TRANSITIONS.get(body.action)
    reason = ""
    if executing and body.action not in EXECUTION:
        reason = f"{body.action} is not a step of the executing agency"
    elif (
        transition is None or transition.local or (not executing and transition.side != REQUESTING)
    ):
        reason = f"{body.action} is not a step of the requesting side"
    elif body.actor_role not in transition.roles:
        reason = f"a {body.actor_role} may not take the step {body.action}"
    elif body.base_version != request.version:
        reason = _changed_since(request, body.base_version)
    elif request.state not in transition.sources or request.request_type not in transition.types:
        reason = str(state_message(request, transition))
    else:
        try:
            payload = check_payload(transition, body.payload)
        except SchemaError as exc:
            reason = "; ".join(schema_messages(exc))
    if reason:
        federation.enqueue(
            peer,
            ACTION_REFUSED_KIND,
            ActionRefusedBody(
                request_id=body.request_id, action_id=body.action_id, reason=reason[:TEXT]
            ),
        )
        audit.record(
            Actor(label=f"peer:{peer.node_id}"),
            AuditAction.REQUEST_ACTION_REFUSED,
            request,
            data={
                "reference": request.reference,
                "action": body.action,
                "reason": reason,
                "status": 409,
            },
        )
        return
    assert transition is not None
    event = steps.advance(
        request,
        transition,
        payload,
        transition.side,
        body.actor_name,
        body.actor_role,
        timezone.now(),
    )
    routing.relay(request, event, action_id=body.action_id, asked_by=peer)
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": body.action, "version": request.version},
    )


def _changed_since(request: AssistanceRequest, seen: int) -> str:
    """Why a step asked for at version `seen` is not applied: the request moved
    on (here) since the requesting officer looked at it, so the step is not the
    one they decided on (issue 11: a withdrawal racing an acceptance)."""
    last = request.events.order_by("-version").first()
    step = TRANSITIONS.get(last.action) if last else None
    return _(
        "The request changed since you saw it: you saw version %(seen)s, it is now at "
        "version %(current)s (%(state)s, after “%(step)s”). Look at it again before you "
        "decide."
    ) % {
        "seen": seen,
        "current": request.version,
        "state": request.get_state_display(),
        "step": step.label if step else (last.action if last else "?"),
    }


def receive_action_refused(peer: Peer, body: ActionRefusedBody) -> None:
    request = _owned_by(peer, body.request_id)
    pending = request.pending_actions.filter(pk=body.action_id, outcome="").first()
    if pending is None:
        raise Refusal("unknown_action: this node asked for no such step")
    pending.outcome, pending.refusal = "refused", body.reason
    pending.save(update_fields=["outcome", "refusal"])
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_ACTION_REFUSED,
        request,
        data={
            "reference": request.reference,
            "action": pending.action,
            "reason": body.reason,
            "status": 409,
        },
    )


def _owned_by(peer: Peer, request_id: str) -> AssistanceRequest:
    """A request the peer owns and orders: one this node asked it for, or one
    it assigned this node to execute."""
    mine = Q(outgoing=True) | ~Q(requested_node=this_node().node_id)
    return _locked(Q(pk=request_id, peer=peer) & mine)


def _asked_of_owner(peer: Peer, request_id: str) -> AssistanceRequest:
    """A request this node owns that the peer may ask steps of: the requester,
    or the agency this node assigned its execution to."""
    by = Q(peer=peer) | Q(executing_node=peer.node_id)
    owned = Q(outgoing=False, requested_node=this_node().node_id)
    return _locked(Q(pk=request_id) & owned & by)


def _locked(where: Q) -> AssistanceRequest:
    request = AssistanceRequest.objects.select_for_update().filter(where).first()
    if request is None:
        raise Refusal("unknown_request: no such request shared with this peer")
    return request


def receive_assign(peer: Peer, body: AssignBody) -> None:
    """This node's party's central authority assigns it the execution of a
    request: its replica starts from the shared view (routing.py)."""
    view = body.request
    if not (same_party(peer) and peer.central_authority):
        raise Refusal("wrong_parties: only this party's central authority assigns a request")
    if view.requested_node != peer.node_id or view.executing_node != this_node().node_id:
        raise Refusal("wrong_parties: the request names other nodes")
    if view.events[-1].action != "assign":
        raise Refusal("invalid_request: the history must end with the assignment")
    if AssistanceRequest.objects.filter(pk=view.id).exists():
        raise Refusal("duplicate_request: this request is already here")
    replica.check_timeline(view)
    content, problems = parse_request(view.content)
    if problems:
        raise Refusal("invalid_request: " + "; ".join(problems)[:400])
    request = AssistanceRequest(
        id=uuid.UUID(view.id),
        reference=view.reference,
        requesting_node=view.requesting_node,
        requested_node=peer.node_id,
        peer=peer,
        outgoing=False,
        created_at=datetime.fromisoformat(view.created_at),
        **content_fields(content),
    )
    replica.write_shared(request, view)
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": "assign", "version": request.version},
    )


def settle_refused(sender: Any, peer: Peer, messages: list[Any], **_kwargs: Any) -> None:
    """The partner's node refused an `assistance.action` for its content: the
    step it asked for will never be applied, so it is settled as refused."""
    asked = [m.pk for m in messages if m.kind == ACTION_KIND]
    for pending in PendingAction.objects.filter(message_id__in=asked, outcome="").select_related(
        "message"
    ):
        pending.outcome = "refused"
        pending.refusal = _("The partner's node refused the message: %(reason)s") % {
            "reason": pending.message.refusal_reason if pending.message else "?"
        }
        pending.save(update_fields=["outcome", "refusal"])


messages_refused.connect(settle_refused, dispatch_uid="assistance.settle_refused")


# ---------------------------------------------------------------- registration

kinds.register(SUBMIT_KIND, SubmitBody)(kinds.peer_handler(receive_submit))
kinds.register(TRANSITION_KIND, TransitionBody)(kinds.peer_handler(receive_transition))
kinds.register(ACTION_KIND, ActionBody)(kinds.peer_handler(receive_action))
kinds.register(ACTION_REFUSED_KIND, ActionRefusedBody)(kinds.peer_handler(receive_action_refused))
kinds.register(ASSIGN_KIND, AssignBody)(kinds.peer_handler(receive_assign))
