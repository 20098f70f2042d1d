"""JSON API for mutual-assistance requests: the same services, so the same rules
as the pages and the CLI."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from accord.assistance import casework, evidence_files, policy, queries, routing, services, wire
from accord.assistance.deadlines import Deadline, confirmation_of, deadlines_of
from accord.assistance.machine import TRANSITIONS
from accord.assistance.models import AssistanceRequest, Reminder, ScreeningFinding
from accord.assistance.types import (
    STATUTES,
    ConditionKind,
    ContactChannel,
    LegalBasis,
    OffenceCategory,
    RefusalGround,
    RequestType,
    Urgency,
)
from accord.core.apischema import Page
from accord.core.audit import Actor
from accord.core.ijson import SmallCount
from accord.core.models import User
from accord.core.querysets import one_moment
from accord.core.roles import Permission
from accord.core.services import require
from accord.core.signals import client_ip
from accord.federation.models import Peer

router = Router(tags=["assistance"])


class RequestIn(Schema):
    model_config = ConfigDict(extra="forbid")

    peer: str = Field(max_length=100, description="the requested node's id")
    request_type: RequestType
    legal_basis: LegalBasis = Field(description="a basis named after an article fits its type only")
    requesting_authority: str
    central_authority: str
    offences: list[dict[str, Any]]
    summary: str
    purpose: str
    urgency: Urgency = Urgency.STANDARD
    urgency_reason: str = ""
    confidential: bool = False
    confidentiality_reasons: str = ""
    desired_deadline: str | None = None
    language: Literal["en", "zh-hans"] = "en"
    translation: str = ""
    signer: str
    details: dict[str, Any]
    synthetic: bool = False
    first_contact: dict[str, Any] | None = Field(
        default=None,
        description=(
            "emergency only: the informal first contact (at, channel, made_by, reached_name, "
            "reached_function, note); the node sets content.confirmation_due from it"
        ),
    )


class AttachmentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    data_base64: str


class ActionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=40)
    version: SmallCount
    payload: dict[str, Any] = Field(default_factory=dict)
    # Small files only (the JSON body's limit): larger ones go up as evidence
    # items of the request (POST /evidence/requests/{id}/items), streamed.
    attachments: list[AttachmentIn] = Field(
        default_factory=list, max_length=evidence_files.MAX_FILES
    )


class FindingIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ground: str = Field(max_length=40)
    applies: bool
    rationale: str = Field(max_length=10_000)


class MemberIn(Schema):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=150)


class SummaryOut(Schema):
    id: UUID
    reference: str
    direction: str
    partner: str
    request_type: RequestType
    state: str
    urgency: Urgency
    confidential: bool
    version: int
    created_at: datetime
    submitted_at: datetime | None
    next_due: datetime | None
    overdue: bool


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(request.user)  # type: ignore[arg-type]


def summary(row: AssistanceRequest, now: datetime) -> dict[str, Any]:
    open_deadlines = [d for d in deadlines_of(row) if d.met_at is None] if not row.is_final else []
    return {
        "id": row.pk,
        "reference": row.reference,
        "direction": "outgoing" if row.outgoing else "incoming",
        "partner": row.peer.node_id,
        "request_type": row.request_type,
        "state": row.state,
        "urgency": row.urgency,
        "confidential": row.confidential,
        "version": row.version,
        "created_at": row.created_at,
        "submitted_at": row.submitted_at,
        "next_due": min((d.due_at for d in open_deadlines), default=None),
        "overdue": any(d.overdue(now) for d in open_deadlines),
    }


def detail(row: AssistanceRequest, user: Any) -> dict[str, Any]:
    """The shared replica plus what this node alone knows and this user may do."""
    now = timezone.now()
    screening = policy.allowed(user, policy.SEE_FINDINGS, row) is None
    return {
        **wire.shared_view(row),
        "direction": "outgoing" if row.outgoing else "incoming",
        # The executing agency as this node names it ("" until one is assigned).
        "executing_agency": routing.agency_label(row.executing_node) if row.executing_node else "",
        "deadlines": [
            {
                "key": d.key,
                "owner": d.owner,
                "due_at": d.due_at,
                # The due time as the owner reads it, in the owner's zone.
                "owner_time_zone": d.owner_zone,
                "due_at_owner_time": d.due_for_owner().isoformat(),
                "met_at": d.met_at,
                "overdue": d.overdue(now) and not row.is_final,
                "seconds_left": int(d.time_left(now).total_seconds()),
            }
            for d in deadlines_of(row)
        ],
        "confirmation": _confirmation(confirmation_of(row), now, row.is_final),
        "actions": policy.steps_offered(user, row),
        "pending_actions": [
            {"id": str(p.pk), "action": p.action, "outcome": p.outcome, "refusal": p.refusal}
            for p in row.pending_actions.order_by("created_at")
        ],
        "team": sorted(u.username for u in row.team.all()),
        # This node's own filing, shown only to those who may open the case.
        "case": _case(casework.case_seen(user, row)),
        "findings": [
            {
                "ground": f.ground,
                "applies": f.applies,
                "rationale": f.rationale,
                "reviewer": f.reviewer.username if f.reviewer else "",
                "at": f.at,
            }
            for f in row.findings.all()
        ]
        if screening
        else [],
    }


def _case(case: Any) -> dict[str, Any] | None:
    if case is None:
        return None
    return {"id": str(case.pk), "reference": case.reference, "title": case.title}


def _confirmation(deadline: Deadline | None, now: datetime, final: bool) -> dict[str, Any] | None:
    """Where an emergency's written confirmation stands (docs/assistance.md 6.7)."""
    if deadline is None:
        return None
    late = deadline.late_by()
    return {
        "first_contact_at": deadline.starts_at,
        "due_at": deadline.due_at,
        "confirmed_at": deadline.met_at,
        "late_seconds": int(late.total_seconds()) if late else 0,
        "overdue": deadline.overdue(now) and not final,
    }


