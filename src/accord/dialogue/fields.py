"""What every part of the dialogue record shares: the text limit, the one
timestamp format (compared as text on both nodes, so exactly one), naming the
actor, the check every free-text field passes, and the times and dates a wire
body may carry (each a real one: a body with a time that does not parse is
refused as invalid, with the field named, before any handler reads it)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from pydantic import AfterValidator, Field

from accord.core.audit import Actor
from accord.core.text import aware_iso

TEXT = 20_000
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")  # now_iso()
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _stamp(value: str) -> str:
    if not STAMP.match(value):
        raise ValueError("not a timestamp as YYYY-MM-DDTHH:MM:SS.ffffff+00:00")
    return aware_iso(value)


def _day(value: str) -> str:
    if DAY.match(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError("not a real date as YYYY-MM-DD")


def _history_entry(entry: dict[str, Any]) -> dict[str, Any]:
    at = entry.get("at")
    if not isinstance(at, str):
        raise ValueError("at: a report needs its time")
    try:
        _stamp(at)
    except ValueError as exc:
        raise ValueError(f"at: {exc}") from None
    return entry


# A time as a wire body carries it: any aware ISO 8601 timestamp.
# A time compared as text on both nodes (which change wins, the order of the
# signatures): exactly the format of `now_iso`.
Stamp = Annotated[str, Field(max_length=40), AfterValidator(_stamp)]
Day = Annotated[str, Field(max_length=10), AfterValidator(_day)]
# One report in a commitment's history, as `commitments` writes it.
HistoryEntry = Annotated[dict[str, Any], AfterValidator(_history_entry)]


def actor_name(actor: Actor) -> str:
    if actor.user is None:
        return actor.label
    return actor.user.get_full_name() or actor.user.username


def clean_text(value: str, name: str, *, required: bool = True, limit: int = TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(_("%(field)s is required.") % {"field": name})
    if len(value) > limit or "\x00" in value:
        raise ValidationError(_("%(field)s is too long or not text.") % {"field": name})
    return value
