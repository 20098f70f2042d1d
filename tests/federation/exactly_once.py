"""Counting a federation channel after an ordeal (tests of the channel's
reliability): every queued message applied exactly once, in seq order, the
same messages on both sides, both audit chains intact."""

from __future__ import annotations

import itertools
import os
import signal
from datetime import datetime

import httpx

from tests.live import LiveNode, outbox_status, signed_in, wait_until

KILL_WAIT_SECONDS = 15


def channel(sender: LiveNode, receiver: LiveNode) -> dict:
    return outbox_status(sender)[receiver.node_id]


def queued_total(sender: LiveNode, receiver: LiveNode) -> int:
    return int(channel(sender, receiver)["next_out_seq"]) - 1


def kill_hard(node: LiveNode) -> None:
    """SIGKILL the node's whole process group: gunicorn, worker, deliverer."""
    assert node.process is not None and node.process.poll() is None
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait(timeout=KILL_WAIT_SECONDS)
    # The group's other members die with it; wait until the port is free.
    wait_until(lambda: not answers(node), timeout=KILL_WAIT_SECONDS, what=f"{node.node_id} to go")


def answers(node: LiveNode) -> bool:
    try:
        httpx.get(node.url + "/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def _all_pages(client: httpx.Client, path: str, peer: str) -> list[dict]:
    items: list[dict] = []
    while True:
        response = client.get(path, params={"peer": peer, "limit": 1000, "offset": len(items)})
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["count"]:
            return items


def assert_delivered_exactly_once(
    sender: LiveNode, receiver: LiveNode, timeout: float, admin: str = "node_admin"
) -> int:
    """Wait until the sender's outbox to `receiver` is empty, then count: seqs
    1..N each once on the receiver, applied in seq order, same messages as the
    sender's outbox, nothing refused, both audit chains intact. Returns N."""
    total = queued_total(sender, receiver)

    def drained() -> dict | None:
        row = channel(sender, receiver)
        return row if row["outbox_depth"] == 0 else None

    row = wait_until(
        drained, timeout=timeout, interval=1.0, what=f"{sender} to drain its outbox to {receiver}"
    )
    assert row["applied"] == total, row
    assert row["refused"] == 0, row
    assert not row["blocked"], row

    with signed_in(receiver, admin) as client:
        inbox = _all_pages(client, "/api/v1/federation/inbox", sender.node_id)
    with signed_in(sender, admin) as client:
        outbox = _all_pages(client, "/api/v1/federation/outbox", receiver.node_id)

    seqs = sorted(item["seq"] for item in inbox)
    assert len(seqs) == len(set(seqs)), "a seq was applied twice"
    missing = sorted(set(range(1, total + 1)) - set(seqs))
    extra = sorted(set(seqs) - set(range(1, total + 1)))
    assert not missing and not extra, f"missing seqs {missing[:20]}, unexpected {extra[:20]}"
    assert len({item["id"] for item in inbox}) == total, "a message id was applied twice"
    assert {item["status"] for item in inbox} == {"applied"}

    by_seq = sorted(inbox, key=lambda item: item["seq"])
    times = [datetime.fromisoformat(item["received_at"]) for item in by_seq]
    # A batch is applied at one instant, so equal times are fine; going back is not.
    backwards = [
        by_seq[i + 1]["seq"] for i, (a, b) in enumerate(itertools.pairwise(times)) if b < a
    ]
    assert not backwards, f"received_at goes back in time at seqs {backwards[:20]}"

    sent = {item["seq"]: item for item in outbox}
    assert sorted(sent) == list(range(1, total + 1))
    for item in by_seq:
        assert item["id"] == sent[item["seq"]]["id"], f"seq {item['seq']} is another message"
        assert sent[item["seq"]]["status"] == "applied"
        assert sent[item["seq"]]["receipt"]["received_at"] == item["receipt"]["received_at"]

    receiver_side = channel(receiver, sender)
    assert receiver_side["received"] == total, receiver_side
    assert receiver_side["next_in_seq"] == total + 1, receiver_side

    for node in (sender, receiver):
        verdict = node.accord("audit", "verify", check=False)
        assert verdict.returncode == 0 and verdict.stdout.startswith("OK"), (
            f"audit of {node.node_id}: {verdict.stdout}{verdict.stderr}"
        )
    return total
