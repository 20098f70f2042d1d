"""Hit/no-hit between nodes, in process: the partner node is played by the
test through the real inbox (its keys pinned as a Peer row), computing its
side with the PSI core. Policy refusals reach the asker as `matching.refused`
and are audited; a malformed answer is refused through the inbox with its
reason, and nothing of it is stored."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from uuid6 import uuid7

from accord.cases import services as cases
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.envelope import open_body
from accord.federation.models import InboxMessage, MessageStatus, OutboxMessage
from accord.matching import psi, services
from accord.matching.models import AnswererSet, Hit, Part, PeerSet, Query, QueryStatus
from accord.matching.wire import ANSWER_KIND, QUERY_KIND, REFUSED_KIND, SET_KIND
from tests.federation.test_inbox_rejections import RemotePeer
from tests.matching.conftest import OURS

pytestmark = pytest.mark.django_db

THEIRS = ["ipv4:203.0.113.7", "ipv4:192.0.2.99", "ipv4:10.9.9.9"]


def sent(remote: RemotePeer, kind: str) -> list[dict[str, Any]]:
    """What this node queued for the partner, opened as the partner would."""
    return [
        json.loads(open_body(m.body, remote.encryption_key, this_node().encryption_public))
        for m in OutboxMessage.objects.filter(peer=remote.peer, kind=kind).order_by("seq")
    ]


def ask_ipv4(users, case, remote) -> Query:
    ipv4 = [o.pk for o in case.observables.filter(code="ipv4")]
    [query] = services.ask(
        Actor.of(users[Role.INVESTIGATOR]), case, [remote.peer], "Phishing wave", ipv4
    )
    return query


def partner_answer(remote: RemotePeer, answerer: psi.Answerer) -> tuple[dict, dict]:
    """The partner's honest answer to the one query it was sent."""
    [body] = sent(remote, QUERY_KIND)
    points = psi.points_from_wire(body["points"])
    answer = {
        "query": body["query"],
        "part": 0,
        "set": answerer.blinded_set.digest,
        "set_size": len(answerer.blinded_set),
        "set_parts": 1,
        "points": psi.points_to_wire(answerer.reblind(points)),
    }
    tags = base64.b64encode(answerer.blinded_set.to_bytes()).decode()
    the_set = {"query": body["query"], "set": answerer.blinded_set.digest, "part": 0, "tags": tags}
    return answer, the_set


def test_the_asker_learns_exactly_the_shared_values(users, case, remote, deliver):
    query = ask_ipv4(users, case, remote)
    [body] = sent(remote, QUERY_KIND)
    # Three values, padded with random points to the smallest bucket (docs/matching.md 1.7).
    assert body["count"] == psi.MIN_QUERY_BUCKET == len(body["points"])
    assert body["type"] == "ipv4" and body["case"] == case.reference
    assert (query.values_count, query.count) == (3, psi.MIN_QUERY_BUCKET)
    assert not any(value in json.dumps(body) for value in OURS)
    answer, the_set = partner_answer(remote, psi.Answerer.setup([v.encode() for v in THEIRS]))
    assert deliver(remote, ANSWER_KIND, answer)["status"] == "applied"
    assert deliver(remote, SET_KIND, the_set)["status"] == "applied"
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED and query.hits == 2
    assert query.secret == "" and not Part.objects.filter(query=query).exists()
    hits = Hit.objects.filter(query=query)
    assert {h.observable.normal for h in hits} == {"203.0.113.7", "192.0.2.99"}
    assert all(h.reference.startswith("yy.match/") for h in hits)


# ---------------------------------------------------------------- answering


def remote_query(code: str, values: list[str], **overrides: Any) -> dict[str, Any]:
    asked = psi.Query([v.encode() for v in values])
    body = {
        "query": str(uuid7()),
        "part": 0,
        "parts": 1,
        "count": len(asked.points),
        "type": code,
        "purpose": "Fraud ring",
        "case": "YY-C-2026-0001",
        "held_set": "",
        "points": psi.points_to_wire(asked.points),
    }
    return {**body, **overrides}


def policy(users, remote, **limits: Any) -> None:
    fields = {"types": ["ipv4"], "max_values": 10, "per_day": 20, "needs_approval": False}
    services.set_policy(Actor.of(users[Role.CENTRAL_AUTHORITY]), remote.peer, **(fields | limits))


