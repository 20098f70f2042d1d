"""Two live nodes: an evidence item of 20 MB goes from the requesting node to
the requested one over a link that drops requests and answers, while the
receiver is killed once in the middle. It arrives once, identical, with both
custody chains on both sides, and no node process grows with the item.

Nodes of this module's own (cn.evx, us.evx), since one is killed; cn reaches
us through a fault proxy. The issue's 200 MB with two kills is the
benchmark's measure (bench/evidence.py), not CI's."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.assistance.flow import Officers, Pair, audit_since
from tests.faultproxy import FaultProxy
from tests.live import LiveNode, discard_node, make_node, peer_nodes, wait_until

pytestmark = pytest.mark.live

ROLES = ("investigator", "prosecutor", "central_authority", "auditor")
FAST_RETRY = {"ACCORD_FEDERATION_BACKOFF_MAX": "2", "ACCORD_CLOCK_SECONDS": "2"}
SIZE = 20 * 1_048_576
# Generous: a node process is ~100 MB of Python and Django; the point is that
# none holds the item (20 MB here, 2 GB in the benchmark) or a large part of it.
RSS_BOUND_KB = 400 * 1024
NO_VIEW: dict = {"custody": []}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[tuple[LiveNode, LiveNode, FaultProxy]]:
    root = tmp_path_factory.mktemp("evidence-transfer")
    cn = make_node(root, "cn.evx", "China", "Ministry of Public Security", **FAST_RETRY)
    us = make_node(root, "us.evx", "United States", "Department of Justice", **FAST_RETRY)
    # Seed 2: of the first requests under faults, the 2nd and 4th lose their
    # answer (applied, resent, a duplicate) and the 3rd is dropped.
    proxy = FaultProxy(us.url, seed=2, drop_request=0.25, drop_response=0.2)
    try:
        for node in (cn, us):
            node.init()
            for role in ROLES:
                node.create_user(role, role)
            node.start()
        proxy.start()
        peer_nodes(cn, us, b_url=proxy.url)
        yield cn, us, proxy
    finally:
        proxy.stop()
        for node in (cn, us):
            discard_node(node)


def kill_hard(node: LiveNode) -> None:
    assert node.process is not None and node.process.poll() is None
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait(timeout=15)


def peak_rss_kb(node: LiveNode) -> dict[int, int]:
    """VmHWM (peak resident set) of every process of the node's process group."""
    assert node.process is not None
    group = node.process.pid
    peaks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) != group:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[int(entry.name)] = int(line.split()[1])
    return peaks


def item_view(client: httpx.Client, item_id: str) -> dict | None:
    response = client.get(f"/api/v1/evidence/items/{item_id}")
    return response.json() if response.status_code == 200 else None


def outgoing(client: httpx.Client, item_id: str) -> dict:
    """The transfer's progress (a read that writes no custody record)."""
    response = client.get(f"/api/v1/evidence/items/{item_id}/transfers")
    assert response.status_code == 200, response.text
    [row] = [t for t in response.json() if t["direction"] == "out"]
    return row


def events(view: dict) -> set[tuple[str, str]]:
    return {(record["node"], record["event"]) for record in view["custody"]}


def test_an_item_survives_a_lossy_link_and_a_killed_receiver(nodes) -> None:
    cn, us, proxy = nodes
    data = os.urandom(SIZE)
    digest = hashlib.sha256(data).hexdigest()
    with ExitStack() as stack:
        officer = Officers(stack, cn, us)
        pair = Pair(officer, cn, us)
        request_id, _view = pair.new("data_order")
        sender = officer(cn, "investigator")
        uploaded = sender.post(
            f"/api/v1/evidence/requests/{request_id}/items",
            files={"file": ("court-order.pdf", data, "application/pdf")},
            data={"description": "Court order", "how": "issued", "by": "Judge Wang"},
            timeout=120,
        )
        assert uploaded.status_code == 201, uploaded.text
        item_id = uploaded.json()["id"]

        proxy.set_faults(True)
        started = sender.post(f"/api/v1/evidence/items/{item_id}/send", json={})
        assert started.status_code == 202, started.text
        chunks = outgoing(sender, item_id)["chunks"]
        assert chunks == 40

        # Kill the receiver once some chunks are in and some are not.
        progress = wait_until(
            lambda: outgoing(sender, item_id)["done"] or None,
            timeout=120,
            interval=0.05,
            what="the first chunks to arrive",
        )
        kill_hard(us)
        assert progress < chunks, "the transfer ended before the receiver could be killed"
        us.start()
        done = wait_until(
            lambda: (row := outgoing(sender, item_id))["status"] == "done" and row,
            timeout=300,
            interval=0.5,
            what="the receiver's receipt",
        )
        proxy.set_faults(False)
        assert done["done"] == chunks

        receiver = officer(us, "central_authority")
        here = item_view(receiver, item_id)
        assert here is not None and here["sha256"] == digest and here["size"] == SIZE
        with receiver.stream("GET", f"/api/v1/evidence/items/{item_id}/content") as response:
            assert response.status_code == 200
            hashed = hashlib.sha256()
            for part in response.iter_bytes():
                hashed.update(part)
        assert hashed.hexdigest() == digest

        # Both chains on both sides: the sender's 'transferred' follows its receipt.
        wanted = {
            ("cn.evx", "collected"),
            ("cn.evx", "transferred"),
            ("us.evx", "received"),
            ("us.evx", "downloaded"),
        }
        for client in (sender, receiver):
            wait_until(
                lambda client=client: wanted <= events(item_view(client, item_id) or NO_VIEW),
                timeout=60,
                interval=0.5,
                what="both custody chains on both nodes",
            )

        received = audit_since(officer(us, "auditor"), "evidence:transfer:received", 0)
        assert [e["target_id"] for e in received].count(item_id) == 1
    faults = proxy.snapshot()
    assert faults["drop_request"] and faults["drop_response"], faults
    for node in (cn, us):
        peaks = peak_rss_kb(node)
        assert peaks and max(peaks.values()) < RSS_BOUND_KB, (node.node_id, peaks)
