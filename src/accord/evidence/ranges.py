"""Byte ranges of a download (RFC 9110 §14): one range of the `Range` header,
resolved against the item's size. Pure: no database, no HTTP objects.

Only a single range is served. A header in another unit, with several ranges
or not well formed is ignored and the whole item sent (§14.2 lets a server
ignore it); a well-formed range that does not overlap the item is
unsatisfiable (416)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# At most 18 digits: a number in range of a BigIntegerField, never a huge int().
ONE_RANGE = re.compile(r"\s*bytes\s*=\s*(\d{0,18})\s*-\s*(\d{0,18})\s*")
# Where an uploaded part goes (§14.4): `bytes first-last/total` (total may be *).
PART_RANGE = re.compile(r"\s*bytes\s+(\d{1,18})-(\d{1,18})/(\d{1,18}|\*)\s*")


class Unsatisfiable(Exception):
    """The range does not overlap the item."""


@dataclass(frozen=True)
class Wanted:
    """A range as asked: `first-last`, `first-` (last None) or `-suffix` (first None)."""

    first: int | None
    last: int | None

    def __str__(self) -> str:
        first = "" if self.first is None else str(self.first)
        return f"{first}-{'' if self.last is None else self.last}"


@dataclass(frozen=True)
class Span:
    """Bytes [start, stop) of an item of `size` bytes."""

    start: int
    stop: int
    size: int

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.stop == self.size

    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


def parse(header: str) -> Wanted | None:
    """The one range a `Range` header asks for, or None to send the whole."""
    match = ONE_RANGE.fullmatch(header or "")
    if match is None or not (match[1] or match[2]):
        return None
    first = int(match[1]) if match[1] else None
    last = int(match[2]) if match[2] else None
    if first is not None and last is not None and last < first:
        return None  # not a valid range-spec: ignored (§14.1.1)
    return Wanted(first, last)


def resolve(wanted: Wanted | None, size: int) -> Span:
    """The bytes `wanted` names in an item of `size` bytes (all of them for
    None); raises Unsatisfiable when none of them exists."""
    if wanted is None:
        return Span(0, size, size)
    if wanted.first is None:  # the last `last` bytes
        if not wanted.last or not size:
            raise Unsatisfiable
        return Span(max(0, size - wanted.last), size, size)
    if wanted.first >= size:
        raise Unsatisfiable
    stop = size if wanted.last is None else min(wanted.last + 1, size)
    return Span(wanted.first, stop, size)


@dataclass(frozen=True)
class Placed:
    """A part's bytes [first, last] of `total` (None: not said)."""

    first: int
    last: int
    total: int | None


def parse_part(header: str) -> Placed | None:
    """The place a `Content-Range` header gives an uploaded part, None if not well formed."""
    match = PART_RANGE.fullmatch(header or "")
    if match is None or int(match[2]) < int(match[1]):
        return None
    return Placed(int(match[1]), int(match[2]), None if match[3] == "*" else int(match[3]))


__all__ = ["Placed", "Span", "Unsatisfiable", "Wanted", "parse", "parse_part", "resolve"]