@pytest.mark.parametrize(
    ("limits", "code", "size", "reason"),
    [
        (None, "ipv4", 2, "no_policy"),
        ({}, "email", 2, "type_not_allowed"),
        ({"max_values": 2}, "ipv4", 3, "too_many_values"),
        ({"per_day": 4}, "ipv4", 3, "rate_limited"),
    ],
)
def test_a_query_the_policy_does_not_allow_is_refused_and_audited(
    users, case, remote, deliver, limits, code, size, reason
):
    if limits is not None:
        policy(users, remote, **limits)
    values = [f"{code}:192.0.2.{n}" for n in range(size)]
    if reason == "rate_limited":  # two values asked earlier today count too
        first = remote_query(code, ["ipv4:198.51.100.8", "ipv4:198.51.100.9"])
        assert deliver(remote, QUERY_KIND, first)["status"] == "applied"
    body = remote_query(code, values)
    assert deliver(remote, QUERY_KIND, body)["status"] == "applied"
    refused = [r for r in sent(remote, REFUSED_KIND) if r["query"] == body["query"]]
    assert [r["reason"].split(":")[0] for r in refused] == [reason]
    assert Query.objects.get(pk=body["query"]).status == QueryStatus.REFUSED
    audited = AuditEvent.objects.get(
        action=AuditAction.MATCHING_QUERY_REFUSED.value, target_id=body["query"]
    )
    assert audited.data["reason"] == refused[0]["reason"]
    assert not [a for a in sent(remote, ANSWER_KIND) if a["query"] == body["query"]]


def test_a_query_waits_for_the_central_authority_then_is_answered(users, case, remote, deliver):
    policy(users, remote, needs_approval=True)
    asked = ["ipv4:203.0.113.7", "ipv4:10.1.1.1"]
    body = remote_query("ipv4", asked)
    assert deliver(remote, QUERY_KIND, body)["status"] == "applied"
    query = Query.objects.get(pk=body["query"])
    assert query.status == QueryStatus.AWAITING_APPROVAL and not sent(remote, ANSWER_KIND)
    services.approve(Actor.of(users[Role.CENTRAL_AUTHORITY]), query)
    [answer] = sent(remote, ANSWER_KIND)
    [the_set] = sent(remote, SET_KIND)
    assert len(answer["points"]) == 2 and answer["set_parts"] == 1
    assert not Part.objects.filter(query=query).exclude(points=[]).exists()
    # The partner's own final step: 203.0.113.7 is held here, 10.1.1.1 is not.
    blinded = psi.BlindedSet.from_bytes(base64.b64decode(the_set["tags"]))
    assert blinded.digest == answer["set"] and len(blinded) == answer["set_size"]


def test_only_the_central_authority_approves(users, case, remote, deliver):
    policy(users, remote, needs_approval=True)
    body = remote_query("ipv4", ["ipv4:203.0.113.7"])
    deliver(remote, QUERY_KIND, body)
    query = Query.objects.get(pk=body["query"])
    with pytest.raises(services.MatchingRefused):
        services.approve(Actor.of(users[Role.INVESTIGATOR]), query)
    assert AuditEvent.objects.filter(action=AuditAction.MATCHING_REFUSED.value).exists()
    services.decline(Actor.of(users[Role.CENTRAL_AUTHORITY]), query, "Not proportionate")
    [refused] = sent(remote, REFUSED_KIND)
    assert refused["reason"] == "declined: Not proportionate"


# ---------------------------------------------------------------- a malformed answer


def assert_refused(receipt: dict[str, Any], reason: str, query: Query) -> None:
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith(reason), receipt["reason"]
    message = InboxMessage.objects.get(pk=receipt["message_id"])
    assert message.status == MessageStatus.REFUSED
    assert AuditEvent.objects.filter(
        action=AuditAction.INBOX_REFUSE.value, target_id=message.pk
    ).exists()
    query.refresh_from_db()
    assert query.status == QueryStatus.ASKED and query.secret
    assert not Hit.objects.exists() and not Part.objects.filter(query=query).exists()


def tampered(answer: dict, **changes: Any) -> dict:
    return {**answer, **changes}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda a: tampered(a, points=a["points"][:2]), "count_mismatch"),
        (lambda a: tampered(a, points=[a["points"][0]] * len(a["points"])), "duplicate_point"),
        (
            lambda a: tampered(
                a, points=[base64.b64encode(b"\xff" * 32).decode(), *a["points"][1:]]
            ),
            "invalid_point",
        ),
        (
            lambda a: tampered(a, points=[base64.b64encode(bytes(32)).decode(), *a["points"][1:]]),
            "identity",
        ),
        (lambda a: tampered(a, points=["QUJD", *a["points"][1:]]), "wrong_length"),
        (lambda a: tampered(a, query="01930000-0000-7000-8000-000000000001"), "unknown_query"),
        (lambda a: tampered(a, part=1), "unknown_part"),
        (lambda a: tampered(a, set_parts=0), "bad_set"),
    ],
)
def test_a_malformed_answer_is_refused_and_nothing_is_learnt(
    users, case, remote, deliver, change, reason
):
    query = ask_ipv4(users, case, remote)
    answer, _set = partner_answer(remote, psi.Answerer.setup([v.encode() for v in THEIRS]))
    assert_refused(deliver(remote, ANSWER_KIND, change(answer)), reason, query)


