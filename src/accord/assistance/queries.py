"""Reading requests: what a user may see, one request (every read audited),
lists with filters, metrics, and the steps still waiting for the partner.
Nothing here changes a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from accord.assistance import casework
from accord.assistance.models import (
    FINAL_STATES,
    AssistanceRequest,
    State,
)
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.roles import Permission
from accord.core.services import require


def visible(user: User, action: str = "view") -> Any:
    # The restriction joins the team: without distinct() a request's author
    # (or a validating prosecutor) would see it once per team member, and
    # open_request's get() would fail with MultipleObjectsReturned.
    return AssistanceRequest.objects.restrict(user, action).distinct()


def readable(user: User | None) -> Q:
    """The requests whose content this user may read: those they may open.
    A list also shows requests they may not open, but only their reference,
    direction, partner, type, urgency, state and deadlines; a search or
    filter on anything else (summary, requesting authority, offences) must
    not match those, or the rows that appear would spell out what the page
    hides (issue 14, finding 3)."""
    if user is None:  # the operator at the shell
        return Q()
    return Q(pk__in=AssistanceRequest.objects.restrict(user, "view").values("pk"))


def open_request(
    actor: Actor, request_id: Any, *, how: str = "read", ip: str = ""
) -> AssistanceRequest:
    """One request, if the actor may see it; every read is audited (issue 4)."""
    require(actor, Permission.VIEW_REQUESTS, what=f"assistance_{how}", ip=ip)
    try:
        request = (
            visible(actor.user).get(pk=request_id)
            if actor.user
            else (AssistanceRequest.objects.get(pk=request_id))
        )
    except (AssistanceRequest.DoesNotExist, ValidationError, ValueError):
        audit.record(
            actor,
            AuditAction.ACCESS_DENIED,
            target_type="assistance.request",
            target_id=str(request_id)[:64],
            data={"what": f"assistance_{how}"},
            ip=ip,
        )
        raise AssistanceRequest.DoesNotExist from None
    exported = how in ("print", "pdf", "file")
    action = AuditAction.REQUEST_EXPORT if exported else AuditAction.REQUEST_READ
    audit.record_read(
        actor, action, request, data={"reference": request.reference, "how": how}, ip=ip
    )
    return request


def waiting_actions(request: AssistanceRequest) -> Any:
    """Requesting-side steps the partner has not yet applied. A step whose
    message the partner's node refused outright will never be applied: it is
    settled as refused when the receipt arrives (`inbound.settle_refused`), and
    never counts as waiting, so it neither blocks later steps nor hides."""
    from accord.federation.models import MessageStatus

    return request.pending_actions.filter(outcome="").exclude(message__status=MessageStatus.REFUSED)


@dataclass(frozen=True)
class Filters:
    direction: str = ""  # incoming / outgoing
    state: str = ""
    request_type: str = ""
    urgency: str = ""
    overdue: bool = False
    topic: str = ""  # an offence category
    search: str = ""
    case: str = ""  # a case reference or id: the requests filed under it


def list_requests(
    actor: Actor, filters: Filters, *, ip: str = "", now: datetime | None = None
) -> Any:
    """The requests the actor may list, filtered. Confidential requests appear
    only for those with need-to-know (AssistanceRequest.restriction)."""
    require(actor, Permission.VIEW_REQUESTS, what="list_requests", ip=ip)
    now = now or timezone.now()
    rows = visible(actor.user, "list") if actor.user else AssistanceRequest.objects.all()
    rows = rows.distinct().select_related("peer")
    if filters.case:
        rows = casework.filed_under(actor.user, rows, filters.case)
    if filters.direction in ("incoming", "outgoing"):
        rows = rows.filter(outgoing=filters.direction == "outgoing")
    if filters.state:
        rows = rows.filter(state=filters.state)
    if filters.request_type:
        rows = rows.filter(request_type=filters.request_type)
    if filters.urgency:
        rows = rows.filter(urgency=filters.urgency)
    if filters.overdue:
        rows = rows.exclude(state__in=FINAL_STATES).filter(overdue_condition(now))
    if filters.search:
        term = filters.search.strip()[:100]
        content = Q(summary__icontains=term) | Q(requesting_authority__icontains=term)
        rows = rows.filter(Q(reference__icontains=term) | (readable(actor.user) & content))
    if filters.topic:
        # JSON containment differs between SQLite and PostgreSQL: filter in Python.
        # Offences are content: only requests the actor may open can match.
        candidates = rows.filter(readable(actor.user))
        ids = [
            r.pk for r in candidates if any(o.get("category") == filters.topic for o in r.offences)
        ]
        rows = rows.filter(pk__in=ids)
    return rows


def overdue_condition(now: datetime) -> Q:
    return (
        Q(submitted_at__isnull=True, confirmation_due__lt=now)
        | Q(received_at__isnull=True, acknowledge_due__lt=now)
        | Q(decided_at__isnull=True, decision_due__lt=now)
        | Q(responded_at__isnull=True, response_due__lt=now)
        | Q(hold_expires__lt=now, state__in=(State.PRESERVED, State.EXTENDED))
    )


def audit_list(actor: Actor, count: int, filters: Filters, ip: str = "") -> None:
    audit.record_read(
        actor,
        AuditAction.REQUEST_LIST,
        target_type="assistance.request",
        data={"count": count, "filters": {k: v for k, v in filters.__dict__.items() if v}},
        ip=ip,
    )


def metrics_for(actor: Actor, *, ip: str = "", now: datetime | None = None) -> dict[str, Any]:
    from accord.assistance.metrics import compute

    require(actor, Permission.VIEW_REQUESTS, what="assistance_metrics", ip=ip)
    rows = visible(actor.user, "list") if actor.user else AssistanceRequest.objects.all()
    return compute(rows.distinct(), now or timezone.now())
