"""Hit/no-hit as a source of dialogue indicators (core.indicators): queries
this node asked, their hits, and the hits followed up with a request.

Parameters: `partner` (a peer's node id: only the queries asked of it; a
dialogue's commitments pass their partner) and `categories` (offence
categories; a query counts if its case has one of them; empty: any case).
Only what this node asked counts: an incoming query has no case here, and
the partner counts its own. Queries of confidential cases never count: the
figures are shown to everyone who follows the dialogue, and a confidential
case stays out of every count for those outside its team."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from accord.core.indicators import Reading, months, register
from accord.matching.models import Direction, Hit, Query

PARAMS = ("categories", "partner")


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    low = datetime.combine(start, time.min, UTC)
    return low, datetime.combine(end, time.min, UTC) + timedelta(days=1)


def _queries(params: dict[str, Any], start: date, end: date) -> list[Query]:
    low, high = _bounds(start, end)
    rows: QuerySet[Query] = Query.objects.filter(
        direction=Direction.OUT,
        case__isnull=False,
        case__confidential=False,
        created_at__gte=low,
        created_at__lt=high,
        # A query refused for its padding and asked again at once counts once,
        # as the query that replaced it (docs/matching.md 3.2).
        asked_again__isnull=True,
    ).select_related("case")
    if params.get("partner"):
        rows = rows.filter(peer__node_id=params["partner"])
    wanted = set(params.get("categories") or [])
    found = list(rows)
    if wanted:
        found = [q for q in found if q.case and wanted & set(q.case.categories)]
    return found


def _hits(params: dict[str, Any], start: date, end: date) -> list[Hit]:
    """The hits of the counted queries, by the day the query was asked (an
    answer may come a day later; the hit belongs to the query's period)."""
    asked = {q.pk: q for q in _queries(params, start, end)}
    rows = list(Hit.objects.filter(query_id__in=asked).order_by("pk"))
    for hit in rows:
        hit.query = asked[hit.query_id]  # the loaded query, not a query per hit
    return rows


def _followed_up(hits: list[Hit]) -> list[Hit]:
    """The hits whose "Request details" draft (or the request it became) still
    exists: `Hit.request`, set by services.request_details, is emptied when
    the request is deleted. A confidential request does not count, as in the
    request indicators: the figure would tell that it exists."""
    linked = Hit.objects.filter(pk__in=[h.pk for h in hits], request__confidential=False)
    shown = set(linked.values_list("pk", flat=True))
    return [h for h in hits if h.pk in shown]


def _series(
    rows: Iterable[Any], start: date, end: date, when: Callable[[Any], datetime]
) -> list[tuple[str, float | None]]:
    counts = dict.fromkeys(months(start, end), 0)
    for row in rows:
        counts[when(row).astimezone(UTC).strftime("%Y-%m")] += 1
    return [(month, float(count)) for month, count in counts.items()]


def _count(rows: list[Any], start: date, end: date, basis: str, when: Callable) -> Reading:
    return Reading(len(rows), "count", basis, _series(rows, start, end, when), len(rows))


@register(
    "matching.queries",
    _("Hit/no-hit queries asked"),
    _(
        "Hit/no-hit queries this node asked the partner in the period, one per case and "
        "observable type, counted on the day they were asked; confidential cases left out."
    ),
    PARAMS,
)
def queries_asked(params: dict[str, Any], start: date, end: date) -> Reading:
    rows = _queries(params, start, end)
    return _count(rows, start, end, str(_("queries asked in the period")), lambda q: q.created_at)


@register(
    "matching.hits",
    _("Hit/no-hit hits"),
    _(
        "Values of this node's cases the partner also holds, found by the queries asked in "
        "the period; confidential cases left out."
    ),
    PARAMS,
)
def hits(params: dict[str, Any], start: date, end: date) -> Reading:
    rows = _hits(params, start, end)
    basis = str(_("hits of the queries asked in the period"))
    return _count(rows, start, end, basis, lambda h: h.query.created_at)


@register(
    "matching.hits_to_requests",
    _("Hits followed up with a request"),
    _(
        "Hits of the queries asked in the period for which an assistance request was opened "
        "with “Request details” and still exists; confidential cases left out."
    ),
    PARAMS,
)
def hits_to_requests(params: dict[str, Any], start: date, end: date) -> Reading:
    rows = _followed_up(_hits(params, start, end))
    basis = str(_("hits of the queries asked in the period with a request"))
    return _count(rows, start, end, basis, lambda h: h.query.created_at)
