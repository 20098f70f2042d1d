"""Query padding, in process (docs/matching.md 1.7 and 3.2): the asker pads
each query with random points to a bucket by default, so the answerer sees
and keeps only the bucket; the hits stay exact, in one part or several. The
padding counts against the answerer's limits, whose refusal says how many
points it would take (`limit`): the asker asks again at once, its padding
cut to that limit, when its values alone fit, remembers the per-query limit
for its next asks, and lets the refusal stand when the values do not fit.
The partner node is played by the test through the real inbox."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accord.core.audit import AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.matching import api, indicators, psi, results
from accord.matching.models import Hit, Query, QueryStatus
from accord.matching.wire import ANSWER_KIND, QUERY_KIND, REFUSED_KIND, SET_KIND
from tests.matching.test_flow import THEIRS, ask_ipv4, policy, remote_query, sent
from tests.matching.test_pages import page_of

pytestmark = pytest.mark.django_db

SHARED = {"203.0.113.7", "192.0.2.99"}  # the case's IPv4 values THEIRS holds too


def answerer() -> psi.Answerer:
    return psi.Answerer.setup([v.encode() for v in THEIRS], pad=True)


def answer_all(remote, deliver, body_of: list[dict[str, Any]], partner: psi.Answerer) -> None:
    """The partner answers every part of one query, then sends its set."""
    blinded = partner.blinded_set
    for body in body_of:
        answer = {
            "query": body["query"],
            "part": body["part"],
            "set": blinded.digest,
            "set_size": len(blinded),
            "set_parts": 1,
            "points": psi.points_to_wire(partner.reblind(psi.points_from_wire(body["points"]))),
        }
        assert deliver(remote, ANSWER_KIND, answer)["status"] == "applied"
    tags = base64.b64encode(blinded.to_bytes()).decode()
    the_set = {"query": body_of[0]["query"], "set": blinded.digest, "part": 0, "tags": tags}
    assert deliver(remote, SET_KIND, the_set)["status"] == "applied"


def parts_of(remote, query: Query) -> list[dict[str, Any]]:
    return [b for b in sent(remote, QUERY_KIND) if b["query"] == str(query.pk)]


def hits_of(query: Query) -> set[str]:
    return {hit.observable.normal for hit in Hit.objects.filter(query=query)}


def audited(action: AuditAction, query: Query) -> dict[str, Any]:
    return AuditEvent.objects.get(action=action.value, target_id=str(query.pk)).data


# ---------------------------------------------------------------- asking


def test_a_query_is_padded_to_a_bucket_and_its_hits_are_exact(users, case, remote, deliver):
    query = ask_ipv4(users, case, remote)
    [body] = parts_of(remote, query)
    assert body["count"] == len(body["points"]) == psi.MIN_QUERY_BUCKET
    assert (query.values_count, query.count, query.padding) == (3, 16, 13)
    asked = audited(AuditAction.MATCHING_ASK, query)
    assert (asked["values"], asked["count"]) == (3, 16)
    answer_all(remote, deliver, [body], answerer())
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED and query.hits == 2
    assert hits_of(query) == SHARED
    assert audited(AuditAction.MATCHING_RESULT, query)["hits"] == 2


@override_settings(MATCHING_PAD_QUERIES=False)
def test_a_node_may_turn_padding_off(users, case, remote, deliver):
    query = ask_ipv4(users, case, remote)
    [body] = parts_of(remote, query)
    assert body["count"] == len(body["points"]) == 3
    assert (query.values_count, query.count, query.padding) == (3, 3, 0)
    answer_all(remote, deliver, [body], answerer())
    query.refresh_from_db()
    assert hits_of(query) == SHARED


def test_a_padded_query_in_several_parts_keeps_its_hits_exact(
    users, case, remote, deliver, monkeypatch
):
    monkeypatch.setattr(psi, "MAX_POINTS_PER_MESSAGE", 5)
    query = ask_ipv4(users, case, remote)
    bodies = parts_of(remote, query)
    assert [len(b["points"]) for b in bodies] == [5, 5, 5, 1]
    assert {b["count"] for b in bodies} == {16} and query.parts == 4
    answer_all(remote, deliver, bodies, answerer())
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED and hits_of(query) == SHARED


def refuse(remote, deliver, query: Query, reason: str, limit: int) -> None:
    body = {"query": str(query.pk), "reason": reason, "limit": limit}
    assert deliver(remote, REFUSED_KIND, body)["status"] == "applied"


def test_refused_for_its_padding_alone_the_query_is_asked_again_within_the_limit(
    users, case, remote, deliver
):
    query = ask_ipv4(users, case, remote)
    refuse(remote, deliver, query, "too_many_values: 16 points asked, at most 4 per query", 4)
    query.refresh_from_db()
    assert query.status == QueryStatus.REFUSED and query.limit == 4 and query.asked_again
    again = Query.objects.get(pk=query.asked_again)
    [body] = parts_of(remote, again)
    assert body["count"] == again.count == 4 and again.values_count == 3
    assert again.ask == query.ask and again.created_by == query.created_by
    assert audited(AuditAction.MATCHING_QUERY_REFUSED, query)["ask_again"] is True
    reasked = audited(AuditAction.MATCHING_ASK, again)
    assert reasked["again_of"] == str(query.pk) and reasked["count"] == 4
    # The ask reads as waiting for the new query, not as refused.
    [ask] = results.per_agency([query, again])
    assert [a.outcome for a in ask.agencies] == [results.WAITING]
    answer_all(remote, deliver, [body], answerer())
    again.refresh_from_db()
    assert hits_of(again) == SHARED
    [ask] = results.per_agency([query, again])
    assert [(a.outcome, a.hits) for a in ask.agencies] == [(results.HIT, 2)]
    # The indicator counts the ask's query once: the one that replaced it.
    today = timezone.now().date()
    assert indicators.queries_asked({}, today, today).count == 1
    # The limit is remembered: the next ask sends no more than 4 points at once.
    later = ask_ipv4(users, case, remote)
    assert later.count == 4 and [len(b["points"]) for b in parts_of(remote, later)] == [4]


def test_refused_over_the_daily_limit_with_room_for_the_values_it_is_asked_again(
    users, case, remote, deliver
):
    query = ask_ipv4(users, case, remote)
    reason = "rate_limited: 30 points asked in the last 24 hours, 16 more would pass 40"
    refuse(remote, deliver, query, reason, 10)
    query.refresh_from_db()
    assert Query.objects.get(pk=query.asked_again).count == 10
    # A daily allowance is not a per-query limit: the next ask pads fully.
    assert ask_ipv4(users, case, remote).count == 16


@pytest.mark.parametrize(
    ("reason", "limit"),
    [
        ("too_many_values: 16 points asked, at most 2 per query", 2),
        ("declined: Not proportionate", 0),
        ("type_not_allowed: ipv4 may not be asked (allowed: none)", 0),
    ],
)
def test_a_refusal_the_values_themselves_meet_stands(users, case, remote, deliver, reason, limit):
    query = ask_ipv4(users, case, remote)
    refuse(remote, deliver, query, reason, limit)
    query.refresh_from_db()
    assert query.status == QueryStatus.REFUSED and query.refusal == reason
    assert query.asked_again is None and len(sent(remote, QUERY_KIND)) == 1
    assert audited(AuditAction.MATCHING_QUERY_REFUSED, query)["ask_again"] is False
    [ask] = results.per_agency([query])
    assert [a.outcome for a in ask.agencies] == [results.REFUSED]


def test_the_askers_api_and_pages_show_values_and_points(users, case, remote, deliver):
    query = ask_ipv4(users, case, remote)
    refuse(remote, deliver, query, "too_many_values: 16 points asked, at most 4 per query", 4)
    query.refresh_from_db()
    shown = api.query_out(query)
    assert (shown["values_count"], shown["count"], shown["limit"]) == (3, 16, 4)
    assert shown["asked_again"] == query.asked_again
    investigator = users[Role.INVESTIGATOR]
    page = page_of(investigator, reverse("cases:detail", args=[case.pk]))
    assert "sent as 16 points" in page and "sent as 4 points" in page
    assert "asked again at once as 4 points" in page
    assert "发送为 16 个点" in page_of(investigator, reverse("matching:home"), "zh-hans")


# ---------------------------------------------------------------- answering


def test_the_answerer_counts_and_keeps_only_the_points(users, case, remote, deliver):
    policy(users, remote, max_values=10, per_day=100)
    body = remote_query("ipv4", ["ipv4:203.0.113.7", "ipv4:10.0.0.1"], count=16)
    body["points"] = psi.points_to_wire(
        psi.Query.padded([b"ipv4:203.0.113.7", b"ipv4:10.0.0.1"]).points
    )
    assert deliver(remote, QUERY_KIND, body)["status"] == "applied"
    [refused] = [r for r in sent(remote, REFUSED_KIND) if r["query"] == body["query"]]
    assert refused["limit"] == 10 and refused["reason"].startswith("too_many_values: 16 points")
    incoming = Query.objects.get(pk=body["query"])
    assert (incoming.count, incoming.values_count, incoming.padding) == (16, 0, 0)
    data = audited(AuditAction.MATCHING_QUERY_REFUSED, incoming)
    assert (data["count"], data["limit"]) == (16, 10) and "values" not in data
    assert api.query_out(incoming)["values_count"] is None


def test_the_answerers_daily_refusal_gives_what_is_left(users, case, remote, deliver):
    policy(users, remote, max_values=16, per_day=20)
    first = remote_query("ipv4", [f"ipv4:198.51.100.{n}" for n in range(12)])
    assert deliver(remote, QUERY_KIND, first)["status"] == "applied"
    second = remote_query("ipv4", [f"ipv4:192.0.2.{n}" for n in range(16)])
    assert deliver(remote, QUERY_KIND, second)["status"] == "applied"
    [refused] = [r for r in sent(remote, REFUSED_KIND) if r["query"] == second["query"]]
    assert refused["reason"].startswith("rate_limited: 12 points") and refused["limit"] == 8
