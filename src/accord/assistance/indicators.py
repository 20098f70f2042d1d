"""The request workflow as a source of dialogue indicators (core.indicators).

Parameters: `categories` (offence categories; empty means every category),
`request_type` (one type, or any), `partner` (a peer's node id: only the
requests exchanged with it; a dialogue's commitments pass their partner).
Requests count in both directions: the
dialogue measures the cooperation, not one side. Only submitted requests count
(a draft is not cooperation yet), and confidential requests never count: the
figures and their monthly series by type and partner are shown to everyone
who follows the dialogue (analysts and administrators too), and a count that
moves tells them a confidential request exists (issue 14, finding 10). Both
nodes leave the same requests out (the flag is shared), so their figures
still agree."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils.translation import gettext_lazy as _

from accord.assistance.metrics import percentile
from accord.assistance.models import AssistanceRequest, State
from accord.assistance.types import RequestType
from accord.core.indicators import Reading, months, register

PARAMS = ("categories", "request_type", "partner")


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, UTC), datetime.combine(end, time.min, UTC) + timedelta(
        days=1
    )


def _requests(params: dict[str, Any]) -> list[AssistanceRequest]:
    rows = AssistanceRequest.objects.exclude(submitted_at=None).filter(confidential=False)
    if params.get("request_type"):
        rows = rows.filter(request_type=params["request_type"])
    if params.get("partner"):
        rows = rows.filter(peer__node_id=params["partner"])
    wanted = set(params.get("categories") or [])
    found = list(rows)
    if wanted:
        found = [r for r in found if any(o.get("category") in wanted for o in r.offences)]
    return found


def _month(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m") if moment else ""


def _in(moment: datetime | None, start: date, end: date) -> bool:
    low, high = _bounds(start, end)
    return moment is not None and low <= moment < high


def _series(
    rows: Iterable[AssistanceRequest],
    start: date,
    end: date,
    when: Callable[[AssistanceRequest], datetime | None],
    value: Callable[[list[AssistanceRequest]], float | None],
) -> list[tuple[str, float | None]]:
    by_month: dict[str, list[AssistanceRequest]] = {m: [] for m in months(start, end)}
    for row in rows:
        moment = when(row)
        if _in(moment, start, end):
            by_month[_month(moment)].append(row)
    return [(m, value(items)) for m, items in by_month.items()]


def _hours(row: AssistanceRequest) -> float:
    assert row.received_at and row.responded_at
    return (row.responded_at - row.received_at).total_seconds() / 3600


@register(
    "assistance.submitted",
    _("Requests submitted"),
    _(
        "Requests submitted between the two nodes in the period, both directions, counted on "
        "the day they were submitted."
    ),
    PARAMS,
)
def submitted(params: dict[str, Any], start: date, end: date) -> Reading:
    rows = [r for r in _requests(params) if _in(r.submitted_at, start, end)]
    return Reading(
        len(rows),
        "count",
        str(_("submitted_at in the period")),
        _series(rows, start, end, lambda r: r.submitted_at, len),
        len(rows),
    )


@register(
    "assistance.answered",
    _("Requests answered"),
    _(
        "Requests that received their full response (or, for preservation, the confirmed hold) "
        "in the period, both directions."
    ),
    PARAMS,
)
def answered(params: dict[str, Any], start: date, end: date) -> Reading:
    rows = [r for r in _requests(params) if _in(r.responded_at, start, end)]
    return Reading(
        len(rows),
        "count",
        str(_("responded_at in the period")),
        _series(rows, start, end, lambda r: r.responded_at, len),
        len(rows),
    )


def _turnaround(fraction: float) -> Callable[[dict[str, Any], date, date], Reading]:
    def compute(params: dict[str, Any], start: date, end: date) -> Reading:
        rows = [r for r in _requests(params) if r.received_at and _in(r.responded_at, start, end)]

        def value(items: list[AssistanceRequest]) -> float | None:
            found = percentile([_hours(r) for r in items], fraction)
            return None if found is None else round(found, 2)

        basis = str(_("hours from receipt to response, requests answered in the period"))
        series = _series(rows, start, end, lambda r: r.responded_at, value)
        return Reading(value(rows), "hours", basis, series, len(rows))

    return compute


register(
    "assistance.turnaround_median",
    _("Median turnaround"),
    _(
        "Median time from receipt (the service clock starts) to the full response, over the "
        "requests answered in the period; nearest-rank."
    ),
    PARAMS,
)(_turnaround(0.5))
register(
    "assistance.turnaround_p90",
    _("90th-percentile turnaround"),
    _(
        "90th percentile (nearest rank) of the time from receipt to the full response, over the "
        "requests answered in the period."
    ),
    PARAMS,
)(_turnaround(0.9))


@register(
    "assistance.locations_completed",
    _("Fugitive-location requests completed"),
    _("Requests to locate a person or fugitive answered in the period, both directions."),
    ("categories",),
)
def locations(params: dict[str, Any], start: date, end: date) -> Reading:
    return answered({**params, "request_type": RequestType.LOCATE_PERSON}, start, end)


@register(
    "assistance.preservation_on_time",
    _("Preservation requests honoured in time"),
    _(
        "Share of the preservation requests decided in the period whose hold was confirmed "
        "before its deadline; a refused or late one counts against."
    ),
    ("categories",),
)
def preservation_on_time(params: dict[str, Any], start: date, end: date) -> Reading:
    rows = [
        r
        for r in _requests({**params, "request_type": RequestType.PRESERVATION})
        if _in(r.decided_at, start, end)
    ]

    def value(items: list[AssistanceRequest]) -> float | None:
        if not items:
            return None
        on_time = [
            r
            for r in items
            if r.responded_at
            and r.response_due
            and r.responded_at <= r.response_due
            and r.state != State.REFUSED
        ]
        return round(100 * len(on_time) / len(items), 1)

    return Reading(
        value(rows),
        "percent",
        str(_("confirmed hold before its response deadline / preservations decided")),
        _series(rows, start, end, lambda r: r.decided_at, value),
        len(rows),
    )
