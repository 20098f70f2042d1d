"""Turnaround metrics that answer "is cooperation faster than treaty channels?"
(six weeks to ten months today): time to acknowledge, to decide and to respond,
median and 90th percentile, by type, urgency and direction; overdue counts;
refusal rate by ground."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from accord.assistance.deadlines import deadlines_of
from accord.assistance.models import FINAL_STATES, AssistanceRequest, State
from accord.assistance.types import RefusalGround, RequestType, Urgency

MEASURES = ("acknowledge", "decide", "respond")


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every value shown was observed)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def durations(request: AssistanceRequest) -> dict[str, float]:
    """Hours from submission to acknowledgement, and from receipt to the
    decision and to the response (the service clock starts at receipt)."""
    found = {}
    if request.submitted_at and request.received_at:
        found["acknowledge"] = (request.received_at - request.submitted_at).total_seconds() / 3600
    if request.received_at and request.decided_at:
        found["decide"] = (request.decided_at - request.received_at).total_seconds() / 3600
    if request.received_at and request.responded_at:
        found["respond"] = (request.responded_at - request.received_at).total_seconds() / 3600
    return found


def _summary(samples: dict[str, list[float]]) -> dict[str, Any]:
    return {
        measure: {
            "count": len(samples.get(measure, [])),
            "median_hours": _round(percentile(samples.get(measure, []), 0.5)),
            "p90_hours": _round(percentile(samples.get(measure, []), 0.9)),
        }
        for measure in MEASURES
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def compute(requests: Iterable[AssistanceRequest], now: datetime) -> dict[str, Any]:
    groups: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    overdue: Counter[str] = Counter()
    decided: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    grounds: Counter[str] = Counter()
    total = 0
    for request in requests:
        if request.submitted_at is None:
            continue  # drafts are not cooperation yet
        total += 1
        direction = "outgoing" if request.outgoing else "incoming"
        for measure, hours in durations(request).items():
            for key in (
                ("all", "", ""),
                ("direction", direction, ""),
                ("type", direction, request.request_type),
                ("urgency", direction, request.urgency),
            ):
                groups[key][measure].append(hours)
        if request.state not in FINAL_STATES and any(d.overdue(now) for d in deadlines_of(request)):
            overdue[direction] += 1
        if request.decided_at:
            decided[direction] += 1
        if request.state == State.REFUSED:
            refused[direction] += 1
            for cited in request.refusal_grounds:
                grounds[cited.get("ground", "")] += 1
    decisions = sum(decided.values())
    return {
        "requests": total,
        "overall": _summary(groups[("all", "", "")]),
        "by_direction": {
            d: _summary(groups[("direction", d, "")]) for d in ("incoming", "outgoing")
        },
        "by_type": [
            {"direction": d, "type": t, **_summary(groups[("type", d, t)])}
            for d in ("incoming", "outgoing")
            for t in RequestType.values
            if ("type", d, t) in groups
        ],
        "by_urgency": [
            {"direction": d, "urgency": u, **_summary(groups[("urgency", d, u)])}
            for d in ("incoming", "outgoing")
            for u in Urgency.values
            if ("urgency", d, u) in groups
        ],
        "overdue": {"incoming": overdue["incoming"], "outgoing": overdue["outgoing"]},
        "decided": decisions,
        "refused": sum(refused.values()),
        "refusal_rate": round(sum(refused.values()) / decisions, 4) if decisions else None,
        "refusals_by_ground": [
            {"ground": g, "count": grounds[g], "rate": round(grounds[g] / decisions, 4)}
            for g in RefusalGround.values
            if grounds[g]
        ],
    }