def test_a_set_that_does_not_match_its_digest_is_refused(users, case, remote, deliver):
    query = ask_ipv4(users, case, remote)
    answer, the_set = partner_answer(remote, psi.Answerer.setup([v.encode() for v in THEIRS]))
    assert deliver(remote, ANSWER_KIND, answer)["status"] == "applied"
    forged = psi.Answerer.setup([b"ipv4:1.1.1.1"]).blinded_set.to_bytes()
    receipt = deliver(remote, SET_KIND, {**the_set, "tags": base64.b64encode(forged).decode()})
    assert receipt["status"] == "refused" and receipt["reason"].startswith("bad_set")
    query.refresh_from_db()
    assert query.status == QueryStatus.ASKED and not Hit.objects.exists()


def test_a_replayed_answer_part_and_an_answer_from_a_node_not_asked_are_refused(
    users, case, remote, deliver
):
    query = ask_ipv4(users, case, remote)
    answer, the_set = partner_answer(remote, psi.Answerer.setup([v.encode() for v in THEIRS]))
    other = RemotePeer.create("zz.other")
    receipt = deliver(other, ANSWER_KIND, answer)
    assert receipt["status"] == "refused" and receipt["reason"].startswith("unknown_query")
    assert deliver(remote, ANSWER_KIND, answer)["status"] == "applied"
    receipt = deliver(remote, ANSWER_KIND, answer)
    assert receipt["status"] == "refused" and receipt["reason"].startswith("duplicate_part")
    assert deliver(remote, SET_KIND, the_set)["status"] == "applied"
    receipt = deliver(remote, SET_KIND, the_set)
    assert receipt["status"] == "refused" and receipt["reason"].startswith("not_pending")
    query.refresh_from_db()
    assert query.hits == 2 and Hit.objects.filter(query=query).count() == 2


def test_the_cli_sets_a_policy_and_asks(users, case, remote):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    ca, investigator = users[Role.CENTRAL_AUTHORITY].username, users[Role.INVESTIGATOR].username
    call_command(
        "hits",
        "policy",
        remote.node_id,
        "--types",
        "ipv4",
        "--max",
        "5",
        "--per-day",
        "9",
        "--as",
        ca,
        stdout=out,
    )
    call_command(
        "hits",
        "ask",
        case.reference,
        "--peer",
        remote.node_id,
        "--purpose",
        "Fraud",
        "--type",
        "ipv4",
        "--as",
        investigator,
        stdout=out,
    )
    call_command("hits", "list", "--as", investigator, stdout=out)
    assert "max=5 per_day=9" in out.getvalue() and " asked " in out.getvalue()
    assert len(sent(remote, QUERY_KIND)) == 1


# ---------------------------------------------------------------- a repeat query
# Against an unchanged set (docs/matching.md 1.7, 4) the answerer neither sends
# its blinded set again nor reads it from its database, and the asker neither
# receives it nor writes its copy again: what keeps a repeat query against
# 1,000,000 values under a second (bench/matching.py). A change in the
# answerer's values gives a new set, under a new key, sent again.


def answers_to(remote, query_id: str, kind: str) -> list[dict]:
    return [body for body in sent(remote, kind) if body["query"] == query_id]


def test_the_answerer_sends_its_set_once_and_never_reads_it_for_a_repeat(
    users, case, remote, deliver
):
    policy(users, remote)
    first = remote_query("ipv4", ["ipv4:203.0.113.7", "ipv4:10.1.1.1"])
    assert deliver(remote, QUERY_KIND, first)["status"] == "applied"
    [answer] = answers_to(remote, first["query"], ANSWER_KIND)
    assert answer["set_parts"] == 1 and len(answers_to(remote, first["query"], SET_KIND)) == 1
    key = AnswererSet.objects.get(code="ipv4").key

    repeat = remote_query("ipv4", ["ipv4:203.0.113.7"], held_set=answer["set"])
    with CaptureQueriesContext(connection) as queries:
        assert deliver(remote, QUERY_KIND, repeat)["status"] == "applied"
    [again] = answers_to(remote, repeat["query"], ANSWER_KIND)
    assert again["set"] == answer["set"] and again["set_parts"] == 0
    assert answers_to(remote, repeat["query"], SET_KIND) == []
    assert AnswererSet.objects.get(code="ipv4").key == key  # the same set, the same key
    read = [q["sql"] for q in queries if "matching_answererset" in q["sql"]]
    assert read and not any('"matching_answererset"."tags"' in sql for sql in read)


