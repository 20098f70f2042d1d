"""Checks on text from outside (API bodies, peers' messages)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator


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
    the same refusal on SQLite and PostgreSQL, before anything is stored."""

    @model_validator(mode="before")
    @classmethod
    def no_nul(cls, data: Any) -> Any:
        if has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data
