"""A query against a large set is answered by the task worker, outside any
transaction (docs/matching.md 5.2): the inbox only keeps the part, so no
write lock is held while 1,000,000 values are blinded. Every part of one
query is answered against one version of the set, even when the set is built
again midway, and a query whose task stopped is enqueued again by the clock.

The partner is played as in test_flow: through the real inbox, computing its
side with the PSI core."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult
from uuid6 import uuid7

from accord.cases import services as cases
from accord.core.audit import Actor
from accord.core.roles import Role
from accord.matching import answering, psi, sets
from accord.matching.models import AnswererSet, Part, PartKind, Query
from accord.matching.wire import ANSWER_KIND, QUERY_KIND, SET_KIND
from tests.matching.test_flow import answers_to, policy

ASKED = ["ipv4:203.0.113.7", "ipv4:10.1.1.1", "ipv4:192.0.2.99"]
HELD = {"ipv4:203.0.113.7", "ipv4:192.0.2.99"}  # of ASKED, what the `case` fixture holds


def query_in_parts(asked: psi.Query, per_part: int) -> list[dict[str, Any]]:
    wire = psi.points_to_wire(asked.points)
    chunks = psi.chunked(wire, per_part)
    common = {
        "query": str(uuid7()),
        "parts": len(chunks),
        "count": len(wire),
        "type": "ipv4",
        "purpose": "Fraud ring",
        "case": "YY-C-2026-0001",
        "held_set": "",
    }
    return [{**common, "part": n, "points": list(chunk)} for n, chunk in enumerate(chunks)]


def partner_learns(remote, asked: psi.Query, query_id: str) -> set[str]:
    """The partner's final step, from what this node sent it: every answer
    part must name one set, and the set must be the one sent."""
    answers = sorted(answers_to(remote, query_id, ANSWER_KIND), key=lambda a: a["part"])
    assert len({(a["set"], a["set_size"], a["set_parts"]) for a in answers}) == 1
    tags = b"".join(
        base64.b64decode(s["tags"])
        for s in sorted(answers_to(remote, query_id, SET_KIND), key=lambda s: s["part"])
    )
    blinded = psi.BlindedSet.from_bytes(tags)
    assert blinded.digest == answers[0]["set"]
    reblinded = [p for a in answers for p in psi.points_from_wire(a["points"])]
    return {value.decode() for value in asked.matches(reblinded, blinded)}


@pytest.mark.django_db(transaction=True)
def test_a_large_set_is_built_by_the_worker_and_the_answer_is_exact(
    users, case, remote, deliver, settings
):
    settings.MATCHING_INLINE_SET = 2  # the case holds 3 ipv4 values: "large"
    policy(users, remote)
    asked = psi.Query([v.encode() for v in ASKED])
    [body] = query_in_parts(asked, psi.MAX_POINTS_PER_MESSAGE)
    assert deliver(remote, QUERY_KIND, body)["status"] == "applied"

    # The inbox kept the part and enqueued a task; it built nothing.
    query = Query.objects.get(pk=body["query"])
    assert answers_to(remote, body["query"], ANSWER_KIND) == []
    assert not AnswererSet.objects.filter(code="ipv4").exists()
    assert Part.objects.get(query=query, kind=PartKind.QUERY).points == body["points"]
    assert DBTaskResult.objects.filter(id=query.task).exists()

    assert answering.answer_waiting_parts(query.pk) == "done"
    assert partner_learns(remote, asked, body["query"]) == HELD
    query.refresh_from_db()
    assert query.answer_key == "" and not Part.objects.filter(query=query).exclude(points=[])
    # Run again (a retried task): nothing is sent twice.
    assert answering.answer_waiting_parts(query.pk) == "done"
    assert len(answers_to(remote, body["query"], ANSWER_KIND)) == 1


def test_all_parts_of_a_query_use_one_set_even_when_it_is_built_again_midway(
    users, case, remote, deliver, monkeypatch
):
    monkeypatch.setattr(psi, "MAX_POINTS_PER_MESSAGE", 2)
    policy(users, remote)
    asked = psi.Query([v.encode() for v in ASKED])
    first, second = query_in_parts(asked, 2)
    assert deliver(remote, QUERY_KIND, first)["status"] == "applied"
    digest = answers_to(remote, first["query"], ANSWER_KIND)[0]["set"]
    # A value added between the parts: the node's set is built again...
    cases.add_observable(Actor.of(users[Role.INVESTIGATOR]), case, "ipv4", "10.1.1.1")
    assert deliver(remote, QUERY_KIND, second)["status"] == "applied"
    # ...but this query's second part is answered against the version of its first.
    assert partner_learns(remote, asked, first["query"]) == HELD
    assert {a["set"] for a in answers_to(remote, first["query"], ANSWER_KIND)} == {digest}
    assert Query.objects.get(pk=first["query"]).answer_key == ""  # forgotten once all answered
    # The next query sees the new value.
    again = psi.Query([b"ipv4:10.1.1.1"])
    [body] = query_in_parts(again, 2)
    deliver(remote, QUERY_KIND, body)
    assert partner_learns(remote, again, body["query"]) == {"ipv4:10.1.1.1"}


@pytest.mark.django_db(transaction=True)
def test_a_value_removed_while_the_set_is_built_is_not_in_the_set(users, case, monkeypatch):
    removed = case.observables.get(normal="192.0.2.99")
    build = sets._build

    def build_while_removing(code: str) -> Any:
        built = build(code)
        if case.observables.filter(pk=removed.pk).exists():
            cases.remove_observable(Actor.of(users[Role.INVESTIGATOR]), case, removed.pk)
        return built

    monkeypatch.setattr(sets, "_build", build_while_removing)
    row = sets.prepare("ipv4")
    key = psi.Key(bytes.fromhex(row.key))
    held = psi.BlindedSet.from_bytes(bytes(AnswererSet.objects.get(code="ipv4").tags))
    [tag_removed, tag_kept] = [
        psi.tag_of(psi.reblind(key, [psi.hash_to_group(v)])[0])
        for v in (b"ipv4:192.0.2.99", b"ipv4:203.0.113.7")
    ]
    assert tag_kept in held and tag_removed not in held


@pytest.mark.django_db(transaction=True)
def test_the_clock_enqueues_again_a_query_whose_task_stopped(
    users, case, remote, deliver, settings
):
    settings.MATCHING_INLINE_SET = 0
    policy(users, remote)
    asked = psi.Query([v.encode() for v in ASKED])
    [body] = query_in_parts(asked, psi.MAX_POINTS_PER_MESSAGE)
    deliver(remote, QUERY_KIND, body)
    query = Query.objects.get(pk=body["query"])
    assert answering.resume_stalled() == 0  # its task waits for the worker
    DBTaskResult.objects.filter(id=query.task).update(status="FAILED")
    assert answering.resume_stalled() == 1
    query.refresh_from_db()
    assert DBTaskResult.objects.get(id=query.task).status == "READY"
    assert answering.answer_waiting_parts(query.pk) == "done"
    assert partner_learns(remote, asked, body["query"]) == HELD
    assert answering.resume_stalled() == 0