def test_a_change_in_the_answerer_s_values_sends_a_new_set_under_a_new_key(
    users, case, remote, deliver
):
    policy(users, remote)
    first = remote_query("ipv4", ["ipv4:203.0.113.7"])
    deliver(remote, QUERY_KIND, first)
    [answer] = answers_to(remote, first["query"], ANSWER_KIND)
    key = AnswererSet.objects.get(code="ipv4").key
    cases.add_observable(Actor.of(users[Role.INVESTIGATOR]), case, "ipv4", "192.0.2.200")

    repeat = remote_query("ipv4", ["ipv4:203.0.113.7"], held_set=answer["set"])
    deliver(remote, QUERY_KIND, repeat)
    [again] = answers_to(remote, repeat["query"], ANSWER_KIND)
    assert again["set"] != answer["set"] and again["set_parts"] == 1
    assert len(answers_to(remote, repeat["query"], SET_KIND)) == 1
    assert AnswererSet.objects.get(code="ipv4").key != key


def test_a_removed_value_leaves_the_set_sent_next(users, case, remote, deliver):
    policy(users, remote)
    first = remote_query("ipv4", ["ipv4:203.0.113.7"])
    deliver(remote, QUERY_KIND, first)
    [answer] = answers_to(remote, first["query"], ANSWER_KIND)
    actor = Actor.of(users[Role.INVESTIGATOR])
    removed = case.observables.get(normal="192.0.2.99")  # not the newest of its type
    cases.remove_observable(actor, case, removed.pk)

    repeat = remote_query("ipv4", ["ipv4:203.0.113.7"], held_set=answer["set"])
    deliver(remote, QUERY_KIND, repeat)
    [again] = answers_to(remote, repeat["query"], ANSWER_KIND)
    assert again["set"] != answer["set"] and again["set_parts"] == 1
    [the_set] = answers_to(remote, repeat["query"], SET_KIND)
    blinded = psi.BlindedSet.from_bytes(base64.b64decode(the_set["tags"]))
    assert len(blinded) == again["set_size"] and blinded.digest == again["set"]


def test_the_asker_names_its_copy_and_finds_the_hits_in_it_without_writing_it_again(
    users, case, remote, deliver
):
    answerer = psi.Answerer.setup([v.encode() for v in THEIRS])
    digest = answerer.blinded_set.digest
    results = []
    for number in range(2):
        query = ask_ipv4(users, case, remote)
        body = answers_to(remote, str(query.pk), QUERY_KIND)[0]
        assert body["held_set"] == ("" if number == 0 else digest)
        reblinded = answerer.reblind(psi.points_from_wire(body["points"]))
        answer = {
            "query": body["query"],
            "part": 0,
            "set": digest,
            "set_size": len(answerer.blinded_set),
            "set_parts": 1 if number == 0 else 0,
            "points": psi.points_to_wire(reblinded),
        }
        assert deliver(remote, ANSWER_KIND, answer)["status"] == "applied"
        if number == 0:
            tags = base64.b64encode(answerer.blinded_set.to_bytes()).decode()
            the_set = {"query": body["query"], "set": digest, "part": 0, "tags": tags}
            assert deliver(remote, SET_KIND, the_set)["status"] == "applied"
            received = PeerSet.objects.get(peer=remote.peer, code="ipv4").received_at
        query.refresh_from_db()
        results.append((query.status, query.hits))
    assert results == [(QueryStatus.ANSWERED, 2)] * 2
    kept = PeerSet.objects.get(peer=remote.peer, code="ipv4")
    assert kept.digest == digest and kept.received_at == received  # not written again
    assert Query.objects.filter(status=QueryStatus.ANSWERED).count() == 2


def test_the_asker_records_many_hits_in_a_bounded_number_of_queries(users, case, remote, deliver):
    actor = Actor.of(users[Role.INVESTIGATOR])
    for number in range(40):
        cases.add_observable(actor, case, "ipv4", f"198.18.0.{number}")
    query = ask_ipv4(users, case, remote)
    held = [f"ipv4:198.18.0.{number}" for number in range(40)] + THEIRS
    answer, the_set = partner_answer(remote, psi.Answerer.setup([v.encode() for v in held]))
    assert deliver(remote, ANSWER_KIND, answer)["status"] == "applied"
    with CaptureQueriesContext(connection) as queries:
        assert deliver(remote, SET_KIND, the_set)["status"] == "applied"
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED and query.hits == 42
    hits = Hit.objects.filter(query=query)
    assert {h.observable.normal for h in hits} == {v.partition(":")[2] for v in held} - {"10.9.9.9"}
    sql = [q["sql"] for q in queries]
    assert len([s for s in sql if s.startswith('INSERT INTO "matching_hit"')]) == 1
    assert len([s for s in sql if 'FROM "cases_observable"' in s]) == 1
