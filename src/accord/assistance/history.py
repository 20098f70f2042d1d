"""A synthetic past for the demo federation (issue 15): months of closed and
refused requests between two nodes, so the dashboard's turnaround charts show
real shapes instead of the seconds the live examples take.

Every request is marked synthetic (the flag every list, page and print shows,
and "SYNTHETIC HISTORY" at the head of its summary), is over (closed or
refused: no step, deadline or reminder can follow), and is the same on both
nodes: the plan is a pure function of the two node ids and the last day, so
each node loads its replica of every request, outgoing on one side and
incoming on the other, with the same id, reference, timeline and milestones.
The deadlines are counted by the same functions as for a live request."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction

from accord.assistance import deadlines
from accord.assistance.machine import REQUESTED, REQUESTING
from accord.assistance.models import AssistanceRequest, RequestEvent, State
from accord.assistance.rules import content_fields, parse_request
from accord.assistance.types import LegalBasis, RequestType, Urgency
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.federation.models import Peer

MARK = "SYNTHETIC HISTORY (demo data). "
ACTOR = "Synthetic history"
NAMESPACE = uuid.UUID("6f1d0c3e-9b1a-4c55-8e7e-2a1f0d5b7c11")
REFUSED_SHARE = 0.12

# The types of the past, with content their registry entries accept.
_OFFENCE = {
    "label": "Online fraud (synthetic)",
    "statute": "Synthetic statute § 1",
    "max_penalty_years": 10,
    "category": "fraud",
}
KINDS: tuple[tuple[RequestType, LegalBasis, dict[str, Any]], ...] = (
    (
        RequestType.DATA_ORDER,
        LegalBasis.BILATERAL,
        {
            "data_category": "subscriber",
            "issuer": "Synthetic court",
            "issuer_is_judicial": True,
            "identifiers": [{"kind": "phone", "value": "+1 202 555 0100"}],
        },
    ),
    (
        RequestType.STORED_DATA,
        LegalBasis.BUDAPEST_31,
        {
            "measure": "disclosure",
            "data_description": "Mailbox of a synthetic account",
            "location": "Example Mail Ltd. (synthetic)",
            "risk_of_loss": False,
        },
    ),
    (
        RequestType.GENERAL_EVIDENCE,
        LegalBasis.BILATERAL,
        {"measures": ["records"], "persons_and_places": "Example Bank (synthetic)"},
    ),
)


@dataclass(frozen=True)
class Past:
    """One past request as both nodes hold it."""

    id: uuid.UUID
    reference: str
    requesting_node: str
    requested_node: str
    kind: int  # index into KINDS
    urgency: str
    submitted_at: datetime
    acknowledge_hours: float
    decide_hours: float
    respond_hours: float
    refused: bool


def plan(pair: tuple[str, str], until: date, months: int = 6, count: int = 60) -> list[Past]:
    """The same list on both nodes: seeded by the pair and the last day.
    Submissions spread evenly over the months, turnaround drawn from skewed
    (log-normal) distributions that shorten as the channel beds in."""
    first, second = sorted(pair)
    rng = random.Random(f"{first}|{second}|{until.isoformat()}|{months}|{count}")  # noqa: S311  # nosec B311
    end = datetime.combine(until, time(9), UTC)
    span = timedelta(days=30 * months)
    made = []
    for n in range(count):
        requester, requested = (first, second) if n % 2 == 0 else (second, first)
        share = n / count
        # Early requests took longer: the factor falls from 1.6 to 0.6.
        pace = 1.6 - share
        submitted = end - span + span * share * 0.85 + timedelta(hours=rng.uniform(0, 48))
        made.append(
            Past(
                id=uuid.uuid5(NAMESPACE, f"{first}|{second}|{n}"),
                reference=f"SYN-{requester.upper()}-{n + 1:04d}",
                requesting_node=requester,
                requested_node=requested,
                kind=n % len(KINDS),
                urgency=Urgency.URGENT if rng.random() < 0.2 else Urgency.STANDARD,
                submitted_at=submitted.replace(microsecond=0),
                acknowledge_hours=pace * rng.lognormvariate(math.log(9), 0.7),
                decide_hours=pace * rng.lognormvariate(math.log(24 * 5), 0.6),
                respond_hours=pace * rng.lognormvariate(math.log(24 * 18), 0.5),
                refused=rng.random() < REFUSED_SHARE,
            )
        )
    return made


def _steps(past: Past) -> list[tuple[str, str, str, str, datetime]]:
    """(action, from, to, side, at) of the whole timeline."""
    at = past.submitted_at
    received = at + timedelta(hours=past.acknowledge_hours)
    decided = received + timedelta(hours=past.decide_hours)
    steps = [
        ("create", "", State.DRAFT, REQUESTING, at - timedelta(days=2)),
        (
            "send_for_validation",
            State.DRAFT,
            State.PENDING_VALIDATION,
            REQUESTING,
            at - timedelta(days=1),
        ),
        (
            "validate",
            State.PENDING_VALIDATION,
            State.VALIDATED,
            REQUESTING,
            at - timedelta(hours=3),
        ),
        ("submit", State.VALIDATED, State.SUBMITTED, REQUESTING, at),
        ("acknowledge", State.SUBMITTED, State.RECEIVED, REQUESTED, received),
        (
            "start_screening",
            State.RECEIVED,
            State.SCREENING,
            REQUESTED,
            received + timedelta(minutes=20),
        ),
    ]
    if past.refused:
        return [*steps, ("refuse", State.SCREENING, State.REFUSED, REQUESTED, decided)]
    responded = received + timedelta(hours=past.decide_hours + past.respond_hours)
    return [
        *steps,
        ("accept", State.SCREENING, State.ACCEPTED, REQUESTED, decided),
        (
            "begin_execution",
            State.ACCEPTED,
            State.IN_EXECUTION,
            REQUESTED,
            decided + timedelta(hours=1),
        ),
        ("respond", State.IN_EXECUTION, State.RESPONDED, REQUESTED, responded),
        ("close", State.RESPONDED, State.CLOSED, REQUESTING, responded + timedelta(days=1)),
    ]


def _payload(action: str) -> dict[str, Any]:
    if action == "refuse":
        return {
            "grounds": [
                {"ground": "essential_interests", "rationale": "Synthetic refusal for the demo."}
            ],
            "comment": "",
        }
    if action == "respond":
        return {"text": "Synthetic response for the demo.", "files": []}
    return {"comment": ""} if action not in ("create", "submit") else {}


def _content(past: Past) -> dict[str, Any]:
    request_type, basis, details = KINDS[past.kind]
    content, problems = parse_request(
        {
            "request_type": request_type,
            "legal_basis": basis,
            "requesting_authority": f"{past.requesting_node} (synthetic)",
            "central_authority": f"{past.requesting_node} central authority (synthetic)",
            "offences": [_OFFENCE],
            "summary": MARK + "A past request, made up so the charts have a history.",
            "purpose": "None: synthetic demo data.",
            "urgency": past.urgency,
            "urgency_reason": "Synthetic." if past.urgency == Urgency.URGENT else "",
            "signer": ACTOR,
            "details": details,
            "synthetic": True,
        }
    )
    if problems:  # the table above must suit the registry
        raise ValueError(f"synthetic history content refused: {problems}")
    return content_fields(content)


def _replica(past: Past, here: str, peer: Peer) -> AssistanceRequest:
    steps = _steps(past)
    at = dict((action, moment) for action, _f, _t, _s, moment in steps)
    request = AssistanceRequest(
        id=past.id,
        reference=past.reference,
        requesting_node=past.requesting_node,
        requested_node=past.requested_node,
        peer=peer,
        outgoing=past.requesting_node == here,
        state=steps[-1][2],
        version=len(steps),
        created_at=at["create"],
        submitted_at=at["submit"],
        received_at=at["acknowledge"],
        decided_at=at.get("accept") or at.get("refuse"),
        responded_at=at.get("respond"),
        ended_at=at.get("close") or at.get("refuse"),
        **_content(past),
    )
    request.acknowledge_due = deadlines.on_submission(request, at["submit"])
    request.decision_due, request.response_due = deadlines.on_receipt(request, at["acknowledge"])
    if request.decided_at and not past.refused:
        request.response_due = deadlines.on_decision(request, request.decided_at)
    if past.refused:
        request.refusal_grounds = _payload("refuse")["grounds"]
    return request


def load(here: str, peer: Peer, until: date, months: int = 6, count: int = 60) -> int:
    """This node's replicas of the pair's synthetic past; those already here
    are left alone, so loading twice changes nothing. Returns how many it added."""
    added = 0
    with transaction.atomic():
        known = set(AssistanceRequest.objects.filter(synthetic=True).values_list("pk", flat=True))
        for past in plan((here, peer.node_id), until, months, count):
            if past.id in known:
                continue
            request = _replica(past, here, peer)
            request.save(force_insert=True)
            RequestEvent.objects.bulk_create(
                RequestEvent(
                    request=request,
                    version=version,
                    action=action,
                    from_state=source,
                    to_state=target,
                    side=side,
                    actor_name=ACTOR,
                    actor_role="synthetic",
                    at=moment,
                    payload=_payload(action),
                )
                for version, (action, source, target, side, moment) in enumerate(
                    _steps(past), start=1
                )
            )
            added += 1
        audit.record(
            Actor.system("history"),
            AuditAction.REQUEST_HISTORY_LOAD,
            target_type="assistance.request",
            target_id=peer.node_id,
            data={"peer": peer.node_id, "until": until.isoformat(), "added": added},
        )
    return added
