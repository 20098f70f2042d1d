"""Deadlines are counted in the calendar of the side that must meet them
(DOMAIN.md, "Calendars"): business days in its time zone, skipping its
weekends, public holidays and closed days; whole days to the same local time;
hours around the clock. Both replicas count in the same calendar."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accord.assistance import deadlines
from accord.assistance.models import AssistanceRequest, State
from accord.core import calendars
from accord.core.calendars import Calendar, CalendarError
from accord.core.roles import Role
from accord.federation.models import Peer
from accord.federation.peering import published_calendar
from tests.assistance.arrivals import submitted

NEW_YORK, BEIJING = ZoneInfo("America/New_York"), ZoneInfo("Asia/Shanghai")
US = Calendar("America/New_York", "US")
CN = Calendar("Asia/Shanghai", "CN")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


# ---------------------------------------------------------------- business days


def test_new_york_friday_night_plus_two_business_days_is_tuesday_night_in_new_york():
    friday = local(NEW_YORK, 2026, 10, 16, 21)  # Saturday 01:00 UTC
    due = deadlines.acknowledge_due(friday, "standard", US)
    assert due.astimezone(NEW_YORK) == local(NEW_YORK, 2026, 10, 20, 21)
    # Counted in UTC it would land on Monday evening in New York, a day early.
    assert deadlines.acknowledge_due(friday, "standard").astimezone(NEW_YORK).day == 19


def test_beijing_saturday_morning_counts_from_monday_and_is_due_on_tuesday():
    saturday = local(BEIJING, 2026, 10, 17, 7)  # Friday 23:00 UTC
    due = deadlines.acknowledge_due(saturday, "standard", CN)
    assert due.astimezone(BEIJING) == local(BEIJING, 2026, 10, 20, 7)
    # Counted in UTC it would land on Wednesday in Beijing, a day late.
    assert deadlines.acknowledge_due(saturday, "standard").astimezone(BEIJING).day == 21


def test_chinese_national_day_holidays_are_skipped_and_a_make_up_saturday_counts():
    eve = local(BEIJING, 2026, 9, 30, 10)
    # 1-7 October are closed (National Day, with its observed and substituted days).
    assert all(not CN.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert CN.add_business_days(eve, 2).astimezone(BEIJING) == local(BEIJING, 2026, 10, 9, 10)
    # Saturday 10 October 2026 is a working day in China (it makes up for 7 October).
    assert CN.is_working_day(date(2026, 10, 10))
    assert CN.add_business_days(eve, 3).astimezone(BEIJING) == local(BEIJING, 2026, 10, 10, 10)


@pytest.mark.parametrize(
    ("friday", "tuesday", "elapsed"),
    [
        # Summer time ends on Sunday 1 November 2026: the days are 4 and an hour.
        ((2026, 10, 30, 21), (2026, 11, 3, 21), 4 * DAY + HOUR),
        # Summer time starts on Sunday 8 March 2026: 4 days less an hour.
        ((2026, 3, 6, 21), (2026, 3, 10, 21), 4 * DAY - HOUR),
    ],
)
def test_a_daylight_saving_change_in_new_york_keeps_the_local_time(friday, tuesday, elapsed):
    start = local(NEW_YORK, *friday)
    due = deadlines.acknowledge_due(start, "urgent", US)
    assert due.astimezone(NEW_YORK) == local(NEW_YORK, *tuesday)
    assert due - start == elapsed


def test_extra_closed_days_are_skipped():
    wednesday = datetime(2026, 12, 23, 9, tzinfo=UTC)
    plain = Calendar()
    closed = Calendar(closed_days=frozenset({date(2026, 12, 24)}))
    closed_in_us = Calendar("UTC", "US", frozenset({date(2026, 12, 24)}))
    assert plain.add_business_days(wednesday, 1) == datetime(2026, 12, 24, 9, tzinfo=UTC)
    assert closed.add_business_days(wednesday, 1) == datetime(2026, 12, 25, 9, tzinfo=UTC)
    # Christmas Day is a US public holiday: on to Monday.
    assert closed_in_us.add_business_days(wednesday, 1) == datetime(2026, 12, 28, 9, tzinfo=UTC)


def test_an_emergency_runs_around_the_clock_whatever_the_calendar():
    saturday = local(BEIJING, 2026, 10, 3, 7)  # a holiday and a weekend day
    assert deadlines.acknowledge_due(saturday, "emergency", CN) == saturday + 8 * HOUR
    decide, respond = deadlines.decision_and_response_due(saturday, "data_order", "emergency", CN)
    assert decide == respond == saturday + 8 * HOUR


def test_whole_days_end_at_the_same_local_time_across_a_daylight_saving_change():
    received = local(NEW_YORK, 2026, 10, 28, 14)
    decide, respond = deadlines.decision_and_response_due(received, "data_order", "standard", US)
    assert decide == respond
    assert respond.astimezone(NEW_YORK) == local(NEW_YORK, 2026, 11, 7, 14)
    assert respond - received == 10 * DAY + HOUR


# ---------------------------------------------------------------- the table


def test_evidence_is_executed_within_ninety_days_of_the_decision_not_of_receipt():
    received = datetime(2026, 3, 2, 9, tzinfo=UTC)
    decide, respond = deadlines.decision_and_response_due(received, "general_evidence", "standard")
    assert (decide, respond) == (received + 30 * DAY, None)
    decided = received + 12 * DAY
    assert deadlines.execution_due(decided, "general_evidence", "standard") == decided + 90 * DAY
    assert deadlines.execution_due(decided, "data_order", "standard") is None


@pytest.mark.parametrize(
    ("request_type", "urgency", "due"),
    [
        ("locate_person", "emergency", 8 * HOUR),
        ("locate_person", "urgent", 3 * DAY),
        ("identity_verification", "standard", 7 * DAY),
    ],
)
def test_information_requests_between_police_take_eight_hours_three_or_seven_days(
    request_type, urgency, due
):
    received = datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert deadlines.decision_and_response_due(received, request_type, urgency) == (
        received + due,
        received + due,
    )


# ---------------------------------------------------------------- both replicas


def request_on(outgoing: bool, partner: Calendar, **fields) -> AssistanceRequest:
    peer = Peer(pk=1, node_id="xx.partner", calendar=partner.document())
    return AssistanceRequest(
        request_type="data_order",
        urgency="standard",
        state=State.SUBMITTED,
        outgoing=outgoing,
        peer=peer,
        **fields,
    )


def as_node(settings, calendar: Calendar) -> None:
    settings.NODE_TIME_ZONE = calendar.time_zone
    settings.HOLIDAY_COUNTRY = calendar.holiday_country
    settings.CLOSED_DAYS = sorted(calendar.closed_days)


def test_both_replicas_count_the_requested_sides_deadline_in_its_calendar(settings):
    submitted = local(NEW_YORK, 2026, 9, 29, 21)  # Wednesday 30 September, 09:00 in Beijing
    as_node(settings, US)  # the requesting node, its partner publishes CN
    on_us = deadlines.on_submission(request_on(True, CN), submitted)
    as_node(settings, CN)  # the requested node, in its own calendar
    on_cn = deadlines.on_submission(request_on(False, US), submitted)
    # National Day closes 1-7 October: the 8th and the 9th are the two days.
    assert on_us == on_cn == local(BEIJING, 2026, 10, 9, 9)


def test_each_deadline_shows_the_owners_zone_beside_the_viewers(settings):
    as_node(settings, US)
    submitted = local(NEW_YORK, 2026, 10, 16, 21)
    request = request_on(True, CN, submitted_at=submitted, acknowledge_due=submitted + 3 * DAY)
    (acknowledge,) = deadlines.deadlines_of(request)
    assert (acknowledge.owner, acknowledge.owner_zone, acknowledge.viewer_zone) == (
        "requested",
        "Asia/Shanghai",
        "America/New_York",
    )
    assert acknowledge.due_for_owner() == request.acknowledge_due.astimezone(BEIJING)


def test_a_node_publishes_its_calendar_and_a_peer_reads_it_back(settings):
    as_node(settings, Calendar("Asia/Shanghai", "CN", frozenset({date(2026, 12, 31)})))
    document = {"calendar": calendars.here().document()}
    assert document["calendar"] == {
        "time_zone": "Asia/Shanghai",
        "holiday_country": "CN",
        "closed_days": ["2026-12-31"],
    }
    assert published_calendar(document) == calendars.here()
    # A node that publishes no calendar works in UTC, weekends only.
    assert published_calendar({}) == Calendar()


@pytest.mark.parametrize(
    "calendar",
    [
        {"time_zone": "Mars/Olympus"},
        {"time_zone": "UTC", "holiday_country": "XX"},
        {"time_zone": "UTC", "closed_days": ["31/12/2026"]},
    ],
)
def test_a_peer_with_an_invalid_calendar_is_not_pinned(calendar):
    with pytest.raises(ValidationError):
        published_calendar({"calendar": calendar})
    with pytest.raises(CalendarError):
        Calendar.from_document(calendar)


@pytest.mark.django_db
def test_a_submitted_request_is_due_in_the_partners_calendar_and_shown_in_both_zones(
    settings, users, client_for
):
    as_node(settings, US)
    peer = Peer.objects.create(
        node_id="cn.calendar",
        url="http://127.0.0.1:9/",
        party="China",
        agency="MPS",
        signing_key=base64.b64encode(os.urandom(32)).decode(),
        encryption_key=base64.b64encode(os.urandom(32)).decode(),
        fingerprint="0" * 64,
        calendar=CN.document(),
    )
    request = submitted(users, peer)
    due = request.acknowledge_due
    assert due == deadlines.acknowledge_due(request.submitted_at, "standard", CN)
    page = client_for(Role.CENTRAL_AUTHORITY).get(reverse("assistance:detail", args=[request.pk]))
    html = page.content.decode()
    here = due.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")
    owner = due.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    assert f"{here} America/New_York" in html
    assert f"{owner} Asia/Shanghai, the owner's time" in html


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ACCORD_TIME_ZONE", "Mars/Olympus", "ACCORD_TIME_ZONE: 'Mars/Olympus' is not an IANA"),
        ("ACCORD_HOLIDAY_COUNTRY", "XX", "ACCORD_HOLIDAY_COUNTRY: 'XX' is not a country"),
        ("ACCORD_CLOSED_DAYS", "2026-12-24,tomorrow", "ACCORD_CLOSED_DAYS: closed days must"),
    ],
)
def test_a_bad_calendar_setting_stops_start_up_naming_the_variable(
    tmp_path, variable, value, message
):
    env = {**os.environ, "ACCORD_DATA_DIR": str(tmp_path), variable: value}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "accord.cli", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr
