"""Checks on text from outside (API bodies, peers' messages)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, Field, model_validator


def has_nul(value: Any) -> bool:
    """True if a NUL character hides anywhere in a JSON-like value: no database
    keeps one (PostgreSQL refuses it), so input carrying one is refused early."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    return False


class NulFree(BaseModel):
    """A schema whose input may hold no NUL character anywhere (see has_nul):
    the same refusal on SQLite and PostgreSQL, before anything is stored.

    It looks at the validated fields, not at the raw input: a validator that
    ran first would hand the fields on as Python values, and strict JSON
    validation (a timestamp or an enum value as a JSON string) would then
    refuse them."""

    @model_validator(mode="after")
    def no_nul(self) -> Self:
        if has_nul(self.model_dump()):
            raise ValueError("text may not contain NUL characters")
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
