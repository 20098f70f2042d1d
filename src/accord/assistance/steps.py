"""What a step changes on a replica. Both nodes apply a step through
`advance`, so both replicas move through the same versions with the same
effects: the requested node when it takes or confirms a step, the requesting
node when the confirmation arrives."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from accord.assistance import deadlines
from accord.assistance.machine import (
    DECISIONS,
    Transition,
)
from accord.assistance.models import (
    FINAL_STATES,
    AssistanceRequest,
    RequestEvent,
    ResponseFile,
)
from accord.assistance.rules import actor_name, actor_role
from accord.core.audit import Actor


def advance(
    request: AssistanceRequest,
    transition: Transition,
    payload: dict[str, Any],
    side: str,
    name: str,
    role: str,
    at: datetime,
) -> RequestEvent:
    """Move the (locked) request one version on and apply the step's effects."""
    from_state = request.state
    request.state = transition.leaves(from_state)
    request.version += 1
    _effects(request, transition.action, payload, at)
    request.save()
    return write_event(
        request,
        transition.action,
        from_state,
        request.state,
        side,
        None,
        at,
        payload,
        name=name,
        role=role,
    )


def write_event(
    request: AssistanceRequest,
    action: str,
    from_state: str,
    to_state: str,
    side: str,
    actor: Actor | None,
    at: datetime,
    payload: dict[str, Any],
    *,
    name: str = "",
    role: str = "",
) -> RequestEvent:
    return RequestEvent.objects.create(
        request=request,
        version=request.version,
        action=action,
        from_state=from_state,
        to_state=to_state,
        side=side,
        actor_name=(actor_name(actor) if actor else name)[:300],
        actor_role=actor_role(actor) if actor else role,
        at=at,
        payload=payload,
    )


def _stop_the_clock(request: AssistanceRequest, answered_at: datetime) -> None:
    """The time the requested side waited for the information it asked for
    does not count against it: its open deadlines move by that much. Both
    replicas compute it from the same timeline."""
    asked_at = (
        request.events.filter(action="request_information")
        .order_by("-version")
        .values_list("at", flat=True)
        .first()
    )
    if asked_at is None or answered_at <= asked_at:
        return
    waited = answered_at - asked_at
    if request.decided_at is None and request.decision_due:
        request.decision_due += waited
    if request.responded_at is None and request.response_due:
        request.response_due += waited


def _effects(
    request: AssistanceRequest, action: str, payload: dict[str, Any], at: datetime
) -> None:
    """What a step changes beyond the state; the same on both replicas."""
    if action == "submit" and request.submitted_at is None:
        request.submitted_at = at
        request.acknowledge_due = deadlines.on_submission(request, at)
    elif action == "acknowledge" and request.received_at is None:
        request.received_at = at
        request.decision_due, request.response_due = deadlines.on_receipt(request, at)
    elif action == "provide_information":
        _stop_the_clock(request, at)
    if action in DECISIONS and request.decided_at is None:
        request.decided_at = at
        request.response_due = deadlines.on_decision(request, at)
    if action == "accept_with_conditions":
        request.conditions, request.conditions_accepted = payload["conditions"], False
    elif action == "accept_conditions":
        request.conditions_accepted = True
    elif action == "accept_information":
        request.conditions = request.details.get("conditions", [])
        request.conditions_accepted = True
    elif action == "refuse":
        request.refusal_grounds = payload["grounds"]
    elif action == "assign":
        request.executing_node = payload["node"]
    elif action == "respond":
        request.responded_at = at
    elif action == "preserve":
        request.responded_at = at
        request.hold_expires = datetime.fromisoformat(payload["expires_at"])
    elif action == "extend" and request.hold_expires:
        request.hold_expires = request.hold_expires + timedelta(days=payload["days"])
    elif action == "restrict_use":
        request.restrictions = [*request.restrictions, {**payload, "at": at.isoformat()}]
    if request.state in FINAL_STATES and request.ended_at is None:
        request.ended_at = at
    for ref in payload.get("files", []):
        ResponseFile.objects.create(request=request, version=request.version, **ref)
