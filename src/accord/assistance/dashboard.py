"""The dashboard's request panel: turnaround charts against the treaty-channel
baseline, overdue counts, refusals by ground and the user's reminders."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accord.assistance import queries
from accord.assistance.models import AssistanceRequest, Reminder
from accord.assistance.reminders import text_of
from accord.assistance.types import RefusalGround, RequestType
from accord.core.audit import Actor

# DOMAIN.md: treaty channels take six weeks to ten months today.
TREATY_BASELINE_HOURS = 6 * 7 * 24


# Fewer measurements than this make no median worth a bar: the chart says
# "not enough data yet" instead of drawing one request as a trend.
MIN_SAMPLES = 3

Row = tuple[str, int, float | None, float | None]  # label, count, median, p90


def hours_text(hours: float | None) -> str:
    if hours is None:
        return "—"
    if hours < 1:
        # Minutes, not "0.0 h": a fast acknowledgement is fast, not nothing.
        minutes = round(hours * 60)
        return _("%(n)s min") % {"n": minutes} if minutes else _("under a minute")
    if hours < 48:
        return _("%(n)s h") % {"n": round(hours, 1)}
    return _("%(n)s d") % {"n": round(hours / 24, 1)}


def _bars(rows: list[Row]) -> list[dict[str, Any]]:
    shown = [row for row in rows if row[1] >= MIN_SAMPLES]
    scale = max([TREATY_BASELINE_HOURS] + [p or 0 for _l, _n, _m, p in shown]) or 1
    return [
        {
            "label": label,
            "count": count,
            "enough": count >= MIN_SAMPLES,
            "median": hours_text(median),
            "p90": hours_text(p90),
            "width": round(100 * (median or 0) / scale, 1) if count >= MIN_SAMPLES else 0,
            "p90_width": round(100 * (p90 or 0) / scale, 1) if count >= MIN_SAMPLES else 0,
        }
        for label, count, median, p90 in rows
    ]


def panel(actor: Actor) -> dict[str, Any]:
    data = queries.metrics_for(actor)
    labels = dict(RequestType.choices)
    stages = []
    measures = (
        ("acknowledge", _("acknowledge")),
        ("decide", _("decide")),
        ("respond", _("respond")),
    )
    for direction, label in (("incoming", _("Incoming")), ("outgoing", _("Outgoing"))):
        summary = data["by_direction"][direction]
        for measure, measure_label in measures:
            cell = summary[measure]
            if cell["count"]:
                name = _("%(direction)s: %(stage)s") % {"direction": label, "stage": measure_label}
                stages.append((name, cell["count"], cell["median_hours"], cell["p90_hours"]))
    by_type = []
    for row in data["by_type"]:
        if row["respond"]["count"]:
            kind = labels.get(row["type"], row["type"])
            if row["direction"] == "incoming":
                name = _("%(type)s (incoming)") % {"type": kind}
            else:
                name = _("%(type)s (outgoing)") % {"type": kind}
            respond = row["respond"]
            by_type.append((name, respond["count"], respond["median_hours"], respond["p90_hours"]))
    grounds = dict(RefusalGround.choices)
    reminders = (
        Reminder.objects.restrict(actor.user)
        .filter(read_at=None)
        .select_related("request", "user")[:8]
    )
    stage_bars = _bars(stages)
    listed = queries.visible(actor.user, "list") if actor.user else AssistanceRequest.objects.all()
    synthetic = listed.filter(synthetic=True).exclude(submitted_at=None).count()
    return {
        "metrics": data,
        "stage_bars": stage_bars,
        "type_bars": _bars(by_type),
        "enough_data": any(bar["enough"] for bar in stage_bars),
        "min_samples": MIN_SAMPLES,
        # Demo and training data count like any other: say so beside the charts.
        "synthetic": synthetic,
        "baseline": hours_text(TREATY_BASELINE_HOURS),
        "refusals": [
            {
                "label": grounds.get(row["ground"], row["ground"]),
                "count": row["count"],
                "width": round(100 * row["rate"], 1),
            }
            for row in data["refusals_by_ground"]
        ],
        "reminders": [(r, text_of(r)) for r in reminders],
    }
