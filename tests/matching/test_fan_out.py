"""Hit/no-hit fanned out to every partner the policy allows, on the three
agencies of the session (issue 16): cn.mps asks "all" with one value only
us.dhs holds and one nobody holds; both United States agencies are asked, each
with its own query, and the results read per agency — us.dhs: hit (the hit
names the Department of Homeland Security), us.doj: no hit. us.doj asking
"all" asks the other side only: us.dhs, an agency of its own party, is not
asked, and choosing it is refused.

The nodes are shared: every value carries a fresh uuid fragment, and the
asserts look only at this test's case."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.assistance.flow import Officers
from tests.live import LiveNode, wait_until

pytestmark = pytest.mark.live

PURPOSE = "Fan-out check (synthetic test)"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def open_case(client: httpx.Client, title: str, values: list[str]) -> dict[str, Any]:
    case = ok(client.post("/api/v1/cases", json={"title": title, "title_language": "en"}), 201)
    for value in values:
        path = f"/api/v1/cases/{case['id']}/observables"
        ok(client.post(path, json={"type": "domain", "value": value}), 201)
    return case


def allow(client: httpx.Client, asker: LiveNode) -> None:
    body = {"types": ["domain"], "max_values": 100, "per_day": 10_000, "needs_approval": False}
    ok(client.put(f"/api/v1/matching/policies/{asker.node_id}", json=body))


def settled(client: httpx.Client, case_id: str, nodes: set[str]) -> dict[str, dict[str, Any]]:
    """The case's one ask, per agency, once none of `nodes` is still waiting."""

    def done() -> dict[str, dict[str, Any]] | None:
        view = ok(client.get(f"/api/v1/matching/cases/{case_id}"))
        [ask] = view["asks"]
        by_node = {row["node_id"]: row for row in ask["agencies"]}
        if any(by_node[node]["result"] == "waiting" for node in nodes):
            return None
        return by_node

    return wait_until(done, timeout=90, what="every agency's answer")


def test_one_ask_fans_out_to_every_allowed_agency_and_reads_per_agency(three_agencies):
    cn, doj, dhs = three_agencies
    tag = uuid.uuid4().hex[:10]
    held = f"held-by-dhs-{tag}.example"
    nobody = f"held-by-nobody-{tag}.example"
    with ExitStack() as stack:
        officer = Officers(stack, cn, doj, dhs)
        allow(officer(doj, "central_authority"), cn)
        allow(officer(dhs, "central_authority"), cn)
        open_case(officer(dhs, "investigator"), f"Visa fraud {tag}", [held])
        case = open_case(officer(cn, "investigator"), f"Smuggling {tag}", [held, nobody])

        asker = officer(cn, "investigator")
        path = f"/api/v1/matching/cases/{case['id']}/queries"
        asked = ok(asker.post(path, json={"peers": "all", "purpose": PURPOSE}), 201)
        by_peer = {q["peer"]: q for q in asked}
        # Each allowed agency gets its own query, all under one ask.
        assert {doj.node_id, dhs.node_id} <= set(by_peer)
        assert len(asked) == len(by_peer) and len({q["ask"] for q in asked}) == 1
        assert by_peer[dhs.node_id]["agency"] == "Department of Homeland Security"
        assert not [q for q in asked if q["party"] == "China"]  # never its own party

        results = settled(asker, case["id"], {doj.node_id, dhs.node_id})
        assert results[dhs.node_id]["result"] == "hit"
        assert results[dhs.node_id]["hits"] == 1
        assert results[dhs.node_id]["label"] == "Department of Homeland Security (United States)"
        assert results[doj.node_id]["result"] == "no_hit"
        assert results[doj.node_id]["party"] == "United States"

        hits = ok(asker.get(f"/api/v1/matching/cases/{case['id']}"))["hits"]
        assert [(h["normal"], h["peer"], h["agency"]) for h in hits] == [
            (held, dhs.node_id, "Department of Homeland Security")
        ]

        page = asker.get(f"/cases/{case['id']}/")
        assert page.status_code == 200
        assert f'data-peer="{dhs.node_id}" data-result="hit"' in page.text
        assert f'data-peer="{doj.node_id}" data-result="no_hit"' in page.text
        assert "Department of Homeland Security (United States)" in page.text


def test_an_agency_of_the_own_party_is_not_asked(three_agencies):
    cn, doj, dhs = three_agencies
    tag = uuid.uuid4().hex[:10]
    with ExitStack() as stack:
        officer = Officers(stack, cn, doj, dhs)
        asker = officer(doj, "investigator")
        case = open_case(asker, f"Narcotics {tag}", [f"only-doj-{tag}.example"])
        path = f"/api/v1/matching/cases/{case['id']}/queries"

        refused = asker.post(path, json={"peers": [dhs.node_id], "purpose": PURPOSE})
        assert refused.status_code == 403, refused.text
        assert "own party" in refused.text
        assert ok(asker.get(f"/api/v1/matching/cases/{case['id']}"))["queries"] == []

        asked = ok(asker.post(path, json={"peers": "all", "purpose": PURPOSE}), 201)
        peers = {q["peer"] for q in asked}
        assert cn.node_id in peers and dhs.node_id not in peers
        # cn.mps answers (or refuses, by its own policy): the result is per agency.
        results = settled(asker, case["id"], {cn.node_id})
        assert set(results) == peers
        assert results[cn.node_id]["agency"] == "Ministry of Public Security"
        assert results[cn.node_id]["result"] in ("no_hit", "refused")
