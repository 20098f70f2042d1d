"""I-JSON (RFC 7493) for everything read from outside: API bodies, peers'
envelopes and bodies, their receipts and identity documents, TAXII envelopes.

Two readers must see the same value in the same bytes, or a signature covers
something other than what one of them acted on: a member name given twice
(§2.3) is refused, not resolved last-wins; so are integers beyond the range
every reader holds exactly (§2.2, ±(2^53 - 1), which is also what canonical
JSON signs) and the non-standard NaN and Infinity. The bounded integer types
say the same in a schema, so the OpenAPI tells clients where the edge is."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from accord.core.canonical import MAX_SAFE_INTEGER


class NotIJson(ValueError):
    """Valid JSON, perhaps, but not I-JSON: two readers could disagree on it."""


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An `object_pairs_hook` that refuses a member name given twice."""
    result = dict(pairs)
    if len(result) != len(pairs):
        names = [name for name, _value in pairs]
        twice = next(name for name in names if names.count(name) > 1)
        raise NotIJson(f"the member name {twice!r} appears twice in one object")
    return result


def _integer(text: str) -> int:
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise NotIJson(f"the integer {text[:30]} is outside ±(2^53 - 1)")
    return value


def _constant(name: str) -> Any:
    raise NotIJson(f"{name} is not JSON")


def loads(data: str | bytes | bytearray) -> Any:
    """`json.loads`, refusing what I-JSON forbids (NotIJson, a ValueError)."""
    return json.loads(
        data, object_pairs_hook=unique_members, parse_int=_integer, parse_constant=_constant
    )


# What every integer in an API or wire schema is bounded by: the safe range,
# or, for a number kept in an IntegerField (32 bits on PostgreSQL, 64 on
# SQLite), what both databases hold.
INT32_MAX = 2**31 - 1
Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]
Positive = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
SmallCount = Annotated[int, Field(ge=0, le=INT32_MAX)]
SmallPositive = Annotated[int, Field(ge=1, le=INT32_MAX)]
