"""Two live nodes: an evidence item of 200 MB goes from the requesting node
to the requested one the bulk way (signed offer, raw sealed parts over signed
PUTs) over a link that drops requests and answers, while the receiver is
killed twice in the middle. It arrives once, identical, with both custody
chains on both sides, and no node process grows with the item.

Nodes of this module's own (cn.evx, us.evx), since one is killed; cn reaches
us through a fault proxy, parts and channel alike."""

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
# Parts of 2 MiB: a hundred requests, so the faults and the kills land mid-way.
FAST_RETRY = {
    "ACCORD_FEDERATION_BACKOFF_MAX": "2",
    "ACCORD_CLOCK_SECONDS": "2",
    "ACCORD_EVIDENCE_PART_MB": "2",
}
MB = 1_048_576
SIZE = 200 * MB
# Generous: a node process is 150-280 MB of Python, Django and the
# allocator's arenas, and a pusher holds a few parts of 2 MiB; one that held
# the item (200 MB) would be over 350 MB.
RSS_BOUND_KB = 320 * 1024
NO_VIEW: dict = {"custody": []}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[tuple[LiveNode, LiveNode, FaultProxy]]:
    root = tmp_path_factory.mktemp("evidence-transfer")
    cn = make_node(root, "cn.evx", "China", "Ministry of Public Security", **FAST_RETRY)
    us = make_node(root, "us.evx", "United States", "Department of Justice", **FAST_RETRY)
    # Faults on the channel's messages and on the part requests alike: a
    # request dropped, or applied and its answer lost (then sent again).
    proxy = FaultProxy(
        us.url, seed=2, drop_request=0.25, drop_response=0.2, fault_methods=("POST", "PUT", "GET")
    )
    try:
        for node in (cn, us):
            node.init()
            node.create_users({role: role for role in ROLES})
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


def write_item(path: Path) -> str:
    """SIZE random bytes in a file (the test process holds 1 MiB at a time); their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(SIZE // MB):
            block = os.urandom(MB)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def kill_when(sender: httpx.Client, item_id: str, parts: int, us: LiveNode, after: int) -> int:
    """Kill the receiver once more than `after` parts are confirmed, and
    restart it; returns the count it was killed at."""
    done = wait_until(
        lambda: (n := outgoing(sender, item_id)["done"]) > after and n,
        timeout=300,
        interval=0.05,
        what=f"more than {after} parts to arrive",
    )
    peaks.update(node_peaks(us))
    kill_hard(us)
    assert done < parts, "the transfer ended before the receiver could be killed"
    us.start()
    return done


peaks: dict[str, int] = {}


def node_peaks(node: LiveNode) -> dict[str, int]:
    """Peak RSS by node, process id and what the process runs."""
    found = {}
    for pid, kb in peak_rss_kb(node).items():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3:4]
        except OSError:
            command = []
        found[f"{node.node_id}:{pid}:{b''.join(command).decode(errors='replace')}"] = kb
    return found


def test_an_item_survives_a_lossy_link_and_a_receiver_killed_twice(nodes, tmp_path) -> None:
    cn, us, proxy = nodes
    path = tmp_path / "item"
    digest = write_item(path)
    with ExitStack() as stack:
        officer = Officers(stack, cn, us)
        pair = Pair(officer, cn, us)
        request_id, _view = pair.new("data_order")
        sender = officer(cn, "investigator")
        proxy.set_faults(True)
        # Added after the submission, the item goes to us by itself (evidence/follow.py).
        with path.open("rb") as handle:
            uploaded = sender.post(
                f"/api/v1/evidence/requests/{request_id}/items",
                files={"file": ("court-order.pdf", handle, "application/pdf")},
                data={"description": "Court order", "how": "issued", "by": "Judge Wang"},
                timeout=300,
            )
        assert uploaded.status_code == 201, uploaded.text
        item_id = uploaded.json()["id"]
        path.unlink()

        again = sender.post(f"/api/v1/evidence/items/{item_id}/send", json={})
        assert again.status_code == 409, again.text  # already on its way
        parts = outgoing(sender, item_id)["chunks"]
        assert parts == 100  # 200 MiB in parts of two stored chunks (2 MiB and two tags)

        # Killed twice: once some parts are in, again once a few more are.
        first = kill_when(sender, item_id, parts, us, after=0)
        kill_when(sender, item_id, parts, us, after=first + 2)
        done = wait_until(
            lambda: (row := outgoing(sender, item_id))["status"] == "done" and row,
            timeout=600,
            interval=0.5,
            what="the receiver's receipt",
        )
        proxy.set_faults(False)
        assert done["done"] == parts

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
        peaks.update(node_peaks(node))
    assert len(peaks) >= 3 * 5, peaks  # every process of each node, and of each receiver run
    assert max(peaks.values()) < RSS_BOUND_KB, peaks
