"""Deadlines (DOMAIN.md, "Deadlines" and "Calendars"; docs/assistance.md 6).
The figures are the registry's; this module counts them in the calendar of
the side that must meet the deadline:

- acknowledge, counted from submission: 2 business days of the requested side
  (an emergency: 8 hours);
- decide, counted from receipt, and respond, counted from receipt or, where
  the type's clock says so, from the decision;
- the written confirmation of an emergency's informal first contact, counted
  from that contact: ACCORD_EMERGENCY_CONFIRMATION_HOURS, the requesting
  side's (a figure DOMAIN.md does not give: docs/assistance.md 6.7);
- hours run around the clock; whole days are counted to the same local time
  in the owner's zone; business days skip the owner's weekends, public
  holidays and closed days.

A node knows its own calendar from its settings and its partner's from the
partner's signed identity document (the peer row), so both replicas count
every deadline in the same calendar and hold the same due times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accord.assistance.registry import (
    ACKNOWLEDGE_BUSINESS_DAYS,
    ACKNOWLEDGE_EMERGENCY,
    DAY,
    Start,
    entry,
    response_times,
)
from accord.assistance.types import Urgency
from accord.core import calendars
from accord.core.calendars import Calendar

if TYPE_CHECKING:
    from accord.assistance.models import AssistanceRequest

HOLD_MINIMUM = timedelta(days=60)  # Budapest Art. 29(7): not less than sixty days
THRESHOLDS = (50, 80, 100)
REQUESTING, REQUESTED = "requesting", "requested"
UTC_WEEKDAYS = Calendar()


def add_business_days(start: datetime, days: int, calendar: Calendar = UTC_WEEKDAYS) -> datetime:
    return calendar.add_business_days(start, days)


def add_span(start: datetime, span: timedelta, calendar: Calendar = UTC_WEEKDAYS) -> datetime:
    """Whole days to the same local time in the calendar's zone; anything
    else (hours) around the clock."""
    if span % DAY == timedelta(0):
        return calendar.add_days(start, span // DAY)
    return start + span


def acknowledge_due(
    submitted_at: datetime, urgency: str, calendar: Calendar = UTC_WEEKDAYS
) -> datetime:
    if urgency == Urgency.EMERGENCY:
        return submitted_at + ACKNOWLEDGE_EMERGENCY
    return calendar.add_business_days(submitted_at, ACKNOWLEDGE_BUSINESS_DAYS)


def confirmation_due(first_contact_at: datetime) -> datetime:
    """When the written request must confirm an emergency's informal first
    contact: hours, around the clock. The requesting node counts it when the
    contact is recorded, and the submission carries it to the partner."""
    return first_contact_at + timedelta(hours=settings.EMERGENCY_CONFIRMATION_HOURS)


def first_contact_at(request: AssistanceRequest) -> datetime | None:
    contact = request.first_contact or {}
    return datetime.fromisoformat(contact["at"]) if contact.get("at") else None


def decision_and_response_due(
    received_at: datetime, request_type: str, urgency: str, calendar: Calendar = UTC_WEEKDAYS
) -> tuple[datetime | None, datetime | None]:
    """Due at receipt; the response is None (not yet due) when it runs from
    the decision."""
    decide, respond = response_times(request_type, urgency)
    if entry(request_type).clock.respond_from != Start.RECEIPT:
        respond = None
    return (
        add_span(received_at, decide, calendar) if decide else None,
        add_span(received_at, respond, calendar) if respond else None,
    )


def execution_due(
    decided_at: datetime, request_type: str, urgency: str, calendar: Calendar = UTC_WEEKDAYS
) -> datetime | None:
    """The response deadline of a type whose clock runs it from the decision."""
    if entry(request_type).clock.respond_from != Start.DECISION:
        return None
    respond = response_times(request_type, urgency)[1]
    return add_span(decided_at, respond, calendar) if respond else None


# ------------------------------------------------------------ a request's calendars


def calendar_of(request: AssistanceRequest, side: str) -> Calendar:
    """The calendar of one side of the request: this node's from its settings,
    the partner's as its identity document published it."""
    this_side = REQUESTING if request.outgoing else REQUESTED
    if side == this_side:
        return calendars.here()
    peer = request.peer if request.peer_id else None
    return Calendar.from_document(peer.calendar if peer else None)


def on_submission(request: AssistanceRequest, at: datetime) -> datetime:
    """The acknowledgement deadline: the requested side's."""
    return acknowledge_due(at, request.urgency, calendar_of(request, REQUESTED))


def on_receipt(request: AssistanceRequest, at: datetime) -> tuple[datetime | None, datetime | None]:
    """(decision due, response due) set at receipt: the requested side's."""
    return decision_and_response_due(
        at, request.request_type, request.urgency, calendar_of(request, REQUESTED)
    )


