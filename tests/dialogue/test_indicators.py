"""The figures behind commitments, checked against numbers worked out by hand.

A fixed set of requests with known timestamps (UTC, ROWS below), built directly
with the ORM, is read over the first quarter of 2026: 2026-01-01 .. 2026-03-31,
the end day included (the period ends at 2026-04-01 00:00, exclusive). Requests
count in both directions, so the set mixes outgoing and incoming ones.

Hours from receipt to response: r1 10, r2 30, r3 50, r4 94 (02-10 00:00 to
02-13 22:00: 3 days and 22 h), r5 1776 (2025-12-21 to 2026-03-05: 11 days left in
December, 31 in January, 28 in February, 4 in March = 74 days * 24 h), r6 8, r7
72, r10 23.99 (00:00:00 to 23:59:24 is 86364 s). r12 is a draft: never counted,
whatever its dates say. r13 has no receipt, so no turnaround. r9, r11 are
answered at or after 2026-04-01 00:00, and r5, r10 submitted before the period."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from accord.assistance.models import AssistanceRequest
from accord.core import indicators
from accord.dialogue import progress
from accord.dialogue.models import Commitment
from accord.dialogue.types import TOPIC_CATEGORIES, Topic

pytestmark = pytest.mark.django_db

START, END = date(2026, 1, 1), date(2026, 3, 31)
MONTHS = ["2026-01", "2026-02", "2026-03"]


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


# name, type, offence categories, submitted, received, decided, responded, response due, state
ROWS = [
    (
        "r1",
        "data_order",
        ["fraud"],
        "2026-01-01 00:00",
        "2026-01-01 02:00",
        "2026-01-01 04:00",
        "2026-01-01 12:00",
        None,
        "closed",
    ),
    (
        "r2",
        "data_order",
        ["narcotics"],
        "2026-01-20 00:00",
        "2026-01-20 00:00",
        "2026-01-20 06:00",
        "2026-01-21 06:00",
        None,
        "responded",
    ),
    (
        "r3",
        "general_evidence",
        ["fraud"],
        "2026-02-01 00:00",
        "2026-02-02 00:00",
        "2026-02-03 00:00",
        "2026-02-04 02:00",
        None,
        "responded",
    ),
    (
        "r4",
        "locate_person",
        ["terrorism"],
        "2026-02-10 00:00",
        "2026-02-10 00:00",
        "2026-02-11 00:00",
        "2026-02-13 22:00",
        None,
        "closed",
    ),
    (
        "r5",
        "locate_person",
        ["money_laundering", "narcotics"],
        "2025-12-20 00:00",
        "2025-12-21 00:00",
        "2025-12-22 00:00",
        "2026-03-05 00:00",
        None,
        "responded",
    ),
    (
        "r6",
        "preservation",
        ["fraud"],
        "2026-03-01 00:00",
        "2026-03-01 01:00",
        "2026-03-01 05:00",
        "2026-03-01 09:00",
        "2026-03-02 00:00",
        "preserved",
    ),
    (
        "r7",
        "preservation",
        ["illegal_access"],
        "2026-03-10 00:00",
        "2026-03-10 00:00",
        "2026-03-11 00:00",
        "2026-03-13 00:00",
        "2026-03-12 00:00",
        "preserved",
    ),
    (
        "r8",
        "preservation",
        ["fraud"],
        "2026-03-20 00:00",
        "2026-03-20 00:00",
        "2026-03-21 00:00",
        None,
        "2026-03-22 00:00",
        "refused",
    ),
    (
        "r9",
        "preservation",
        ["fraud"],
        "2026-03-31 23:00",
        "2026-03-31 23:30",
        "2026-04-01 00:00",
        "2026-04-01 01:00",
        "2026-04-02 00:00",
        "preserved",
    ),
    (
        "r10",
        "data_order",
        ["fraud"],
        "2025-12-31 23:59:59",
        "2026-03-31 00:00",
        None,
        "2026-03-31 23:59:24",
        None,
        "responded",
    ),
    (
        "r11",
        "data_order",
        ["fraud"],
        "2026-02-15 00:00",
        "2026-02-15 00:00",
        None,
        "2026-04-01 00:00",
        None,
        "responded",
    ),
    ("r12", "data_order", ["fraud"], None, None, None, "2026-02-01 00:00", None, "draft"),
    (
        "r13",
        "spontaneous",
        ["fraud"],
        "2026-02-20 00:00",
        None,
        None,
        "2026-02-20 12:00",
        None,
        "closed",
    ),
]


def offence(category: str) -> dict:
    return {"label": category, "statute": "-", "max_penalty_years": 5, "category": category}


@pytest.fixture
def requests(partner) -> dict[str, AssistanceRequest]:
    made = {}
    for index, row in enumerate(ROWS):
        name, kind, categories, submitted, received, decided, responded, due, state = row
        outgoing = index % 2 == 0  # both directions count
        made[name] = AssistanceRequest.objects.create(
            id=uuid.uuid4(),
            reference=f"IND-{name}",
            requesting_node="xx.test" if outgoing else partner.node,
            requested_node=partner.node if outgoing else "xx.test",
            peer=partner.peer,
            outgoing=outgoing,
            request_type=kind,
            legal_basis="bilateral",
            requesting_authority="Cyber police",
            central_authority="MPS",
            offences=[offence(c) for c in categories],
            summary="Indicator fixture",
            purpose="Count it",
            urgency="standard",
            language="en",
            signer="Zhang Wei",
            state=state,
            created_at=at("2025-12-01 00:00"),
            submitted_at=at(submitted),
            received_at=at(received),
            decided_at=at(decided),
            responded_at=at(responded),
            response_due=at(due),
        )
    return made


def read(code: str, start: date = START, end: date = END, **params):
    indicator = indicators.get(code)
    assert indicator is not None, code
    return indicator.compute(params, start, end)


def series(reading) -> list:
    assert [month for month, _value in reading.series] == MONTHS
    return [value for _month, value in reading.series]


# ---------------------------------------------------------------- each indicator


def test_requests_submitted(requests):
    reading = read("assistance.submitted")
    # Submitted in the period: r1 (at 01-01 00:00, the first instant), r2, r3, r4, r6, r7,
    # r8, r9 (03-31 23:00), r11, r13 = 10. Not r5, r10 (before it), nor r12 (a draft).
    assert (reading.value, reading.unit, reading.count) == (10, "count", 10)
    # January r1 r2 = 2; February r3 r4 r11 r13 = 4; March r6 r7 r8 r9 = 4.
    assert series(reading) == [2, 4, 4]


def test_requests_answered(requests):
    reading = read("assistance.answered")
    # Responded in the period: r1, r2, r3, r4, r5, r6, r7, r10 (03-31 23:59:24), r13 = 9.
    # Not r9 nor r11 (04-01, after it), r8 (no response), r12 (a draft).
    assert (reading.value, reading.unit, reading.count) == (9, "count", 9)
    # January r1 r2 = 2; February r3 r4 r13 = 3; March r5 r6 r7 r10 = 4.
    assert series(reading) == [2, 3, 4]


def test_median_turnaround_is_the_nearest_rank(requests):
    reading = read("assistance.turnaround_median")
    # Answered in the period with a receipt (r13 has none), hours from receipt to response:
    # sorted [8 (r6), 10 (r1), 23.99 (r10), 30 (r2), 50 (r3), 72 (r7), 94 (r4), 1776 (r5)].
    # Nearest rank of the median: ceil(0.5 * 8) = 4th = 30 (interpolating would give 40).
    assert (reading.value, reading.unit, reading.count) == (30, "hours", 8)
    # January [10, 30]: ceil(0.5 * 2) = 1st = 10. February [50, 94]: 1st = 50.
    # March [8, 23.99, 72, 1776]: ceil(0.5 * 4) = 2nd = 23.99.
    assert series(reading) == [10, 50, 23.99]


def test_90th_percentile_turnaround_is_the_nearest_rank(requests):
    reading = read("assistance.turnaround_p90")
    # The same 8 values: ceil(0.9 * 8) = ceil(7.2) = 8th = 1776.
    assert (reading.value, reading.unit, reading.count) == (1776, "hours", 8)
    # January: ceil(0.9 * 2) = 2nd of [10, 30] = 30. February: 2nd of [50, 94] = 94.
    # March: ceil(0.9 * 4) = ceil(3.6) = 4th of [8, 23.99, 72, 1776] = 1776.
    assert series(reading) == [30, 94, 1776]


def test_fugitive_locations_completed(requests):
    reading = read("assistance.locations_completed")
    # locate_person requests answered in the period: r4 (02-13) and r5 (03-05).
    assert (reading.value, reading.unit, reading.count) == (2, "count", 2)
    assert series(reading) == [0, 1, 1]


def test_preservations_honoured_in_time(requests):
    reading = read("assistance.preservation_on_time")
    # Preservations decided in the period: r6, r7, r8 (r9 on 04-01, after it). On time: r6
    # (confirmed 03-01 09:00, due 03-02). r7 is late (03-13 > 03-12), r8 refused.
    # 100 * 1 / 3 = 33.33.. -> 33.3 (one decimal).
    assert (reading.value, reading.unit, reading.count) == (33.3, "percent", 3)
    # None decided in January or February: no data, which is not zero.
    assert series(reading) == [None, None, 33.3]


def test_no_data_is_none_and_not_zero(partner):
    for code in (
        "assistance.turnaround_median",
        "assistance.turnaround_p90",
        "assistance.preservation_on_time",
    ):
        reading = read(code)
        assert (reading.value, reading.count, series(reading)) == (None, 0, [None] * 3), code
    assert read("assistance.answered").value == 0


def test_a_request_type_narrows_a_count(requests):
    # data_order submitted in the period: r1, r2, r11 (r10 before it, r12 a draft).
    assert read("assistance.submitted", request_type="data_order").value == 3
    # ... answered: r1, r2, r10 (r11 after it).
    assert read("assistance.answered", request_type="data_order").value == 3
    # ... and of those, about narcotics: r2 alone.
    narcotics = read("assistance.answered", request_type="data_order", categories=["narcotics"])
    assert narcotics.value == 1


def test_a_period_of_one_day(requests):
    # Only 2026-03-31: r9 submitted at 23:00; r10 answered at 23:59:24 after 23.99 h.
    day = date(2026, 3, 31)
    assert read("assistance.submitted", day, day).value == 1
    assert read("assistance.answered", day, day).value == 1
    median = read("assistance.turnaround_median", day, day)
    assert (median.value, median.series) == (23.99, [("2026-03", 23.99)])


# ---------------------------------------------------------------- topics, through progress.measure


def measured(code: str, topic: str = "", target: float | None = None) -> progress.Measured:
    found = progress.measure({"code": code, "topic": topic, "target": target}, START, END)
    assert found is not None
    assert (found.code, found.start, found.end) == (code, START, END)
    return found


def test_each_topic_measures_its_offence_categories():
    assert TOPIC_CATEGORIES[Topic.NARCOTICS] == ["narcotics"]
    assert TOPIC_CATEGORIES[Topic.COUNTER_TERRORISM] == ["terrorism"]
    assert TOPIC_CATEGORIES[Topic.IMMIGRATION] == ["migrant_smuggling"]
    assert {"fraud", "illegal_access"} <= set(TOPIC_CATEGORIES[Topic.CYBERSECURITY])
    assert "narcotics" not in TOPIC_CATEGORIES[Topic.CYBERSECURITY]
    assert TOPIC_CATEGORIES[Topic.FUGITIVES] == []  # every category
    assert set(TOPIC_CATEGORIES) == set(Topic.values)


def test_cybersecurity_counts_the_cyber_offences(requests):
    # Cyber offences (fraud, illegal_access): r1, r3, r6, r7, r8, r9, r10, r11, r12, r13.
    answered = measured("assistance.answered", "cybersecurity")
    assert answered.topic == "Cybersecurity and cybercrime"
    # Answered in the period: r1, r3, r6, r7, r10, r13 = 6.
    assert answered.reading.value == 6
    assert series(answered.reading) == [1, 2, 3]  # r1 | r3 r13 | r6 r7 r10
    # Submitted in the period: r1, r3, r6, r7, r8, r9, r11, r13 = 8.
    assert measured("assistance.submitted", "cybersecurity").reading.value == 8
    # Turnarounds [10 (r1), 50 (r3), 8 (r6), 72 (r7), 23.99 (r10)], sorted
    # [8, 10, 23.99, 50, 72]: median ceil(2.5) = 3rd = 23.99; p90 ceil(4.5) = 5th = 72.
    assert measured("assistance.turnaround_median", "cybersecurity").reading.value == 23.99
    assert measured("assistance.turnaround_p90", "cybersecurity").reading.value == 72


def test_narcotics_counts_a_request_with_narcotics_among_its_offences(requests):
    # r2 (narcotics) and r5 (money laundering and narcotics).
    answered = measured("assistance.answered", "narcotics")
    assert (answered.topic, answered.reading.value) == ("Narcotics", 2)
    assert series(answered.reading) == [1, 0, 1]
    # [30, 1776]: median ceil(1.0) = 1st = 30; p90 ceil(1.8) = 2nd = 1776.
    assert measured("assistance.turnaround_median", "narcotics").reading.value == 30
    assert measured("assistance.turnaround_p90", "narcotics").reading.value == 1776
    assert measured("assistance.locations_completed", "narcotics").reading.value == 1  # r5


def test_counter_terrorism_immigration_and_topics_of_every_category(requests):
    assert measured("assistance.answered", "counter_terrorism").reading.value == 1  # r4
    assert measured("assistance.locations_completed", "counter_terrorism").reading.value == 1
    # No migrant smuggling at all.
    immigration = measured("assistance.answered", "immigration")
    assert (immigration.reading.value, series(immigration.reading)) == (0, [0, 0, 0])
    assert measured("assistance.turnaround_median", "immigration").reading.value is None
    # Fugitive repatriation, cross-border cases and no topic measure every category: 9.
    for topic in ("fugitives", "cross_border_cases", ""):
        assert measured("assistance.answered", topic).reading.value == 9, topic
    assert measured("assistance.answered", "").topic == ""


def test_an_indicator_this_node_does_not_have_measures_nothing():
    assert progress.measure({"code": "hits.no_hit_ratio"}, START, END) is None


# ---------------------------------------------------------------- progress towards a target


@pytest.mark.parametrize(
    ("code", "topic", "target", "percent"),
    [
        # Counts and percentages: the share of the target reached, rounded down, at most 100.
        ("assistance.answered", "cybersecurity", 12, 50),  # 6 of 12 = 50 %
        ("assistance.answered", "cybersecurity", 9, 66),  # 6 of 9 = 66.67 % -> 66
        ("assistance.answered", "", 5, 100),  # 9 of 5 = 180 %, capped at 100
        ("assistance.preservation_on_time", "", 90, 37),  # 33.3 of 90 = 37 % exactly
        ("assistance.preservation_on_time", "", 100, 33),  # 33.3 of 100 = 33.3 % -> 33
        # Hours: lower is better. Under the target is 100; over it, target / value.
        ("assistance.turnaround_median", "cybersecurity", 720, 100),  # 23.99 h <= 720 h
        ("assistance.turnaround_median", "", 30, 100),  # 30 h <= 30 h: reached
        ("assistance.turnaround_median", "", 20, 66),  # 20 / 30 = 66.67 % -> 66
        ("assistance.turnaround_p90", "", 444, 25),  # 444 / 1776 = 25 %
        # No target, or no data: no progress figure at all.
        ("assistance.answered", "", None, None),
        ("assistance.answered", "", 0, None),
        ("assistance.turnaround_median", "immigration", 720, None),
    ],
)
def test_progress_towards_a_target(requests, code, topic, target, percent):
    assert measured(code, topic, target).progress == percent


def commitment(record, status: str, due: date, links: list[dict]) -> Commitment:
    item = record.we_owe
    item.status, item.due_date, item.indicators = status, due, links
    item.save()
    return item


def test_a_commitments_progress_reads_its_linked_indicators_over_the_year(record, requests):
    today = date(2026, 3, 31)
    # The year up to today: 2026-03-31 - 364 days = 2025-04-01 .. 2026-03-31 (365 days).
    assert progress.period(today) == (date(2025, 4, 1), today)
    item = commitment(
        record,
        "in_progress",
        date(2026, 6, 30),
        [
            {"code": "assistance.answered", "topic": "narcotics", "target": 4},
            {"code": "assistance.submitted", "topic": "", "target": 10},
            {"code": "assistance.turnaround_median", "topic": "cybersecurity", "target": 720},
        ],
    )

    answered, submitted, median = progress.commitment_progress(item, today)

    # Narcotics answered: r2, r5 = 2 of 4 = 50 %.
    assert (answered.reading.value, answered.target, answered.progress) == (2, 4, 50)
    # Over the year, r5 (2025-12-20) and r10 (2025-12-31) are submitted in it too: 10 + 2 = 12,
    # of a target of 10: 120 %, capped at 100.
    assert (submitted.reading.value, submitted.progress) == (12, 100)
    assert [m for m, _v in submitted.reading.series][0::11] == ["2025-04", "2026-03"]
    # December 2025: r5 and r10.
    assert dict(submitted.reading.series)["2025-12"] == 2
    assert (median.reading.value, median.progress) == (23.99, 100)


@pytest.mark.parametrize(
    ("status", "due", "overdue"),
    [
        ("open", date(2026, 3, 30), True),  # due yesterday, still open
        ("in_progress", date(2026, 3, 30), True),
        ("open", date(2026, 3, 31), False),  # due today: not yet late
        ("open", date(2026, 4, 30), False),
        ("done", date(2026, 3, 1), False),  # done or dropped is never overdue
        ("dropped", date(2026, 3, 1), False),
    ],
)
def test_a_commitment_is_overdue_when_still_open_after_its_due_date(record, status, due, overdue):
    item = commitment(record, status, due, [])
    assert progress.is_overdue(item, datetime(2026, 3, 31, 12, tzinfo=UTC)) is overdue


@pytest.mark.parametrize(
    ("zone", "late_from"),
    [
        # The end of 5 December where the owner works, in UTC.
        ("Asia/Shanghai", datetime(2026, 12, 5, 16, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 12, 6, 5, 0, tzinfo=UTC)),
    ],
)
def test_a_commitment_is_due_by_the_end_of_its_day_in_its_owners_calendar(
    record, settings, zone, late_from
):
    """Whichever side owes it, its due date ends at midnight in that side's own
    zone: this node's from its settings, the partner's from its published calendar."""
    ours = commitment(record, "open", date(2026, 12, 5), [])
    theirs = record.they_owe
    theirs.status, theirs.due_date = "open", date(2026, 12, 5)
    theirs.save()
    settings.NODE_TIME_ZONE = zone
    peer = theirs.outcome.round.dialogue.peer
    peer.calendar = {"time_zone": zone, "holiday_country": "", "closed_days": []}
    peer.save()
    for item in (ours, theirs):
        item.refresh_from_db()
        assert not progress.is_overdue(item, late_from - timedelta(seconds=2))
        assert progress.is_overdue(item, late_from)


def test_a_commitment_counts_only_the_cooperation_with_the_dialogues_partner(record, requests):
    """Requests exchanged with a third node are not the dialogue's."""
    import base64
    import os

    from accord.federation.models import Peer

    key = base64.b64encode(os.urandom(32)).decode()
    third = Peer.objects.create(
        node_id="gb.nca",
        url="http://127.0.0.1:9/",
        party="UK",
        agency="NCA",
        signing_key=key,
        encryption_key=key,
        fingerprint="1" * 64,
    )
    today = date(2026, 3, 31)
    item = commitment(
        record,
        "in_progress",
        date(2026, 6, 30),
        [{"code": "assistance.submitted", "topic": "", "target": 10}],
    )
    [before] = progress.commitment_progress(item, today)
    other = requests["r1"]
    other.pk, other.reference, other.peer = uuid.uuid4(), "IND-third", third
    other.save(force_insert=True)
    [after] = progress.commitment_progress(item, today)
    assert after.reading.value == before.reading.value == 12
    # Unfiltered (the indicator explorer), the third node's request counts.
    explorer = progress.measure({"code": "assistance.submitted"}, *progress.period(today))
    assert explorer.reading.value == 13
