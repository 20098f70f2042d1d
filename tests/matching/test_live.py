"""Hit/no-hit between two live nodes, through the JSON API as officers would
use it (issue 12): each central authority sets what the other may ask; us asks
cn, cn asks us (whose policy wants each query approved); the hits are exactly
the values both hold; "Request details" gives a draft request naming the hit.
Then the privacy test: no value one node holds and the other does not appears
anywhere on the other node — any table of its database, its log, any file
under its data folder — neither as typed nor in its normal form.

The nodes are the session's, shared with other tests: every value here carries
a fragment of a fresh uuid, so nothing another test holds can match it."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.cases.observables import parse_observable
from tests.assistance.flow import Officers
from tests.live import LiveNode, ensure_peered, wait_until

pytestmark = pytest.mark.live

TYPES = ["domain", "email"]


@dataclass
class Holdings:
    """One node's values for the run, (type, as typed), shared or its own."""

    shared: list[tuple[str, str]]
    own: list[tuple[str, str]]


def holdings(tag: str) -> tuple[Holdings, Holdings]:
    """Values typed differently from their normal form (capitals), so the
    search below looks for both."""
    shared = [("domain", f"Shared-{tag}.Example"), ("email", f"Wei.{tag}@Both-{tag}.Example")]
    cn = Holdings(
        shared=shared,
        own=[("domain", f"Only-CN-{tag}.Example"), ("email", f"Li.{tag}@CN-{tag}.Example")],
    )
    us = Holdings(
        # The same shared values, typed another way: they meet in normal form.
        shared=[(code, value.upper() if code == "domain" else value) for code, value in shared],
        own=[
            ("domain", f"Only-US-{tag}.Example"),
            ("domain", f"Second-US-{tag}.Example"),
            ("email", f"Smith.{tag}@US-{tag}.Example"),
        ],
    )
    return cn, us


def normal(code: str, value: str) -> str:
    return parse_observable(code, value).normal


@dataclass
class Exchange:
    cn: LiveNode
    us: LiveNode
    officer: Officers
    cn_values: Holdings
    us_values: Holdings
    cn_case: str
    us_case: str
    # What cn's asker saw of its queries while us's central authority had not decided yet.
    cn_waiting: list[str]
    us_incoming_waiting: list[dict[str, Any]]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def open_case(client: httpx.Client, title: str, values: Holdings) -> str:
    case = ok(client.post("/api/v1/cases", json={"title": title, "title_language": "en"}), 201)
    for code, value in values.shared + values.own:
        path = f"/api/v1/cases/{case['id']}/observables"
        ok(client.post(path, json={"type": code, "value": value}), 201)
    return case["id"]


def set_policy(client: httpx.Client, peer: LiveNode, *, needs_approval: bool) -> None:
    body = {"types": TYPES, "max_values": 100, "per_day": 1000, "needs_approval": needs_approval}
    ok(client.put(f"/api/v1/matching/policies/{peer.node_id}", json=body))


def ask(client: httpx.Client, case_id: str, peer: LiveNode) -> list[dict[str, Any]]:
    body = {"peers": [peer.node_id], "purpose": "Phishing wave (synthetic test)"}
    asked = ok(client.post(f"/api/v1/matching/cases/{case_id}/queries", json=body), 201)
    assert sorted(q["type"] for q in asked) == TYPES
    return asked


def matching_of(client: httpx.Client, case_id: str) -> dict[str, Any]:
    return ok(client.get(f"/api/v1/matching/cases/{case_id}"))


def answered(client: httpx.Client, case_id: str) -> dict[str, Any]:
    """The case's matching once every query is answered (bounded wait)."""

    def done() -> dict[str, Any] | None:
        view = matching_of(client, case_id)
        statuses = {q["status"] for q in view["queries"]}
        assert "refused" not in statuses, view["queries"]
        return view if statuses == {"answered"} else None

    return wait_until(done, timeout=60, what="the answers")


def waiting_for_approval(client: httpx.Client, asker: LiveNode, reference: str) -> list[dict]:
    def arrived() -> list[dict] | None:
        rows = ok(client.get("/api/v1/matching/queries", params={"direction": "in"}))["items"]
        ours = [q for q in rows if q["peer"] == asker.node_id and q["case_reference"] == reference]
        return ours if len(ours) == len(TYPES) else None

    return wait_until(arrived, timeout=60, what="the queries to wait for approval")


@pytest.fixture(scope="module")
def exchange(two_live_nodes) -> Iterator[Exchange]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    tag = uuid.uuid4().hex[:10]
    cn_values, us_values = holdings(tag)
    with ExitStack() as stack:
        officer = Officers(stack, cn, us)
        set_policy(officer(cn, "central_authority"), us, needs_approval=False)
        set_policy(officer(us, "central_authority"), cn, needs_approval=True)
        cn_case = open_case(officer(cn, "investigator"), f"Phishing {tag}", cn_values)
        us_case = open_case(officer(us, "investigator"), f"Wire fraud {tag}", us_values)

        ask(officer(us, "investigator"), us_case, cn)
        asked = ask(officer(cn, "investigator"), cn_case, us)
        us_ca = officer(us, "central_authority")
        incoming = waiting_for_approval(us_ca, cn, asked[0]["case_reference"])
        seen = matching_of(officer(cn, "investigator"), cn_case)
        cn_waiting = [q["status"] for q in seen["queries"]]
        for query in incoming:
            ok(us_ca.post(f"/api/v1/matching/queries/{query['id']}/approve"))
        yield Exchange(
            cn, us, officer, cn_values, us_values, cn_case, us_case, cn_waiting, incoming
        )


