"""Deadlines from urgency and type (DOMAIN.md, "Deadlines"). Both nodes compute
them from the shared timeline alone, so both replicas show the same due times.

- acknowledge: emergency 1 hour, urgent 1 business day, standard 2 business days,
  counted from submission;
- decide and respond, counted from receipt (the service clock starts there):
  emergency 8 hours for data (informal channel first); standard data orders
  10 days; evidence: decide in 30 days, execute in 90; preservation is itself
  the response and is confirmed quickly; spontaneous information is decided on
  (its conditions accepted or declined) within 7 days.

Which of these clocks a type runs on is in its registry entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accord.assistance.registry import DAY, HOUR, response_times
from accord.assistance.types import Urgency

if TYPE_CHECKING:
    from accord.assistance.models import AssistanceRequest

HOLD_MINIMUM = timedelta(days=60)  # Budapest Art. 29(7): not less than sixty days
THRESHOLDS = (50, 80, 100)


def add_business_days(start: datetime, days: int) -> datetime:
    moment = start
    while days > 0:
        moment += DAY
        if moment.weekday() < 5:
            days -= 1
    return moment


def acknowledge_due(submitted_at: datetime, urgency: str) -> datetime:
    if urgency == Urgency.EMERGENCY:
        return submitted_at + HOUR
    return add_business_days(submitted_at, 1 if urgency == Urgency.URGENT else 2)


def decision_and_response_due(
    received_at: datetime, request_type: str, urgency: str
) -> tuple[datetime, datetime | None]:
    decide, respond = response_times(request_type, urgency)
    return received_at + decide, (received_at + respond if respond else None)


@dataclass(frozen=True)
class Deadline:
    key: str
    label: Promise
    starts_at: datetime
    due_at: datetime
    met_at: datetime | None
    # The side whose officers answer for it (reminders go there).
    owner: str

    def fraction_used(self, now: datetime) -> float:
        total = (self.due_at - self.starts_at).total_seconds()
        end = self.met_at or now
        return 1.0 if total <= 0 else (end - self.starts_at).total_seconds() / total

    def overdue(self, now: datetime) -> bool:
        return self.met_at is None and now > self.due_at

    def time_left(self, now: datetime) -> timedelta:
        return self.due_at - now


def _postponement(r: AssistanceRequest) -> tuple[datetime, datetime] | None:
    """(postponed at, end of the day it was postponed until, UTC) while the
    request is postponed with a date; None otherwise."""
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
    return event.at, datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def deadlines_of(r: AssistanceRequest) -> list[Deadline]:
    found = []
    if r.submitted_at and r.acknowledge_due:
        found.append(
            Deadline(
                "acknowledge",
                _("Acknowledge"),
                r.submitted_at,
                r.acknowledge_due,
                r.received_at,
                "requested",
            )
        )
    if r.received_at and r.decision_due:
        found.append(
            Deadline(
                "decide", _("Decide"), r.received_at, r.decision_due, r.decided_at, "requested"
            )
        )
    if r.received_at and r.response_due:
        found.append(
            Deadline(
                "respond", _("Respond"), r.received_at, r.response_due, r.responded_at, "requested"
            )
        )
    postponed = _postponement(r)
    if postponed is not None:
        # The requested side said when it would take the request up again.
        found.append(
            Deadline(
                "resume", _("Postponement ends"), postponed[0], postponed[1], None, "requested"
            )
        )
    if r.hold_expires and r.responded_at:
        # The requesting side must extend, convert or release before it ends.
        found.append(
            Deadline(
                "hold",
                _("Preservation hold expires"),
                r.responded_at,
                r.hold_expires,
                r.ended_at,
                "requesting",
            )
        )
    return found
