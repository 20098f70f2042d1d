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
from accord.federation.parties import other_side, party_key

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


def combine(measured: list[Measured]) -> Measured:
    """Several agencies' readings of one indicator as one party's: counts add
    up; a percentage or a number of hours is the mean of theirs weighted by the
    records each rests on (docs/dialogue.md, "Indicators by agency and party")."""
    if len(measured) == 1:
        return measured[0]
    first, readings = measured[0], [m.reading for m in measured]
    total = sum(r.count for r in readings)

    def together(values: list[tuple[float | None, int]]) -> float | None:
        known = [(v, n) for v, n in values if v is not None]
        if not known:
            return None
        if first.reading.unit == "count":
            return float(sum(v for v, _n in known))
        weight = sum(n for _v, n in known)
        if not weight:
            return None
        return round(sum(v * n for v, n in known) / weight, 2)

    months = [month for month, _v in first.reading.series]
    series = [
        (month, together([(dict(r.series).get(month), r.count) for r in readings]))
        for month in months
    ]
    reading = Reading(
        together([(r.value, r.count) for r in readings]),
        first.reading.unit,
        "; ".join(dict.fromkeys(r.basis for r in readings)),
        series,
        total,
    )
    return Measured(
        first.code,
        first.label,
        first.how,
        first.topic,
        first.start,
        first.end,
        reading,
        first.target,
    )


def measured_with(
    link: dict[str, Any], start: date, end: date, nodes: list[str]
) -> Measured | None:
    """One indicator over this node's cooperation with several agencies, combined."""
    found = [m for m in (measure(link, start, end, node) for node in nodes) if m]
    return combine(found) if found else None


def counterparts(item: Commitment) -> list[str]:
    """The agencies a commitment is measured with here: the dialogue's agencies
    of the other party (one partner in a bilateral dialogue)."""
    peers = item.outcome.round.dialogue.peers.all()
    return sorted(p.node_id for p in peers if other_side(p)) or sorted(p.node_id for p in peers)


def commitment_progress(item: Commitment, today: date | None = None) -> list[Measured]:
    """Measured on this node's cooperation with the other party's agencies of
    the dialogue only, combined."""
    start, end = period(today)
    nodes = counterparts(item)
    return [m for m in (measured_with(link, start, end, nodes) for link in item.indicators) if m]


def by_agency_and_party(item: Commitment, today: date | None = None) -> dict[str, Any]:
    """A commitment's indicators per agency of the dialogue (this node's
    cooperation with each) and per party (its agencies combined)."""
    start, end = period(today)
    peers = sorted(item.outcome.round.dialogue.peers.all(), key=lambda p: p.node_id)
    agencies = [
        (
            peer,
            [m for m in (measure(link, start, end, peer.node_id) for link in item.indicators) if m],
        )
        for peer in peers
    ]
    parties: dict[str, tuple[str, list[list[Measured]]]] = {}
    for peer, measured in agencies:
        parties.setdefault(party_key(peer.party), (peer.party, []))[1].append(measured)
    return {
        "agencies": [
            {"node": p.node_id, "agency": p.agency, "party": p.party, "indicators": m}
            for p, m in agencies
        ],
        "parties": [
            {"party": name, "indicators": [combine(list(same)) for same in zip(*rows, strict=True)]}
            for name, rows in parties.values()
        ],
    }


def owner_calendar(item: Commitment) -> Calendar:
    """The calendar of the agency that owns the commitment: this node's from
    its settings, a peer's as its identity document published it."""
    owner = item.outcome.round.dialogue.peers.filter(node_id=item.owner_node).first()
    if owner is not None:
        return Calendar.from_document(owner.calendar)
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
