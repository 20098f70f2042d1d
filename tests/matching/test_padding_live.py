"""Query padding between two live nodes (docs/matching.md 1.7, 3.2), through
the JSON API, the CLI and the audit log as the officers on both sides see
them. us.test takes at most 13 points per query from cn.test:

- cn asks every partner (the fan-out) about 5 values of a case: they go as
  16 points (the bucket), us refuses them (too_many_values, limit 13), cn
  asks again at once with 13 points, us answers, and the hits are exactly
  the 2 values both hold. us keeps and audits 16 and 13, never 5; cn shows
  5 values sent as 13 points.
- cn then asks (through `accord hits ask`) about 14 values: cut to the
  limit they still do not fit, so they go as 14 points, us refuses, and
  the refusal stands, on both sides' audit.

The nodes are the session's, shared with other tests; us's policy for cn is
put back afterwards. Every value carries a fragment of a fresh uuid."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.assistance.flow import Officers
from tests.live import ensure_peered, wait_until
from tests.matching.test_fan_out import open_case
from tests.matching.test_live import matching_of, ok

pytestmark = pytest.mark.live

LIMIT = 13


def settled(client: httpx.Client, case_id: str, count: int) -> list[dict[str, Any]]:
    """The case's queries once `count` of them exist and none waits (bounded)."""

    def done() -> list[dict[str, Any]] | None:
        rows = matching_of(client, case_id)["queries"]
        if len(rows) == count and all(q["status"] != "asked" for q in rows):
            return rows
        return None

    return wait_until(done, timeout=60, what="the queries to settle")


def audit_of(client: httpx.Client, action: str, query_ids: set[str]) -> list[dict[str, Any]]:
    total = ok(client.get("/api/v1/audit/events", params={"action": action, "limit": 1}))["count"]
    params = {"action": action, "limit": 1000, "offset": max(0, total - 1000)}
    events = ok(client.get("/api/v1/audit/events", params=params))["items"]
    return [e for e in events if e["data"].get("query") in query_ids]


def incoming(client: httpx.Client, reference: str) -> list[dict[str, Any]]:
    rows = ok(client.get("/api/v1/matching/queries", params={"direction": "in"}))["items"]
    return [q for q in rows if q["case_reference"] == reference]


@pytest.fixture(scope="module")
def nodes(two_live_nodes) -> Iterator[tuple[Any, Any, Officers]]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        officer = Officers(stack, cn, us)
        ca = officer(us, "central_authority")
        before = next(
            row["policy"]
            for row in ok(ca.get("/api/v1/matching/policies"))
            if row["peer"] == cn.node_id
        )
        body = {"types": ["domain", "email"], "max_values": LIMIT, "per_day": 100_000}
        ok(ca.put(f"/api/v1/matching/policies/{cn.node_id}", json=body))
        try:
            yield cn, us, officer
        finally:
            if before is not None:
                keep = {k: before[k] for k in ("types", "max_values", "per_day", "needs_approval")}
                ok(ca.put(f"/api/v1/matching/policies/{cn.node_id}", json=keep))


def test_padding_over_the_limit_is_cut_and_the_answerer_sees_only_points(nodes):
    cn, us, officer = nodes
    tag = uuid.uuid4().hex[:10]
    shared = [f"shared-{n}-{tag}.example" for n in range(2)]
    open_case(officer(us, "investigator"), f"Held {tag}", shared)  # us holds these two
    mine = shared + [f"only-cn-{n}-{tag}.example" for n in range(3)]
    investigator = officer(cn, "investigator")
    case = open_case(investigator, f"Asked {tag}", mine)
    body = {"peers": "all", "purpose": "Padding (synthetic test)"}
    [first] = [
        q
        for q in ok(
            investigator.post(f"/api/v1/matching/cases/{case['id']}/queries", json=body), 201
        )
        if q["peer"] == us.node_id
    ]
    assert first["values_count"] == 5 and first["count"] in (16, LIMIT)
    if first["count"] == LIMIT:
        pytest.skip("cn learned us's limit earlier in this session")

    rows = {q["id"]: q for q in settled(investigator, case["id"], 2)}
    refused = rows[first["id"]]
    assert refused["status"] == "refused" and refused["refusal"].startswith("too_many_values")
    assert refused["limit"] == LIMIT and refused["asked_again"]
    again = rows[refused["asked_again"]]
    assert (again["status"], again["values_count"], again["count"]) == ("answered", 5, LIMIT)
    view = matching_of(investigator, case["id"])
    assert {h["normal"] for h in view["hits"]} == set(shared)
    [result] = [a for ask in view["asks"] for a in ask["agencies"] if a["node_id"] == us.node_id]
    assert (result["result"], result["hits"]) == ("hit", 2)

    # The answerer: 16 points refused, 13 answered; never the 5 values.
    us_ca = officer(us, "central_authority")
    seen = {q["id"]: q for q in incoming(us_ca, case["reference"])}
    assert {i: (q["count"], q["status"]) for i, q in seen.items()} == {
        first["id"]: (16, "refused"),
        again["id"]: (LIMIT, "answered"),
    }
    assert all(q["values_count"] is None for q in seen.values())
    auditor = officer(us, "auditor")
    ids = set(seen)
    for action in ("matching:query:refused", "matching:query:receive", "matching:query:answer"):
        for event in audit_of(auditor, action, ids):
            assert event["data"]["count"] in (16, LIMIT) and "values" not in event["data"]
    [refusal] = audit_of(auditor, "matching:query:refused", ids)
    assert refusal["data"]["limit"] == LIMIT
    # The asker's audit: the refusal, then the node's own ask again.
    cn_auditor = officer(cn, "auditor")
    [told] = audit_of(cn_auditor, "matching:query:refused", {first["id"]})
    assert told["data"]["ask_again"] is True and told["data"]["values"] == 5
    [reasked] = audit_of(cn_auditor, "matching:query:ask", {again["id"]})
    assert reasked["actor"] == "system:matching" and reasked["data"]["again_of"] == first["id"]


def test_values_that_do_not_fit_the_limit_are_refused_and_the_refusal_stands(nodes):
    cn, us, officer = nodes
    tag = uuid.uuid4().hex[:10]
    investigator = officer(cn, "investigator")
    case = open_case(investigator, f"Too many {tag}", [f"d{n}-{tag}.example" for n in range(14)])
    out = cn.accord(
        "hits",
        "ask",
        case["reference"],
        "--peer",
        us.node_id,
        "--purpose",
        "Too many",
        "--as",
        "investigator",
    ).stdout
    # 14 values: their bucket is 16; once cn knows us's limit (the test above,
    # when it ran on these nodes), cut to it but never below the values: 14.
    [points] = [int(word[7:]) for word in out.split() if word.startswith("points=")]
    assert "values=14" in out and points in (14, 16)
    [row] = settled(investigator, case["id"], 1)
    assert row["status"] == "refused" and row["asked_again"] is None
    assert row["refusal"].startswith(f"too_many_values: {points} points")
    assert row["limit"] == LIMIT and row["count"] == points
    [seen] = incoming(officer(us, "central_authority"), case["reference"])
    assert (seen["count"], seen["status"]) == (points, "refused")
    [told] = audit_of(officer(cn, "auditor"), "matching:query:refused", {row["id"]})
    assert told["data"]["ask_again"] is False
