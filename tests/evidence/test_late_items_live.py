"""Evidence added to a request after it went to the partner follows on its
own, on two live nodes: a court order cn adds to its request after the
submission (a small item: JSON chunks through the channel), and a production
us adds after its response (over a mebibyte: raw parts beside the channel).
Nobody presses Send; each arrives once, identical, with both custody chains
on both nodes, and each node shows the transfer."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.assistance.flow import Officers, Pair, attachment, audit_since
from tests.live import ensure_peered, wait_until

pytestmark = pytest.mark.live

MB = 1_048_576


@pytest.fixture(scope="module")
def pair(two_live_nodes) -> Iterator[Pair]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        yield Pair(Officers(stack, cn, us), cn, us)


def add(client: httpx.Client, request_id: str, name: str, data: bytes) -> str:
    added = client.post(
        f"/api/v1/evidence/requests/{request_id}/items",
        files={"file": (name, data, "application/octet-stream")},
        data={"description": f"{name}, added late", "how": "production"},
        timeout=120,
    )
    assert added.status_code == 201, added.text
    return added.json()["id"]


def transfers(client: httpx.Client, item_id: str) -> list[dict]:
    response = client.get(f"/api/v1/evidence/items/{item_id}/transfers")
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else []


def events(client: httpx.Client, item_id: str) -> set[tuple[str, str]]:
    response = client.get(f"/api/v1/evidence/items/{item_id}")
    if response.status_code != 200:
        return set()
    return {(record["node"], record["event"]) for record in response.json()["custody"]}


def arrives(sender: httpx.Client, receiver: httpx.Client, item_id: str, data: bytes) -> None:
    """The item reaches the receiver by itself; both sides show the transfer
    done and hold both chains."""
    [out] = wait_until(
        lambda: [t for t in transfers(sender, item_id) if t["status"] == "done"] or None,
        timeout=120,
        interval=0.25,
        what="the receiver's receipt",
    )
    assert out["direction"] == "out"
    [inward] = transfers(receiver, item_id)
    assert (inward["direction"], inward["status"]) == ("in", "done")
    got = receiver.get(f"/api/v1/evidence/items/{item_id}/content", timeout=120)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    to, by = out["peer"], inward["peer"]  # the receiver's and the sender's node ids
    wanted = {(by, "collected"), (by, "transferred"), (to, "received")}
    for client in (sender, receiver):
        wait_until(
            lambda client=client: wanted <= events(client, item_id),
            timeout=60,
            interval=0.25,
            what="both custody chains on both nodes",
        )
    page = sender.get(f"/evidence/{item_id}/")
    assert page.status_code == 200 and 'data-testid="transfers"' in page.text


def test_items_added_after_the_request_went_follow_on_their_own(pair) -> None:
    cn_investigator = pair.officer(pair.cn, "investigator")
    request_id, _view = pair.new("data_order")
    request_page = cn_investigator.get(f"/requests/{request_id}/")
    assert 'data-testid="evidence-follows"' in request_page.text
    sent = audit_since(pair.officer(pair.cn, "auditor"), "evidence:transfer:start", 0)

    order = b"%PDF-1.4\n% a further court order\n" + request_id.encode()
    order_id = add(cn_investigator, request_id, "further-order.pdf", order)
    arrives(cn_investigator, pair.us_ca, order_id, order)
    started = audit_since(pair.officer(pair.cn, "auditor"), "evidence:transfer:start", len(sent))
    assert [e["target_id"] for e in started] == [order_id]
    assert started[0]["actor"] == "system:evidence"

    pair.step(request_id, "acknowledge", state="received")
    pair.step(request_id, "start_screening", state="screening")
    pair.finding(request_id, "dual_criminality", True, "Fraud in both systems")
    pair.step(request_id, "accept", state="accepted")
    pair.step(request_id, "begin_execution", state="in_execution")
    records = b"account,holder\r\nvoip-1,test\n"
    pair.step(
        request_id,
        "respond",
        {"text": "Records attached"},
        state="responded",
        attachments=[attachment("records.csv", records, "text/csv")],
    )
    late = os.urandom(MB + 12_345)  # over ACCORD_EVIDENCE_BULK_MIN_MB: the bulk way
    late_id = add(pair.us_ca, request_id, "late-production.bin", late)
    arrives(pair.us_ca, pair.cn_ca, late_id, late)
    cn_items = pair.cn_ca.get(f"/api/v1/evidence/requests/{request_id}/items").json()
    assert [i["id"] for i in cn_items].count(late_id) == 1
