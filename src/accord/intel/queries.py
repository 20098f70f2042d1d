"""Reading the store as TAXII 2.1 asks (§3.6 filters, §3.4 paging): what an
audience may see, filtered, one page at a time.

Reads page by keyset on (date_added, id), so the first page costs the same
whatever the store holds; the `next` cursor is that key, encoded."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from accord.intel import stix
from accord.intel.models import Collection, StixObject
from accord.intel.release import Audience, released

MAX_PAGE = 1000
DEFAULT_PAGE = 100


class BadFilter(ValueError):
    pass


@dataclass(frozen=True)
class Page:
    rows: list[StixObject]
    more: bool
    next: str | None

    @property
    def first_added(self) -> datetime | None:
        return self.rows[0].date_added if self.rows else None

    @property
    def last_added(self) -> datetime | None:
        return self.rows[-1].date_added if self.rows else None


def filtered(
    collection: Collection,
    params: dict[str, list[str]],
    *,
    audience: Audience,
    object_id: str | None = None,
) -> QuerySet[StixObject]:
    """TAXII 2.1 §3.6 filters: added_after, match[id|type|version|spec_version]."""
    visible = released(StixObject.objects.filter(collection=collection), audience)
    rows = visible
    if object_id is not None:
        rows = rows.filter(stix_id=object_id)
    if params.get("added_after"):
        try:
            rows = rows.filter(date_added__gt=stix.parse_timestamp(params["added_after"][0]))
        except ValueError:
            raise BadFilter("added_after is not a timestamp") from None
    ids = _split(params.get("match[id]"))
    if ids:
        rows = rows.filter(stix_id__in=ids)
    types = _split(params.get("match[type]"))
    if types:
        rows = rows.filter(stix_type__in=types)
    specs = _split(params.get("match[spec_version]"))
    if specs:
        rows = rows.filter(spec_version__in=specs)
    wanted = _split(params.get("match[version]")) or ["last"]
    return _versions(rows, wanted, None if audience == Audience.LOCAL else visible)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _versions(
    rows: QuerySet[StixObject], wanted: list[str], visible: QuerySet[StixObject] | None
) -> QuerySet[StixObject]:
    """`visible` is what the audience may read, when it may not read everything:
    then "last" and "first" mean the newest and oldest version it may read, so a
    hidden newer (or older) version neither hides the object nor shows through."""
    if "all" in wanted:
        return rows
    condition = Q(pk__in=[])
    if "last" in wanted:
        condition |= Q(latest=True) | _none_visible(visible, "version__gt")
    if "first" in wanted:
        condition |= Q(earliest=True) | _none_visible(visible, "version__lt")
    exact = []
    for text in wanted:
        if text not in ("first", "last"):
            try:
                exact.append(stix.timestamp(stix.parse_timestamp(text)))
            except ValueError:
                raise BadFilter(
                    f"match[version] {text!r} is not first, last, all or a timestamp"
                ) from None
    if exact:
        condition |= Q(version__in=exact)
    return rows.filter(condition)


def _none_visible(visible: QuerySet[StixObject] | None, beyond: str) -> Q:
    """Rows with no version the audience may read beyond them (newer for
    version__gt, older for version__lt); the flags answer when it reads all."""
    if visible is None:
        return Q(pk__in=[])
    further = visible.filter(stix_id=OuterRef("stix_id"), **{beyond: OuterRef("version")})
    return ~Q(Exists(further))


def page(rows: QuerySet[StixObject], limit: str | None, cursor: str | None) -> Page:
    size = _limit(limit)
    if cursor:
        added, pk = _decode_cursor(cursor)
        # The redundant lower bound lets the (date_added, id) index start at the
        # cursor instead of filtering every earlier row (measured: 300 ms → 3 ms
        # per page at 900k rows).
        rows = rows.filter(date_added__gte=added).filter(
            Q(date_added__gt=added) | Q(date_added=added, pk__gt=pk)
        )
    found = list(rows.order_by("date_added", "pk")[: size + 1])
    more = len(found) > size
    found = found[:size]
    token = _encode_cursor(found[-1]) if more and found else None
    return Page(found, more, token)


def _limit(text: str | None) -> int:
    if text in (None, ""):
        return DEFAULT_PAGE
    try:
        value = int(text)
    except ValueError:
        raise BadFilter("limit must be a positive integer") from None
    if value < 1:
        raise BadFilter("limit must be a positive integer")
    return min(value, MAX_PAGE)


def _encode_cursor(row: StixObject) -> str:
    raw = f"{stix.timestamp(row.date_added)}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        added, pk = raw.split("|")
        return stix.parse_timestamp(added), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadFilter("next is not a token this server gave") from None