def _open(request: HttpRequest, request_id: UUID, how: str = "read") -> AssistanceRequest:
    try:
        return queries.open_request(_actor(request), request_id, how=how, ip=client_ip(request))
    except AssistanceRequest.DoesNotExist:
        from django.http import Http404

        raise Http404 from None


@router.get("/assistance/requests", response=list[SummaryOut])
@paginate(Page)
def list_requests(
    request: HttpRequest,
    direction: str = "",
    state: str = "",
    request_type: str = "",
    urgency: str = "",
    overdue: bool = False,
    topic: str = "",
    q: str = "",
    case: str = "",
) -> Any:
    actor = _actor(request)
    filters = queries.Filters(direction, state, request_type, urgency, overdue, topic, q, case)
    rows = list(queries.list_requests(actor, filters, ip=client_ip(request)))
    queries.audit_list(actor, len(rows), filters, client_ip(request))
    now = timezone.now()
    return [summary(row, now) for row in rows]


@router.post("/assistance/requests", response={201: dict[str, Any]})
def create_request(request: HttpRequest, payload: RequestIn) -> Status:
    actor = _actor(request)
    require(actor, Permission.VIEW_REQUESTS, what="create_request", ip=client_ip(request))
    peer = Peer.objects.filter(node_id=payload.peer, active=True).first()
    if peer is None:
        raise ValidationError(f"{payload.peer} is not an active peer of this node.")
    data = payload.model_dump(exclude={"peer"})
    created = services.create_request(actor, peer, data, ip=client_ip(request))
    return Status(201, detail(created, request.user))


@router.get("/assistance/requests/{request_id}", response=dict[str, Any])
def get_request(request: HttpRequest, request_id: UUID) -> dict[str, Any]:
    from accord.assistance.reminders import mark_read

    row = _open(request, request_id)
    mark_read(request.user, row)  # type: ignore[arg-type]
    # The replica and its pending actions as of one commit: a test (or a
    # partner comparing replicas) must never see a step half-way.
    with one_moment():
        row.refresh_from_db()
        return detail(row, request.user)


@router.put("/assistance/requests/{request_id}", response=dict[str, Any])
def update_request(request: HttpRequest, request_id: UUID, payload: RequestIn) -> dict[str, Any]:
    row = _open(request, request_id)
    data = payload.model_dump(exclude={"peer"})
    updated = services.update_draft(_actor(request), row, data, ip=client_ip(request))
    return detail(updated, request.user)


