"""Hit/no-hit's dialogue indicators, against figures worked out by hand.

Queries built with the ORM over January and February 2026 (the period is
2026-01-01 .. 2026-02-28, the end day included): to yy.match, q1 (fraud
case, 2 hits) on 01-05, q2 (narcotics case, 1 hit) on 02-10, q3 (fraud, no
hit) on 02-28 23:59; q4 on 03-01 00:00, after the period; q5 asked of another
partner; q6 in a confidential case (1 hit); q7 an incoming query. One hit of
q1 is followed up with "Request details", one of q2 too, but that request is
deleted afterwards."""

from __future__ import annotations

import base64
import os
from datetime import UTC, date, datetime

import pytest
from uuid6 import uuid7

from accord.assistance.models import AssistanceRequest
from accord.cases import services as cases
from accord.core import indicators
from accord.core.audit import Actor
from accord.core.roles import Role
from accord.dialogue import progress
from accord.dialogue.types import Topic
from accord.federation.models import Peer
from accord.matching import services
from accord.matching.models import Direction, Hit, Query, QueryStatus

pytestmark = pytest.mark.django_db

START, END = date(2026, 1, 1), date(2026, 2, 28)
PARTNER = "yy.match"


def peer(node_id: str) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id=node_id,
        url="http://127.0.0.1:9/",
        party="Elsewhere",
        agency="Police",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def query(partner: Peer, case, when: str, hits: int, direction: str = Direction.OUT) -> Query:
    row = Query.objects.create(
        id=uuid7(),
        direction=direction,
        peer=partner,
        case=case if direction == Direction.OUT else None,
        case_reference=case.reference,
        purpose="p",
        code="domain",
        count=3,
        status=QueryStatus.ANSWERED,
        hits=hits,
        created_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
    )
    for index in range(hits):
        observable = cases.add_observable(
            Actor.of(case.created_by), case, "domain", f"{row.pk.hex[-12:]}-{index}.example"
        )
        Hit.objects.create(query=row, observable=observable, reference=f"{PARTNER}/x/{index}")
    return row


@pytest.fixture
def asked(users) -> dict[str, Query]:
    actor = Actor.of(users[Role.INVESTIGATOR])
    partner, other = peer(PARTNER), peer("zz.match")

    def case(category: str, confidential: bool = False):
        data = {"title": "t", "title_language": "en", "categories": [category]}
        return cases.create_case(actor, {**data, "confidential": confidential})

    fraud, narcotics = case("fraud"), case("narcotics")
    rows = {
        "q1": query(partner, fraud, "2026-01-05 10:00", 2),
        "q2": query(partner, narcotics, "2026-02-10 10:00", 1),
        "q3": query(partner, fraud, "2026-02-28 23:59", 0),
        "q4": query(partner, fraud, "2026-03-01 00:00", 1),
        "q5": query(other, fraud, "2026-01-06 10:00", 1),
        "q6": query(partner, case("fraud", confidential=True), "2026-01-07 10:00", 1),
        "q7": query(partner, fraud, "2026-01-08 10:00", 0, Direction.IN),
    }
    services.request_details(actor, rows["q1"].hit_rows.first())
    gone = services.request_details(actor, rows["q2"].hit_rows.first())
    AssistanceRequest.objects.filter(pk=gone.pk).delete()
    return rows


def read(code: str, **params) -> indicators.Reading:
    indicator = indicators.get(code)
    assert indicator is not None, f"{code} is not registered"
    return indicator.compute({"partner": PARTNER, **params}, START, END)


def test_queries_asked_of_the_partner_count_by_the_day_they_were_asked(asked):
    reading = read("matching.queries")
    assert (reading.value, reading.unit) == (3, "count")  # q1, q2, q3
    assert reading.series == [("2026-01", 1.0), ("2026-02", 2.0)]


def test_hits_count_for_the_period_of_their_query(asked):
    reading = read("matching.hits")
    assert reading.value == 3  # q1's two, q2's one
    assert reading.series == [("2026-01", 2.0), ("2026-02", 1.0)]


def test_only_hits_whose_request_still_exists_count_as_followed_up(asked):
    reading = read("matching.hits_to_requests")
    assert reading.value == 1  # q1's; q2's request was deleted
    assert reading.series == [("2026-01", 1.0), ("2026-02", 0.0)]


def test_a_hit_followed_up_with_a_confidential_request_does_not_count(asked):
    # Issue 14, finding 10: the figure would tell everyone that the request exists.
    request = asked["q1"].hit_rows.exclude(request=None).get().request
    AssistanceRequest.objects.filter(pk=request.pk).update(confidential=True)
    assert read("matching.hits_to_requests").value == 0


def test_categories_narrow_the_count_to_cases_of_those_offences(asked):
    assert read("matching.queries", categories=["narcotics"]).value == 1
    assert read("matching.hits", categories=["fraud"]).value == 2


def test_a_confidential_case_stays_out_of_every_figure(asked):
    codes = ("matching.queries", "matching.hits")
    everyone = {code: read(code, partner="").value for code in codes}
    # Every partner: q1, q2, q3, q5 asked; 2 + 1 + 1 hits. Never q6 (confidential).
    assert everyone == {"matching.queries": 4, "matching.hits": 4}


def test_a_commitment_links_to_the_hits_measured_with_its_partner(asked):
    link = {"code": "matching.hits", "topic": Topic.OTHER, "target": 10}
    measured = progress.measure(link, START, END, PARTNER)
    assert measured is not None
    assert measured.reading.value == 3
    assert measured.label == "Hit/no-hit hits"
