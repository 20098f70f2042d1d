"""The assistance.* message kinds and their strict bodies, and the builders
that put a request on the wire. `shared_view` is everything both replicas must
agree on (the tests compare it across nodes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from accord.assistance.machine import Transition
from accord.assistance.models import (
    AssistanceRequest,
    RequestEvent,
)
from accord.assistance.rules import CONTENT_FIELDS, OPTIONAL_CONTENT_FIELDS
from accord.assistance.types import (
    LINE,
    TEXT,
)
from accord.core.ijson import Count, SmallPositive
from accord.core.text import Timestamp
from accord.federation.kinds import StrictBody

SUBMIT_KIND = "assistance.submit"
TRANSITION_KIND = "assistance.transition"
ACTION_KIND = "assistance.action"
ACTION_REFUSED_KIND = "assistance.action-refused"
ASSIGN_KIND = "assistance.assign"


class SubmitBody(StrictBody):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    reference: str = Field(min_length=1, max_length=80)
    requesting_node: str = Field(min_length=1, max_length=100)
    requested_node: str = Field(min_length=1, max_length=100)
    created_at: Timestamp
    version: SmallPositive
    content: dict[str, Any]
    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)
    # The preservation a full request follows (Budapest Art. 29(7): the hold
    # lasts while it is decided). Optional, and left out when there is none, so
    # such a body is what a node that predates it sends and accepts.
    follows: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")

    @model_serializer(mode="wrap")
    def _leave_out_no_link(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = dump(self)
        if data.get("follows") is None:
            data.pop("follows", None)
        return data


class EventBody(StrictBody):
    version: SmallPositive
    action: str = Field(max_length=40)
    from_state: str = Field(max_length=32)
    to_state: str = Field(max_length=32)
    side: str = Field(pattern=r"^(requesting|requested)$")
    actor_name: str = Field(max_length=300)
    actor_role: str = Field(max_length=32)
    at: Timestamp
    payload: dict[str, Any]


class TransitionBody(StrictBody):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    event: EventBody
    action_id: str | None = None


class ActionBody(StrictBody):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    action_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    action: str = Field(max_length=40)
    base_version: SmallPositive
    actor_name: str = Field(max_length=LINE)
    actor_role: str = Field(max_length=32)
    payload: dict[str, Any]


class ActionRefusedBody(StrictBody):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    action_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    reason: str = Field(max_length=TEXT)


class SharedFile(StrictBody):
    version: SmallPositive
    name: str = Field(min_length=1, max_length=255)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: Count


class RequestView(StrictBody):
    """The requested node's copy of a request, as `wire.shared_view` writes it."""

    id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    reference: str = Field(min_length=1, max_length=80)
    requesting_node: str = Field(max_length=100)
    requested_node: str = Field(max_length=100)
    # Left out by a node that predates assignment: "" (none assigned).
    executing_node: str = Field(default="", max_length=100)
    content: dict[str, Any]
    state: str = Field(max_length=32)
    version: SmallPositive
    conditions: list[Any] = Field(max_length=100)
    conditions_accepted: bool
    refusal_grounds: list[Any] = Field(max_length=100)
    restrictions: list[Any] = Field(max_length=1000)
    created_at: Timestamp
    submitted_at: Timestamp | None
    received_at: Timestamp | None
    decided_at: Timestamp | None
    responded_at: Timestamp | None
    ended_at: Timestamp | None
    acknowledge_due: Timestamp | None
    decision_due: Timestamp | None
    response_due: Timestamp | None
    hold_expires: Timestamp | None
    events: list[EventBody] = Field(min_length=1, max_length=1000)
    files: list[SharedFile] = Field(max_length=1000)


class AssignBody(StrictBody):
    """The central authority assigns the execution of a request to another
    agency of its party: the executing agency's replica starts from the
    request's shared view (`shared_view`), the assignment the last event."""

    request: RequestView


def check_payload(transition: Transition, payload: dict[str, Any]) -> dict[str, Any]:
    """A step's payload from the partner, checked against the step's own schema
    as it travels, strictly: JSON types exactly (a number sent as text is
    refused; enum values and timestamps are JSON strings), no unknown field,
    every required one, no NUL. Raises pydantic's ValidationError; returns the
    payload in the form this node's own steps store it."""
    schema = transition.sent or transition.payload
    return schema.model_validate_json(json.dumps(payload), strict=True).model_dump(mode="json")


def event_dict(event: RequestEvent) -> dict[str, Any]:
    return {
        "version": event.version,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "side": event.side,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "at": _iso(event.at),
        "payload": event.payload,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="microseconds") if moment else None


def content_of(request: AssistanceRequest) -> dict[str, Any]:
    content = {key: getattr(request, key) for key in CONTENT_FIELDS}
    if content["desired_deadline"]:
        content["desired_deadline"] = content["desired_deadline"].isoformat()
    content["confirmation_due"] = _iso(content["confirmation_due"])
    for key in OPTIONAL_CONTENT_FIELDS:
        if content[key] is None:
            del content[key]
    return content


def submit_body(request: AssistanceRequest) -> SubmitBody:
    return SubmitBody(
        request_id=str(request.pk),
        reference=request.reference,
        requesting_node=request.requesting_node,
        requested_node=request.requested_node,
        created_at=_iso(request.created_at) or "",
        version=request.version,
        content=content_of(request),
        events=[event_dict(e) for e in request.events.order_by("version")],
        follows=str(request.follows_id) if request.follows_id else None,
    )


def transition_body(
    request: AssistanceRequest, event: RequestEvent, action_id: str | None
) -> TransitionBody:
    return TransitionBody(
        request_id=str(request.pk), event=EventBody(**event_dict(event)), action_id=action_id
    )


def shared_view(request: AssistanceRequest) -> dict[str, Any]:
    """Everything both replicas must agree on (the tests compare it across nodes)."""
    return {
        "id": str(request.pk),
        "reference": request.reference,
        "requesting_node": request.requesting_node,
        "requested_node": request.requested_node,
        "executing_node": request.executing_node,
        "content": content_of(request),
        "state": request.state,
        "version": request.version,
        "conditions": request.conditions,
        "conditions_accepted": request.conditions_accepted,
        "refusal_grounds": request.refusal_grounds,
        "restrictions": request.restrictions,
        **{
            name: _iso(getattr(request, name))
            for name in (
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
        },
        "events": [event_dict(e) for e in request.events.order_by("version")],
        "files": [
            {"version": f.version, "name": f.name, "sha256": f.sha256, "size": f.size}
            for f in request.files.order_by("version", "pk")
        ],
    }
