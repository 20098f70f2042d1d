"""Dates a person types, checked for sense before they are kept: a deadline
or a due date lies ahead, and within a horizon where it is still a plan (a
mistyped year, 1900 or 2206, is caught here rather than shown for years).

Only what this node's users write is checked: a partner's dates arrive as
the partner recorded them."""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import calendars

HORIZON_YEARS = 10


def today() -> date:
    """Today where this node works."""
    return timezone.now().astimezone(calendars.here().zone).date()


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def ahead_problem(
    day: date | None, *, past_allowed: bool = False, now: datetime | None = None
) -> str:
    """Why `day` is not a sensible date for something still to come, or "".
    Today is accepted; `past_allowed` accepts a day already gone (one the user
    has confirmed), never one beyond the horizon."""
    if day is None:
        return ""
    current = now.astimezone(calendars.here().zone).date() if now else today()
    if day < current and not past_allowed:
        return _("The date %(day)s has already passed: give today or a later date.") % {
            "day": day.isoformat()
        }
    if day > _years_after(current, HORIZON_YEARS):
        return _("The date %(day)s is more than %(years)s years away: check the year.") % {
            "day": day.isoformat(),
            "years": HORIZON_YEARS,
        }
    if day < _years_after(current, -HORIZON_YEARS):
        return _("The date %(day)s is more than %(years)s years ago: check the year.") % {
            "day": day.isoformat(),
            "years": HORIZON_YEARS,
        }
    return ""
