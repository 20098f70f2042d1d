"""Measured progress: each commitment's linked indicators, computed from the
platform's own data over a stated period (never typed in)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from accord.core import calendars, indicators
from accord.core.calendars import Calendar
from accord.core.indicators import Reading
from accord.dialogue.models import Commitment
from accord.dialogue.types import TOPIC_CATEGORIES, Topic

PERIOD_DAYS = 365


@dataclass(frozen=True)
class Measured:
    code: str
    label: str
    how: str
    topic: str
    start: date
    end: date
    reading: Reading
    target: float | None

    @property
    def progress(self) -> int | None:
        """Percent of the target reached (counts and percentages; for hours,
        lower is better, so reaching the target means staying under it)."""
        value, target = self.reading.value, self.target
        if value is None or not target:
            return None
        if self.reading.unit == "hours":
            return 100 if value <= target else max(0, _whole_percent(target, value))
        return min(100, _whole_percent(value, target))


def _whole_percent(part: float, whole: float) -> int:
    """Rounded down, but not below what decimal arithmetic gives: 33.3 of 90 is
    37 %, though 100 * 33.3 / 90 is 36.99999999999999 in floating point."""
    return math.floor(round(100 * part / whole, 9))


def period(today: date | None = None) -> tuple[date, date]:
    end = today or timezone.now().date()
    return end - timedelta(days=PERIOD_DAYS - 1), end


def params_for(link: dict[str, Any], partner: str = "") -> dict[str, Any]:
    params: dict[str, Any] = {"categories": TOPIC_CATEGORIES.get(link.get("topic") or "", [])}
    if partner:
        params["partner"] = partner
    return params


def measure(link: dict[str, Any], start: date, end: date, partner: str = "") -> Measured | None:
    """One indicator over the period; with `partner` (a node id), only what
    this node did with that partner, else with every partner."""
    indicator = indicators.get(link.get("code", ""))
    if indicator is None:
        return None  # a source not installed on this node
    reading = indicator.compute(params_for(link, partner), start, end)
    topic = link.get("topic") or ""
    return Measured(
        indicator.code,
        str(indicator.label),
        str(indicator.how),
        str(dict(Topic.choices).get(topic, "")),
        start,
        end,
        reading,
        link.get("target"),
    )


def commitment_progress(item: Commitment, today: date | None = None) -> list[Measured]:
    """Measured on the cooperation with the dialogue's partner only."""
    start, end = period(today)
    partner = item.outcome.round.dialogue.peer.node_id
    return [m for m in (measure(link, start, end, partner) for link in item.indicators) if m]


def owner_calendar(item: Commitment) -> Calendar:
    """The calendar of the side that owes the commitment: this node's from its
    settings, the partner's as its identity document published it."""
    peer = item.outcome.round.dialogue.peer
    if item.owner_node == peer.node_id:
        return Calendar.from_document(peer.calendar)
    return calendars.here()


def due_at(item: Commitment) -> datetime:
    """A commitment is due by the end of its due date where its owner works."""
    return owner_calendar(item).end_of_day(item.due_date)


def is_overdue(item: Commitment, now: datetime | None = None) -> bool:
    """Open past the end of its due date in the owner's calendar: a Beijing
    commitment due on 5 December is overdue from 6 December 00:00 in Beijing
    (16:00 UTC on the 5th), a New York one from 05:00 UTC on the 6th."""
    return item.status in ("open", "in_progress") and due_at(item) < (now or timezone.now())


def targets_met(measured: list[Measured]) -> bool:
    """Every indicator given a target has reached it (and at least one has one)."""
    with_target = [m for m in measured if m.target]
    return bool(with_target) and all(m.progress == 100 for m in with_target)


def standing(item: Commitment, measured: list[Measured], now: datetime | None = None) -> str:
    """What the page says of an open commitment, agreeing with its indicators:
    "met" when its targets are reached (proposed to its owner as done, never
    shown overdue), "overdue" when open past its due date, else ""."""
    if item.status not in ("open", "in_progress"):
        return ""
    if targets_met(measured):
        return "met"
    return "overdue" if is_overdue(item, now) else ""
