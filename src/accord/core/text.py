"""Checks on text from outside (API bodies, peers' messages)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, Field, model_validator

# A UTF-16 surrogate on its own (JSON's "\ud800") is no character: UTF-8
# cannot encode it, so neither database can store it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(value: Any) -> bool:
    """True if text that no database keeps hides anywhere in a JSON-like value:
    a NUL character (PostgreSQL refuses it, SQLite would keep it) or a lone
    surrogate. Input carrying one is refused early, the same on both."""
    if isinstance(value, str):
        return "\x00" in value or (not value.isascii() and bool(_SURROGATE.search(value)))
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unstorable(item) for item in value)
    return False


UNSTORABLE = "text may not contain NUL characters or lone surrogates"


class StorableText(BaseModel):
    """A schema whose input may hold no unstorable text anywhere (see unstorable):
    the same refusal on SQLite and PostgreSQL, before anything is stored.

    It looks at the validated fields, not at the raw input: a validator that
    ran first would hand the fields on as Python values, and strict JSON
    validation (a timestamp or an enum value as a JSON string) would then
    refuse them."""

    @model_validator(mode="after")
    def storable(self) -> Self:
        if unstorable(self.model_dump()):
            raise ValueError(UNSTORABLE)
        return self


def aware_iso(value: str) -> str:
    """A timestamp in a peer's body: kept as sent (both nodes hold the same
    text), but it must be a real, aware moment, since the services parse it."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise ValueError("a timestamp needs its UTC offset")
    return value


Timestamp = Annotated[str, Field(max_length=40), AfterValidator(aware_iso)]
