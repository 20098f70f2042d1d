"""What waits for a user (issue 15): the entries of the dashboard's inbox, the
count in the navigation and `GET /api/v1/waiting`, computed in one place.

Every entry is derived from the current state with a query, never kept in a
list of its own: an entry is there while the thing waits and gone as soon as
someone acts on it, and it cannot drift. Each source reads through the same
restricted querysets as the lists (`restrict(user)`, assistance's
`visible`), so an entry never names something its user may not see; and a
request step is offered to the roles the state machine gives it to."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accord.core.models import User
from accord.core.roles import Permission, Role

# A deadline waits for its officers once this share of its time is used
# (the second reminder threshold, DOMAIN.md).
DEADLINE_SHARE = 0.8
# How many entries of one kind a page or the API lists (the count is exact).
LIST_LIMIT = 50


class Kind(StrEnum):
    """The kinds of entry (their values name them in the API)."""

    DEADLINE = "deadline"
    NEW_REQUEST = "new_request"
    VALIDATION = "validation"
    SUBMISSION = "submission"
    QUESTIONS = "questions"
    CONSULTATION = "consultation"
    CONDITIONS = "conditions"
    SIGNATURE = "signature"
    MATCHING_APPROVAL = "matching_approval"
    HIT = "hit"
    NOTE = "note"


LABELS = {
    Kind.DEADLINE: gettext_lazy("Deadline at 80 % or past"),
    Kind.NEW_REQUEST: gettext_lazy("New incoming request"),
    Kind.VALIDATION: gettext_lazy("Request awaiting your validation"),
    Kind.SUBMISSION: gettext_lazy("Validated request to submit"),
    Kind.QUESTIONS: gettext_lazy("The partner asked questions"),
    Kind.CONSULTATION: gettext_lazy("The partner consults you before deciding"),
    Kind.CONDITIONS: gettext_lazy("Conditions to accept"),
    Kind.SIGNATURE: gettext_lazy("Outcome awaiting this node's signature"),
    Kind.MATCHING_APPROVAL: gettext_lazy("Partner's hit/no-hit check awaiting approval"),
    Kind.HIT: gettext_lazy("Hit on your case"),
    Kind.NOTE: gettext_lazy("Unread note"),
}


@dataclass(frozen=True)
class Entry:
    kind: Kind
    title: str
    detail: str
    url: str
    since: datetime | None

    @property
    def label(self) -> str:
        return str(LABELS[self.kind])


@dataclass(frozen=True)
class Source:
    """One kind of entry: who it concerns, the rows that wait, and an entry per row."""

    kind: Kind
    concerns: Callable[[User], bool]
    rows: Callable[[User, datetime], Any]  # a queryset, or a list when computed
    entry: Callable[[Any], Entry]

    def count(self, user: User, now: datetime) -> int:
        rows = self.rows(user, now)
        return len(rows) if isinstance(rows, list) else int(rows.count())

    def entries(self, user: User, now: datetime) -> list[Entry]:
        return [self.entry(row) for row in self.rows(user, now)[:LIST_LIMIT]]


# ---------------------------------------------------------------- requests

# The steps that make a request wait for someone on this node, by kind. The
# side, the roles, the states and the types come from the state machine.
REQUEST_STEPS: dict[Kind, tuple[str, ...]] = {
    Kind.NEW_REQUEST: ("acknowledge", "start_screening", "accept_information"),
    Kind.VALIDATION: ("validate",),
    Kind.SUBMISSION: ("submit",),
    Kind.QUESTIONS: ("provide_information",),
    Kind.CONDITIONS: ("accept_conditions",),
    Kind.CONSULTATION: ("reply",),
}
# `reply` also answers about conditions: those wait as CONDITIONS already.
ONLY_IN = {"reply": "consultation"}


def _step_condition(user: User, steps: Iterable[str]) -> Q | None:
    from accord.assistance.machine import REQUESTING, TRANSITIONS

    found = None
    for action in steps:
        step = TRANSITIONS[action]
        if user.role not in step.roles:
            continue
        sources = [ONLY_IN[action]] if action in ONLY_IN else list(step.sources)
        here = Q(
            outgoing=step.side == REQUESTING, state__in=sources, request_type__in=list(step.types)
        )
        found = here if found is None else found | here
    return found


def _request_rows(kind: Kind) -> Callable[[User, datetime], Any]:
    def rows(user: User, now: datetime) -> Any:
        from accord.assistance.models import AssistanceRequest, PendingAction
        from accord.assistance.queries import visible
        from accord.federation.models import MessageStatus

        condition = _step_condition(user, REQUEST_STEPS[kind])
        if condition is None:
            return AssistanceRequest.objects.none()
        # A step already taken here waits for the partner, not for the user.
        answered = PendingAction.objects.filter(request=OuterRef("pk"), outcome="").exclude(
            message__status=MessageStatus.REFUSED
        )
        waiting = visible(user).filter(condition).exclude(Exists(answered))
        since = Coalesce("received_at", "submitted_at", "created_at")
        return waiting.select_related("peer").order_by(since)

    return rows


def _request_entry(kind: Kind) -> Callable[[Any], Entry]:
    def entry(request: Any) -> Entry:
        return Entry(
            kind,
            request.reference,
            _request_detail(request),
            reverse("assistance:detail", args=[request.pk]),
            request.received_at or request.submitted_at or request.created_at,
        )

    return entry


def _request_detail(request: Any) -> str:
    return _("%(type)s · %(partner)s · %(state)s") % {
        "type": request.get_request_type_display(),
        "partner": request.peer.node_id,
        "state": request.get_state_display(),
    }


def _may_work_on_requests(user: User) -> bool:
    return user.has_permission(Permission.VIEW_REQUESTS)


def _deadline_rows(user: User, now: datetime) -> list[tuple[Any, Any]]:
    """(request, deadline) for each open request this user answers for (the
    central authority and the request's team, as the reminders go) whose
    deadline on this node's side has used DEADLINE_SHARE of its time."""
    from accord.assistance.deadlines import deadlines_of
    from accord.assistance.models import FINAL_STATES
    from accord.assistance.queries import visible

    rows = visible(user).exclude(state__in=FINAL_STATES)
    rows = rows.filter(Q(submitted_at__isnull=False) | Q(confirmation_due__isnull=False))
    if user.role != Role.CENTRAL_AUTHORITY:
        rows = rows.filter(team=user)
    found = []
    for request in rows.select_related("peer"):
        side = "requesting" if request.outgoing else "requested"
        pressing = [
            d
            for d in deadlines_of(request)
            if d.owner == side and d.met_at is None and d.fraction_used(now) >= DEADLINE_SHARE
        ]
        if pressing:
            found.append((request, min(pressing, key=lambda d: d.due_at)))
    return sorted(found, key=lambda pair: pair[1].due_at)


def _deadline_entry(pair: tuple[Any, Any]) -> Entry:
    request, deadline = pair
    now = timezone.now()
    if deadline.overdue(now):
        text = _("“%(what)s” was due %(due)s UTC: overdue")
    else:
        text = _("“%(what)s” is due %(due)s UTC")
    detail = text % {"what": deadline.label, "due": deadline.due_at.strftime("%Y-%m-%d %H:%M")}
    return Entry(
        Kind.DEADLINE,
        request.reference,
        detail,
        reverse("assistance:detail", args=[request.pk]),
        deadline.due_at,
    )


# ---------------------------------------------------------------- the rest


def _signature_rows(user: User, now: datetime) -> Any:
    from accord.core.identity import this_node
    from accord.dialogue.models import Outcome, OutcomeSignature, OutcomeVersion

    latest = OutcomeVersion.objects.filter(outcome=OuterRef("pk")).order_by("-version")
    signed = OutcomeSignature.objects.filter(
        version=OuterRef("latest_version"), node=this_node().node_id
    )
    outcomes = Outcome.objects.restrict(user).annotate(
        latest_version=Subquery(latest.values("pk")[:1]),
        latest_at=Subquery(latest.values("created_at")[:1]),
    )
    waiting = outcomes.exclude(latest_version=None).exclude(Exists(signed))
    return waiting.select_related("round", "round__dialogue").order_by("latest_at")


def _signature_entry(outcome: Any) -> Entry:
    round_ = outcome.round
    return Entry(
        Kind.SIGNATURE,
        outcome.get_topic_display(),
        _("%(dialogue)s, round %(number)s")
        % {"dialogue": round_.dialogue, "number": round_.number},
        reverse("dialogue:detail", args=[round_.dialogue_id]),
        outcome.latest_at,
    )


def _approval_rows(user: User, now: datetime) -> Any:
    from accord.matching.models import Direction, Query, QueryStatus

    asked = Query.objects.restrict(user).filter(
        direction=Direction.IN, status=QueryStatus.AWAITING_APPROVAL
    )
    return asked.select_related("peer").order_by("created_at")


def _approval_entry(query: Any) -> Entry:
    return Entry(
        Kind.MATCHING_APPROVAL,
        query.peer.node_id,
        _("%(count)s values of type %(type)s") % {"count": query.count, "type": query.code},
        reverse("matching:home"),
        query.created_at,
    )


def _hit_rows(user: User, now: datetime) -> Any:
    """Hits on the cases the user works on (team or author) that no one has
    yet turned into a request for the details (Prüm's second step)."""
    from accord.cases.models import Case
    from accord.matching.models import Hit

    mine = Case.objects.restrict(user).filter(Q(team=user) | Q(created_by=user))
    hits = Hit.objects.restrict(user).filter(request=None, query__case__in=mine.values("pk"))
    return hits.select_related("query", "query__case", "query__peer").order_by("created_at")


def _hit_entry(hit: Any) -> Entry:
    case = hit.query.case
    return Entry(
        Kind.HIT,
        case.reference,
        _("%(peer)s also holds a value of type %(type)s")
        % {"peer": hit.query.peer.node_id, "type": hit.query.code},
        reverse("cases:detail", args=[case.pk]),
        hit.created_at,
    )


def _note_rows(user: User, now: datetime) -> Any:
    from accord.federation.notes import unread

    return unread(user).select_related("peer").order_by("created_at")


def _note_entry(note: Any) -> Entry:
    return Entry(
        Kind.NOTE,
        note.subject,
        _("from %(author)s (%(peer)s)") % {"author": note.author_name, "peer": note.peer.node_id},
        # Its conversation: opening it is reading it.
        reverse("federation:note-thread", args=[note.thread_id])
        if note.thread_id
        else reverse("federation:notes"),
        note.created_at,
    )


def _holds(permission: Permission) -> Callable[[User], bool]:
    return lambda user: user.has_permission(permission)


SOURCES: tuple[Source, ...] = (
    Source(Kind.DEADLINE, _may_work_on_requests, _deadline_rows, _deadline_entry),
    *(
        Source(kind, _may_work_on_requests, _request_rows(kind), _request_entry(kind))
        for kind in REQUEST_STEPS
    ),
    Source(Kind.SIGNATURE, _holds(Permission.SIGN_OUTCOMES), _signature_rows, _signature_entry),
    Source(
        Kind.MATCHING_APPROVAL,
        _holds(Permission.MANAGE_MATCHING),
        _approval_rows,
        _approval_entry,
    ),
    Source(Kind.HIT, _holds(Permission.RUN_MATCHING), _hit_rows, _hit_entry),
    Source(Kind.NOTE, _holds(Permission.EXCHANGE_NOTES), _note_rows, _note_entry),
)


def _sources_for(user: User) -> list[Source]:
    if not user.is_active:
        return []
    return [source for source in SOURCES if source.concerns(user)]


def entries(user: User, now: datetime | None = None) -> list[Entry]:
    """Everything waiting for the user, grouped by kind (the order of SOURCES)."""
    now = now or timezone.now()
    return [entry for source in _sources_for(user) for entry in source.entries(user, now)]


def counts(user: User, now: datetime | None = None) -> dict[str, int]:
    """How many entries of each kind wait (kinds with none left out): counts,
    not rows, so the navigation can ask on every page."""
    now = now or timezone.now()
    found: dict[Kind, int] = {source.kind: source.count(user, now) for source in _sources_for(user)}
    return {kind.value: n for kind, n in found.items() if n}


# The attribute a page's request keeps its user's count in.
_CACHED = "_accord_waiting_count"


def count_for(request: Any) -> int:
    """The navigation's count, computed once per request."""
    cached = getattr(request, _CACHED, None)
    if cached is None:
        user = request.user
        cached = sum(counts(user).values()) if isinstance(user, User) else 0
        setattr(request, _CACHED, cached)
    return int(cached)


def inbox(request: Any) -> tuple[list[Entry], dict[str, int]]:
    """The dashboard's entries and counts; the navigation on the same page
    reuses the counts instead of asking again."""
    user = request.user
    found, per_kind = entries(user), counts(user)
    setattr(request, _CACHED, sum(per_kind.values()))
    return found, per_kind
