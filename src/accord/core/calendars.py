"""Working calendars (DOMAIN.md, "Calendars"): each node works in its own time
zone, with the weekends and public holidays of its country and any extra days
it is closed. A node publishes its calendar in its signed identity document,
so its partner counts the deadlines this node owns exactly as it does.

Public holidays come from the `holidays` package; the weekend days a country
declares working days (China's make-up Saturdays) count as working days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class CalendarError(ValueError):
    """A time zone, country or closed day that is not valid."""


@cache
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"{name!r} is not an IANA time zone (like Asia/Shanghai)") from None


def check_country(code: str) -> str:
    """The ISO 3166 code if the `holidays` package knows the country's holidays."""
    if not code:
        return code
    import holidays  # ~5 MiB: loaded by the processes that count days, when they do

    if code not in holidays.list_supported_countries():
        raise CalendarError(f"{code!r} is not a country code the holidays package knows")
    return code


def parse_days(values: list[str] | tuple[str, ...]) -> frozenset[date]:
    try:
        return frozenset(date.fromisoformat(str(value).strip()) for value in values)
    except ValueError:
        raise CalendarError(
            f"closed days must be ISO dates like 2026-12-24, not {values!r}"
        ) from None


@cache
def _public_days(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(public holidays, weekend days that are working days) of one year."""
    import holidays

    found = holidays.country_holidays(country, years=year)
    workdays: set[date] = getattr(found, "weekend_workdays", set())
    return frozenset(found), frozenset(d for d in workdays if d.year == year)


@dataclass(frozen=True)
class Calendar:
    time_zone: str = "UTC"
    holiday_country: str = ""
    closed_days: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)

    def is_working_day(self, day: date) -> bool:
        if day in self.closed_days:
            return False
        if not self.holiday_country:
            return day.weekday() < 5
        public, working_weekend = _public_days(self.holiday_country, day.year)
        if day in public:
            return False
        return day.weekday() < 5 or day in working_weekend

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def at_local(self, day: date, clock: time) -> datetime:
        """The moment (UTC) of this local date and time of day; a time the
        daylight-saving change skips is read with the offset before it."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same local time of day on the `days`-th working day after the
        local date of `start`: a start on a closed day counts from the next
        working day, and every closed day on the way is skipped."""
        local = self.local(start)
        day = local.date()
        while days > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
        return self.at_local(day, local.time())

    def add_days(self, start: datetime, days: int) -> datetime:
        """The same local time of day `days` calendar days later (a
        daylight-saving change on the way moves nothing but the UTC offset)."""
        local = self.local(start)
        return self.at_local(local.date() + timedelta(days=days), local.time())

    def end_of_day(self, day: date) -> datetime:
        return self.at_local(day, time(23, 59, 59))

    def document(self) -> dict[str, Any]:
        """What the identity document publishes (and a peer row keeps)."""
        return {
            "time_zone": self.time_zone,
            "holiday_country": self.holiday_country,
            "closed_days": sorted(d.isoformat() for d in self.closed_days),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any] | None) -> Calendar:
        """A partner's published calendar; an empty one (a node that publishes
        none) is UTC with weekends only. CalendarError if it is not valid."""
        if not document:
            return cls()
        if not isinstance(document, dict):
            raise CalendarError("a calendar is an object")
        name = str(document.get("time_zone") or "UTC")
        zone(name)
        days = document.get("closed_days") or []
        if not isinstance(days, list):
            raise CalendarError("closed_days is a list of ISO dates")
        return cls(
            time_zone=name,
            holiday_country=check_country(str(document.get("holiday_country") or "")),
            closed_days=parse_days(days),
        )


def here() -> Calendar:
    """This node's calendar, from its settings."""
    from django.conf import settings

    return Calendar(
        time_zone=settings.NODE_TIME_ZONE,
        holiday_country=settings.HOLIDAY_COUNTRY,
        closed_days=frozenset(settings.CLOSED_DAYS),
    )
