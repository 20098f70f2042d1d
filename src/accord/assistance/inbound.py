"""The assistance.* message kinds arriving from a peer (DESIGN.md, federation
protocol): each body is checked against its schema before its handler runs,
and the handlers apply it through the app's public functions: `steps.advance`
for a step, `attachments` for files, `services.create_request` for the
follow-up of a converted preservation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError as SchemaError

from accord.assistance import attachments, deadlines, policy, steps
from accord.assistance.machine import (
    REQUESTING,
    TRANSITIONS,
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
from accord.assistance.services import create_request
from accord.assistance.types import (
    TEXT,
    LegalBasis,
    RequestType,
    RestrictionKind,
)
from accord.assistance.wire import (
    ACTION_KIND,
    ACTION_REFUSED_KIND,
    CHUNK_KIND,
    SUBMIT_KIND,
    TRANSITION_KIND,
    ActionBody,
    ActionRefusedBody,
    ChunkBody,
    EventBody,
    SubmitBody,
    TransitionBody,
    content_of,
    transition_body,
)
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import User
from accord.federation import kinds
from accord.federation import services as federation
from accord.federation.kinds import Refusal
from accord.federation.models import Peer
from accord.federation.signals import messages_refused


def receive_submit(peer: Peer, body: SubmitBody) -> None:
    """A partner's new request arrives (or a re-submission is confirmed)."""
    node = this_node()
    if body.requesting_node != peer.node_id or body.requested_node != node.node_id:
        raise Refusal("wrong_parties: the request names other nodes")
    if AssistanceRequest.objects.filter(pk=body.request_id).exists():
        raise Refusal("duplicate_request: this request is already here")
    content, problems = parse_request(body.content)
    if problems:
        raise Refusal("invalid_request: " + "; ".join(problems)[:400])
    last = body.events[-1]
    if last.get("action") != "submit" or last.get("version") != body.version:
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
        **content_fields(content),
    )
    submitted = datetime.fromisoformat(last["at"])
    request.submitted_at = submitted
    request.acknowledge_due = deadlines.acknowledge_due(submitted, request.urgency)
    request.save(force_insert=True)
    for raw in body.events:
        event = _parse_event(raw)
        RequestEvent.objects.create(request=request, **_event_fields(event))
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": "submit", "version": request.version},
    )


def _parse_event(raw: dict[str, Any]) -> EventBody:
    try:
        return EventBody.model_validate(raw)
    except SchemaError as exc:
        raise Refusal("invalid_event: " + "; ".join(schema_messages(exc))[:400]) from None


def _event_fields(event: EventBody) -> dict[str, Any]:
    fields = event.model_dump()
    fields["at"] = datetime.fromisoformat(event.at)
    return fields


def receive_transition(peer: Peer, body: TransitionBody) -> None:
    """The requested node moved the request on (on its own, or confirming ours)."""
    request = _partner_request(peer, body.request_id, outgoing=True)
    event = body.event
    transition = TRANSITIONS.get(event.action)
    if transition is None or transition.local:
        raise Refusal(f"unknown_step: {event.action}")
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
    if transition.side == REQUESTING:
        if body.action_id:
            pending = request.pending_actions.filter(pk=body.action_id, outcome="").first()
        if pending is None:
            raise Refusal("invalid_step: a requesting-side step this node did not ask for")
    for ref in event.payload.get("files", []):
        attachments.assemble(request, ref)
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
            _follow_up(request, pending.user)
    if transition.action == "restrict_use" and event.payload.get("kind") == RestrictionKind.DELETE:
        deleted = attachments.delete_files(request)
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
    """The requester asks for one of its steps: apply it in order, or say why not."""
    request = _partner_request(peer, body.request_id, outgoing=False)
    request = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
    transition = TRANSITIONS.get(body.action)
    reason = ""
    if transition is None or transition.local or transition.side != REQUESTING:
        reason = f"{body.action} is not a step of the requesting side"
    elif body.actor_role not in transition.roles:
        reason = f"a {body.actor_role} may not take the step {body.action}"
    elif request.state not in transition.sources or request.request_type not in transition.types:
        reason = str(state_message(request, transition))
    else:
        try:
            payload = transition.payload.model_validate(body.payload).model_dump(mode="json")
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
        request, transition, payload, REQUESTING, body.actor_name, body.actor_role, timezone.now()
    )
    federation.enqueue(peer, TRANSITION_KIND, transition_body(request, event, body.action_id))
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": body.action, "version": request.version},
    )


def receive_action_refused(peer: Peer, body: ActionRefusedBody) -> None:
    request = _partner_request(peer, body.request_id, outgoing=True)
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


def _partner_request(peer: Peer, request_id: str, *, outgoing: bool) -> AssistanceRequest:
    request = (
        AssistanceRequest.objects.select_for_update()
        .filter(pk=request_id, peer=peer, outgoing=outgoing)
        .first()
    )
    if request is None:
        raise Refusal("unknown_request: no such request shared with this peer")
    return request


def _follow_up(preservation: AssistanceRequest, user: User | None) -> None:
    """Conversion: the preserved data is now asked for in a full request (a draft
    the investigator completes), linked to the preservation."""
    details = preservation.details
    content = {
        **content_of(preservation),
        "request_type": RequestType.STORED_DATA,
        "legal_basis": (
            LegalBasis.BILATERAL
            if preservation.legal_basis == LegalBasis.BILATERAL
            else LegalBasis.BUDAPEST_31
        ),
        "details": {
            "measure": "disclosure",
            "data_description": details.get("data_to_preserve", ""),
            "location": details.get("custodian", ""),
            "risk_of_loss": True,
        },
    }
    drafts = user is not None and policy.allowed(user, policy.CREATE) is None
    author = user if drafts else preservation.created_by
    actor = Actor.of(author) if author else Actor.system("conversion")
    create_request(actor, preservation.peer, content, follows=preservation)


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
kinds.register(CHUNK_KIND, ChunkBody)(kinds.peer_handler(attachments.store_chunk))