@router.post("/assistance/requests/{request_id}/actions", response=dict[str, Any])
def take_action(request: HttpRequest, request_id: UUID, payload: ActionIn) -> dict[str, Any]:
    row = _open(request, request_id)
    uploads = []
    for attachment in payload.attachments:
        try:
            data = base64.b64decode(attachment.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(f"{attachment.name}: data_base64 is not base64") from None
        uploads.append(
            evidence_files.Upload.of_bytes(attachment.name, attachment.content_type, data)
        )
    updated = services.perform(
        _actor(request),
        row,
        payload.action,
        payload.payload,
        version=payload.version,
        uploads=uploads,
        ip=client_ip(request),
    )
    updated.refresh_from_db()
    return detail(updated, request.user)


class CaseLinkIn(Schema):
    """A case of this node (reference or id) to file the request under; null
    or "" to file it under none."""

    case: str | None = Field(default=None, max_length=100)


@router.post("/assistance/requests/{request_id}/case", response=dict[str, Any])
def file_under_case(request: HttpRequest, request_id: UUID, payload: CaseLinkIn) -> dict[str, Any]:
    row = _open(request, request_id, how="case")
    actor = _actor(request)
    case = casework.find_case(actor, payload.case) if payload.case else None
    updated = services.link_case(actor, row, case, ip=client_ip(request))
    return detail(updated, request.user)


@router.post("/assistance/requests/{request_id}/findings", response={201: dict[str, Any]})
def add_finding(request: HttpRequest, request_id: UUID, payload: FindingIn) -> Status:
    row = _open(request, request_id)
    finding = services.record_finding(
        _actor(request),
        row,
        payload.ground,
        payload.applies,
        payload.rationale,
        ip=client_ip(request),
    )
    return Status(
        201, {"ground": finding.ground, "applies": finding.applies, "rationale": finding.rationale}
    )


@router.post("/assistance/requests/{request_id}/team", response=dict[str, Any])
def add_member(request: HttpRequest, request_id: UUID, payload: MemberIn) -> dict[str, Any]:
    row = _open(request, request_id)
    user = User.objects.filter(username=payload.username, is_active=True).first()
    if user is None:
        raise ValidationError(f"No active user {payload.username}.")
    services.add_member(_actor(request), row, user, ip=client_ip(request))
    return detail(row, request.user)


@router.get("/assistance/requests/{request_id}/files/{sha256}", response={200: None})
def download_file(request: HttpRequest, request_id: UUID, sha256: str) -> HttpResponse:
    """A response file: the bytes of the evidence item that holds it here,
    downloaded as the item (its conditions, custody record and audit)."""
    from accord.evidence import downloads

    row = _open(request, request_id, how="file")
    item = listed_item(row, sha256)
    # Resumable with Range and If-Range, as the item's own download.
    return downloads.serve(request, _actor(request), item, client_ip(request))


def listed_item(row: AssistanceRequest, sha256: str) -> Any:
    """The item holding a listed file; 404 (saying why) when there is none here."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not row.files.filter(sha256=sha256).exists():
        raise Http404(_("The request lists no such file."))
    item = evidence_files.item_for(row, sha256)
    if item is None:
        raise Http404(_("This file has not arrived yet: it is on its way as an evidence item."))
    return item


@router.get("/assistance/metrics", response=dict[str, Any])
def metrics(request: HttpRequest) -> dict[str, Any]:
    return queries.metrics_for(_actor(request), ip=client_ip(request))


@router.get("/assistance/reminders", response=list[dict[str, Any]])
def reminders(request: HttpRequest) -> list[dict[str, Any]]:
    from accord.assistance.reminders import text_of

    require(_actor(request), Permission.VIEW_REQUESTS, what="reminders", ip=client_ip(request))
    rows = Reminder.objects.restrict(request.user).select_related("request", "user")[:200]
    return [
        {
            "request": str(r.request_id),
            "reference": r.request.reference,
            "deadline": r.deadline,
            "threshold": r.threshold,
            "due_at": r.due_at,
            "text": text_of(r),
            "created_at": r.created_at,
            "read_at": r.read_at,
        }
        for r in rows
    ]


@router.get("/assistance/vocabulary", response=dict[str, Any])
def vocabulary(request: HttpRequest) -> dict[str, Any]:
    """Codes and labels for request forms in other tools: types, legal bases,
    urgency, offence categories with their statutes, grounds, conditions, the
    channels of an emergency's first contact, steps."""
    require(_actor(request), Permission.VIEW_REQUESTS, what="vocabulary", ip=client_ip(request))

    def pairs(choices: Any) -> list[dict[str, str]]:
        return [{"code": value, "label": str(label)} for value, label in choices.choices]

    return {
        "types": pairs(RequestType),
        "legal_bases": pairs(LegalBasis),
        "urgencies": pairs(Urgency),
        "grounds": pairs(RefusalGround),
        "condition_kinds": pairs(ConditionKind),
        "contact_channels": pairs(ContactChannel),
        "offence_categories": [
            {**c, "statutes": STATUTES[c["code"]]} for c in pairs(OffenceCategory)
        ],
        "steps": [
            {
                "code": t.action,
                "label": str(t.label),
                "side": t.side,
                "roles": sorted(t.roles),
                "from": sorted(t.sources),
                "to": t.target or "",
                "types": sorted(t.types),
            }
            for t in TRANSITIONS.values()
        ],
        "dual_criminality_finding": ScreeningFinding.DUAL_CRIMINALITY,
    }
