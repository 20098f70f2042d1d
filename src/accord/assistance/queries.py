"""Reading requests: what a user may see, one request (every read audited),
lists with filters, metrics, and the steps still waiting for the partner.
Nothing here changes a request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, DateTimeField, F, Q, TextField, Value, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from accord.assistance import casework
from accord.assistance.models import (
    FINAL_STATES,
    AssistanceRequest,
    State,
)
from accord.cases import queries as case_queries
from accord.cases.observables import ObservableError, observable_types, parse_observable
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
    rows = visible(actor.user, "list") if actor.user else AssistanceRequest.objects.all()
    return narrow(actor.user, rows.distinct().select_related("peer"), filters, now=now)


def narrow(user: User | None, rows: Any, filters: Filters, *, now: datetime | None = None) -> Any:
    """`rows` (already restricted to what `user` may list) narrowed by the
    filters: the one home of what each filter means, for the API, the
    command line and the pages alike."""
    now = now or timezone.now()
    if filters.case:
        rows = casework.filed_under(user, rows, filters.case)
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
        rows = rows.filter(search_condition(user, rows, filters.search))
    if filters.topic:
        # JSON containment differs between SQLite and PostgreSQL: filter in Python.
        # Offences are content: only requests the actor may open can match.
        candidates = rows.filter(readable(user))
        ids = [
            r.pk for r in candidates if any(o.get("category") == filters.topic for o in r.offences)
        ]
        rows = rows.filter(pk__in=ids)
    return rows


def search_condition(user: User | None, rows: Any, text: str) -> Q:
    """The reference, or (in the requests the user may open) the summary,
    the requesting authority and the type's own fields: an IP address, an
    account, a phone number or a name in the details. The text is also
    normalised as every observable type would normalise it, so
    "+86 138 0013 8000" finds the request whose identifier is stored as
    +8613800138000 and "::ffff:192.0.2.1" the one holding 192.0.2.1."""
    term = text.strip()[:100]
    content = Q(summary__icontains=term) | Q(requesting_authority__icontains=term)
    content |= Q(pk__in=details_matching(rows.filter(readable(user)), term))
    return Q(reference__icontains=term) | (readable(user) & content)


def details_matching(rows: Any, term: str) -> list[Any]:
    """The ids of the rows whose details hold the term, or one of its normal
    forms, in a value (the keys of the stored JSON never match)."""
    forms = search_forms(term)
    # Narrow in the database first: the stored JSON holds each value as JSON
    # text, escaped where it is not ASCII (SQLite) or as it is (PostgreSQL).
    stored = Q()
    for form in forms:
        stored |= Q(details__icontains=form) | Q(details__icontains=json.dumps(form)[1:-1])
    folded = [form.casefold() for form in forms]
    return [
        pk
        for pk, details in rows.filter(stored).values_list("pk", "details")
        if any(form in value for value in _values(details) for form in folded)
    ]


def search_forms(term: str) -> list[str]:
    """The term as typed and as each observable type it parses as writes it
    (its normal form and its display form)."""
    forms = {term}
    for kind in observable_types():
        try:
            parsed = parse_observable(kind.code, term)
        except ObservableError:
            continue
        forms.update((parsed.normal, parsed.display))
    return sorted(form for form in forms if form)


def _values(details: Any) -> Iterator[str]:
    """Every text value in a request's details, case-folded."""
    if isinstance(details, dict):
        for value in details.values():
            yield from _values(value)
    elif isinstance(details, list):
        for value in details:
            yield from _values(value)
    elif isinstance(details, str):
        yield details.casefold()


# Sorts after every real deadline: a request with none pending.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


def with_list_columns(user: User | None, rows: Any) -> Any:
    """The rows with what a list shows beyond the reference, direction,
    partner, type, urgency and state, as far as the user may know it:
    `summary_seen`, the summary of a request they may open (else empty);
    `case_title_seen`, the title of its case when they may open the case
    (else empty); `next_due`, the earliest deadline not yet met of a request
    not yet ended (NO_DEADLINE if none). The pages sort on these, so a hidden
    summary or case title never decides where a row appears."""
    opened_cases = Q() if user is None else Q(case__in=case_queries.visible(user).values("pk"))
    return rows.annotate(
        summary_seen=Case(
            When(readable(user), then=F("summary")), default=Value(""), output_field=TextField()
        ),
        case_title_seen=Case(
            When(opened_cases & Q(case__isnull=False), then=F("case__title")),
            default=Value(""),
            output_field=CharField(),
        ),
        next_due=Case(
            When(state__in=FINAL_STATES, then=Value(NO_DEADLINE)),
            default=Least(*(Coalesce(due, Value(NO_DEADLINE)) for due in _pending_dues())),
            output_field=DateTimeField(),
        ),
    )


def _pending_dues() -> list[Case]:
    """Each deadline column while the milestone that meets it is missing
    (deadlines.deadlines_of, without a postponement's end, which lives in
    the timeline)."""
    pending = (
        ("confirmation_due", Q(submitted_at__isnull=True)),
        ("acknowledge_due", Q(submitted_at__isnull=False, received_at__isnull=True)),
        ("decision_due", Q(received_at__isnull=False, decided_at__isnull=True)),
        ("response_due", Q(received_at__isnull=False, responded_at__isnull=True)),
        ("hold_expires", Q(responded_at__isnull=False, ended_at__isnull=True)),
    )
    return [
        Case(When(condition, then=F(column)), default=None, output_field=DateTimeField())
        for column, condition in pending
    ]


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
        data={"count": count, "filters": _chosen(filters)},
        ip=ip,
    )


def audit_export(actor: Actor, references: list[str], filters: Filters, ip: str = "") -> None:
    """A list written out (CSV) is an export of every request in it: the
    record names each one, as the export of a single request does."""
    audit.record_read(
        actor,
        AuditAction.REQUEST_EXPORT,
        target_type="assistance.request",
        data={
            "how": "csv",
            "count": len(references),
            "filters": _chosen(filters),
            "references": references,
        },
        ip=ip,
    )


def _chosen(filters: Filters) -> dict[str, Any]:
    return {k: v for k, v in filters.__dict__.items() if v}


def metrics_for(actor: Actor, *, ip: str = "", now: datetime | None = None) -> dict[str, Any]:
    from accord.assistance.metrics import compute

    require(actor, Permission.VIEW_REQUESTS, what="assistance_metrics", ip=ip)
    rows = visible(actor.user, "list") if actor.user else AssistanceRequest.objects.all()
    return compute(rows.distinct(), now or timezone.now())