def hit_values(view: dict[str, Any]) -> set[tuple[str, str]]:
    return {(hit["type"], hit["normal"]) for hit in view["hits"]}


def test_the_asker_learns_exactly_the_values_both_nodes_hold(exchange):
    view = answered(exchange.officer(exchange.us, "investigator"), exchange.us_case)
    shared = {(code, normal(code, value)) for code, value in exchange.us_values.shared}
    assert hit_values(view) == shared
    assert sum(q["hits"] for q in view["queries"]) == len(shared)
    assert len({hit["reference"] for hit in view["hits"]}) == len(shared)


def test_a_query_the_partner_must_approve_waits_for_its_central_authority(exchange):
    assert {q["status"] for q in exchange.us_incoming_waiting} == {"awaiting_approval"}
    assert set(exchange.cn_waiting) == {"asked"}
    view = answered(exchange.officer(exchange.cn, "investigator"), exchange.cn_case)
    assert hit_values(view) == {
        (code, normal(code, value)) for code, value in exchange.cn_values.shared
    }
    incoming = ok(
        exchange.officer(exchange.us, "central_authority").get(
            "/api/v1/matching/queries", params={"direction": "in"}
        )
    )["items"]
    decided = {q["id"]: q for q in incoming}
    for query in exchange.us_incoming_waiting:
        assert decided[query["id"]]["status"] == "answered"
        assert decided[query["id"]]["decided_by"] == "central_authority"


def test_request_details_opens_a_draft_naming_the_hit(exchange):
    investigator = exchange.officer(exchange.us, "investigator")
    view = answered(investigator, exchange.us_case)
    hit = next(h for h in view["hits"] if h["type"] == "domain")
    assert hit["request_details"] is True
    draft = ok(investigator.post(f"/api/v1/matching/hits/{hit['id']}/request"), 201)
    request = ok(investigator.get(f"/api/v1/assistance/requests/{draft['id']}"))
    assert request["reference"] == draft["reference"]
    assert request["state"] == "draft"
    assert request["requested_node"] == exchange.cn.node_id
    assert hit["reference"] in request["content"]["summary"]
    assert hit["value"] in request["content"]["summary"]
    assert request["case"]["id"] == exchange.us_case


# The privacy test ----------------------------------------------------------


def needles(values: Holdings) -> set[bytes]:
    """A node's own values, as typed and in normal form, lower-cased (the
    search is case-blind)."""
    found = set()
    for code, value in values.own:
        found |= {value.lower().encode(), normal(code, value).lower().encode()}
    return found


def found_in(blob: bytes, wanted: set[bytes]) -> set[bytes]:
    lowered = blob.lower()
    return {needle for needle in wanted if needle in lowered}


def cell_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def database_rows(node: LiveNode) -> Iterator[tuple[str, bytes]]:
    """Every table's every row, each cell as bytes, read without changing anything."""
    if node.database_url:
        import psycopg

        with psycopg.connect(node.database_url) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            ).fetchall()
            for (table,) in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (catalogue names)
                    yield table, b"\x00".join(cell_bytes(cell) for cell in row)
        return
    path = node.data_dir / "accord.sqlite3"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for (table,) in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (catalogue names)
                yield table, b"\x00".join(cell_bytes(cell) for cell in row)
    finally:
        conn.close()


def leaks(node: LiveNode, wanted: set[bytes]) -> list[str]:
    places = []
    for table, row in database_rows(node):
        places += [f"table {table}: {n.decode()}" for n in found_in(row, wanted)]
    files = [node.log_path, *(p for p in Path(node.data_dir).rglob("*") if p.is_file())]
    for path in files:
        places += [f"file {path}: {n.decode()}" for n in found_in(path.read_bytes(), wanted)]
    return places


def test_no_value_one_node_holds_alone_reaches_the_other(exchange):
    # Both ways answered, and the follow-up draft made, before looking.
    answered(exchange.officer(exchange.us, "investigator"), exchange.us_case)
    answered(exchange.officer(exchange.cn, "investigator"), exchange.cn_case)
    us_own, cn_own = needles(exchange.us_values), needles(exchange.cn_values)
    # The search itself works: each node holds its own values.
    assert found_in(b"".join(row for _, row in database_rows(exchange.us)), us_own) == us_own
    assert found_in(b"".join(row for _, row in database_rows(exchange.cn)), cn_own) == cn_own
    assert leaks(exchange.cn, us_own) == []
    assert leaks(exchange.us, cn_own) == []