def on_decision(request: AssistanceRequest, at: datetime) -> datetime | None:
    """The response deadline after the first decision (unchanged unless the
    type's response runs from the decision)."""
    due = execution_due(at, request.request_type, request.urgency, calendar_of(request, REQUESTED))
    return due or request.response_due


@dataclass(frozen=True)
class Deadline:
    key: str
    label: Promise
    starts_at: datetime
    due_at: datetime
    met_at: datetime | None
    # The side whose officers answer for it (reminders go there).
    owner: str
    # Read only for the owner's zone, so that lists, metrics and reminders,
    # which never show it, do not load the partner's calendar.
    request: AssistanceRequest | None = field(default=None, repr=False, compare=False)
    # The request ended (refused, withdrawn, closed, lapsed, released): an
    # unmet deadline no longer runs; `ended_at` says since when.
    ended: bool = False
    ended_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.met_at is None and not self.ended

    @property
    def owner_zone(self) -> str:
        if self.request is None:
            return UTC_WEEKDAYS.time_zone
        return calendar_of(self.request, self.owner).time_zone

    @property
    def viewer_zone(self) -> str:
        """This node's zone: its officers read the deadline in it."""
        return calendars.here().time_zone

    def due_for_owner(self) -> datetime:
        return self.due_at.astimezone(calendars.zone(self.owner_zone))

    def fraction_used(self, now: datetime) -> float:
        total = (self.due_at - self.starts_at).total_seconds()
        end = self.met_at or (self.ended_at if self.ended else None) or now
        return 1.0 if total <= 0 else (end - self.starts_at).total_seconds() / total

    def overdue(self, now: datetime) -> bool:
        return self.running and now > self.due_at

    def time_left(self, now: datetime) -> timedelta:
        return self.due_at - now

    def late_by(self) -> timedelta | None:
        """How late it was met; None if it was met in time or is not met yet."""
        if self.met_at is None or self.met_at <= self.due_at:
            return None
        return self.met_at - self.due_at


def _postponement(r: AssistanceRequest) -> tuple[datetime, datetime] | None:
    """(postponed at, end of the day it was postponed until in the requested
    side's zone) while the request is postponed with a date; None otherwise."""
    if r.state != "postponed":
        return None
    event = r.events.filter(action="postpone").order_by("-version").first()
    if event is None:
        return None
    until = (event.payload or {}).get("until")
    if not until:
        return None
    try:
        day = date.fromisoformat(str(until))
    except ValueError:
        return None
    return event.at, calendar_of(r, REQUESTED).end_of_day(day)


def running(r: AssistanceRequest) -> list[Deadline]:
    """The deadlines still running: none once the request has ended (the
    list's next deadline, the detail page's countdowns)."""
    return [d for d in deadlines_of(r) if d.running]


def deadlines_of(r: AssistanceRequest) -> list[Deadline]:
    """Every deadline of the request, met or not, each knowing its owner's
    zone and this node's, and whether the request has ended."""
    ended, ended_at = r.is_final, (r.ended_at if r.is_final else None)
    found = []
    if r.submitted_at and r.acknowledge_due:
        found.append(
            ("acknowledge", _("Acknowledge"), r.submitted_at, r.acknowledge_due, r.received_at)
        )
    if r.received_at and r.decision_due:
        found.append(("decide", _("Decide"), r.received_at, r.decision_due, r.decided_at))
    if r.received_at and r.response_due:
        runs_from = entry(r.request_type).clock.respond_from
        start = r.decided_at if runs_from == Start.DECISION and r.decided_at else r.received_at
        found.append(("respond", _("Respond"), start, r.response_due, r.responded_at))
    postponed = _postponement(r)
    if postponed is not None:
        # The requested side said when it would take the request up again.
        found.append(("resume", _("Postponement ends"), *postponed, None))
    deadlines = [
        Deadline(key, label, start, due, met, REQUESTED, r, ended, ended_at)
        for key, label, start, due, met in found
    ]
    confirmation = confirmation_of(r)
    if confirmation is not None:
        deadlines.insert(0, confirmation)
    if r.hold_expires and r.responded_at:
        # The requesting side must extend, convert or release before it ends.
        deadlines.append(
            Deadline(
                "hold",
                _("Preservation hold expires"),
                r.responded_at,
                r.hold_expires,
                r.ended_at,
                REQUESTING,
                r,
                ended,
                ended_at,
            )
        )
    return deadlines


def confirmation_of(r: AssistanceRequest) -> Deadline | None:
    """The written confirmation of an emergency's informal first contact: the
    requesting side's, met by the submission (docs/assistance.md 6.7)."""
    contacted = first_contact_at(r)
    if contacted is None or r.confirmation_due is None:
        return None
    return Deadline(
        "confirm",
        _("Written confirmation"),
        contacted,
        r.confirmation_due,
        r.submitted_at,
        REQUESTING,
        r,
        ended=r.is_final,
        ended_at=r.ended_at if r.is_final else None,
    )
