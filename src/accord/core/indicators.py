"""Indicators computed from the platform's own data: a figure is never typed in
by hand (issue 5). Each app that holds a source registers its indicators here
in its AppConfig.ready(); the dialogue links commitments to them by code, so a
new source (hit/no-hit, evidence) plugs in without touching the dialogue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.functional import Promise


@dataclass(frozen=True)
class Reading:
    """An indicator's value over a period, with the monthly series behind it."""

    value: float | None
    unit: str  # "count", "hours", "percent"
    # The rows it was computed from, in words (which requests, which clock).
    basis: str
    series: list[tuple[str, float | None]] = field(default_factory=list)  # ("2026-10", value)
    count: int = 0  # how many records the value rests on


Compute = Callable[[dict[str, Any], date, date], Reading]


@dataclass(frozen=True)
class Indicator:
    code: str
    label: Promise
    how: Promise  # how it is computed, shown beside every figure
    compute: Compute
    params: tuple[str, ...] = ()


_REGISTRY: dict[str, Indicator] = {}


def register(
    code: str, label: Promise, how: Promise, params: tuple[str, ...] = ()
) -> Callable[[Compute], Compute]:
    def decorate(compute: Compute) -> Compute:
        if code in _REGISTRY and _REGISTRY[code].compute is not compute:
            raise ValueError(f"indicator {code!r} is registered twice")
        _REGISTRY[code] = Indicator(code, label, how, compute, params)
        return compute

    return decorate


def get(code: str) -> Indicator | None:
    return _REGISTRY.get(code)


def all_indicators() -> list[Indicator]:
    return [_REGISTRY[code] for code in sorted(_REGISTRY)]


def months(start: date, end: date) -> list[str]:
    """The calendar months a period touches, as YYYY-MM."""
    found, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found
