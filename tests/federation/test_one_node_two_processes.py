"""One node on several hosts (docs/operations.md, "One node, several hosts"):
each node runs two `accord serve` processes on one PostgreSQL database and one
data directory, behind a load balancer. Notes go out through both processes
of the sender while pings flow; then the sender's process that holds the
channel's lease and one process of the receiver are SIGKILLed mid-delivery.
Every message arrives exactly once and in order, and each node goes on
working through the process that survived."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import psycopg
import pytest

from tests.faultproxy import Balancer
from tests.federation.exactly_once import (
    assert_delivered_exactly_once,
    channel,
    kill_hard,
    queued_total,
)
from tests.live import (
    InboxCounter,
    LiveNode,
    current,
    discard_node,
    make_node,
    peer_nodes,
    signed_in,
    suite_database_url,
    wait_until,
)

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not suite_database_url().startswith(("postgres://", "postgresql://")),
        reason="several `accord serve` processes of one node share a PostgreSQL database; a "
        "node on SQLite runs on one host (docs/operations.md). CI's PostgreSQL leg runs this.",
    ),
]

CN, US = "cn.duo", "us.duo"
USERS = {"node_admin": "node_admin", "investigator": "investigator"}
# A failed attempt (the receiver's process killed under it) is retried soon.
FAST_RETRY = {"ACCORD_FEDERATION_BACKOFF_MAX": "2"}


@dataclass
class Node:
    """One node: two processes and the balancer in front of them."""

    processes: list[LiveNode]
    balancer: Balancer

    @property
    def front(self) -> LiveNode:
        """The node as its peers and users see it: the balancer's address."""
        return replace(self.processes[0], port=self.balancer.port, process=None)

    def alive(self) -> list[LiveNode]:
        return [p for p in self.processes if p.process is not None and p.process.poll() is None]


@pytest.fixture
def nodes(tmp_path) -> Iterator[tuple[Node, Node]]:
    first = [
        make_node(tmp_path, CN, "China", "Ministry of Public Security", **FAST_RETRY),
        make_node(tmp_path, US, "United States", "Department of Justice", **FAST_RETRY),
    ]
    made: list[Node] = []
    try:
        for process in first:
            process.init()
            process.create_users(USERS)
            second = process.another_process()
            for each in (process, second):
                each.start()
            made.append(Node([process, second], Balancer(process.url, second.url).start()))
        peer_nodes(made[0].front, made[1].front)
        yield made[0], made[1]
    finally:
        for node in made:
            node.balancer.stop()
            node.processes[1].stop()
        for process in first:
            discard_node(process)


def lease_holder(node: Node, peer: str) -> LiveNode | None:
    """The process whose deliverer holds the lease on the channel to `peer`
    (its background process is in the serve process's group)."""
    with psycopg.connect(node.processes[0].database_url) as conn:
        row = conn.execute(
            "SELECT lease_owner FROM federation_peer WHERE node_id = %s", [peer]
        ).fetchone()
    pid = (row[0] if row else "").split(":")[1:2]
    for process in node.alive():
        if pid and pid[0].isdigit() and _group_of(int(pid[0])) == process.process.pid:
            return process
    return None


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def send_notes(sender: Node, receiver: str, count: int, label: str) -> list[str]:
    """`count` notes, posted in turn to each live process of the sender (one
    session: sessions live in the shared database). Returns their ids."""
    ids = []
    with signed_in(sender.front, "investigator") as officer:
        processes = sender.alive()
        for n in range(count):
            url = processes[n % len(processes)].url + "/api/v1/federation/notes"
            text = {"subject": f"{label} {n}", "text": f"{label} {n}", "language": "en"}
            sent = officer.post(url, json={"peer": receiver, **text})
            assert sent.status_code == 201, sent.text
            ids.append(sent.json()["message_id"])
    return ids


def test_two_processes_per_node_lose_nothing_when_one_of_each_is_killed(nodes):
    cn, us = nodes
    before = send_notes(cn, US, 10, "before")
    received = InboxCounter(us.front, cn.front, "node_admin")
    backlog = 1000
    killed: list[LiveNode] = []
    try:
        for _attempt in range(3):
            seen = current(received)
            cn.processes[0].accord("peer", "ping", US, "--count", str(backlog), "--size", "512")
            wait_until(
                lambda seen=seen: (received() or 0) > seen + 50, 60, 0.05, "delivery to move"
            )
            time.sleep(0.1)
            holder = wait_until(lambda: lease_holder(cn, US), 10, 0.05, "a lease on the channel")
            kill_hard(holder)
            kill_hard(us.processes[0])
            killed = [holder, us.processes[0]]
            if channel(cn.processes[0], us.processes[0])["outbox_depth"]:
                break  # the kill landed mid-delivery
            for process in killed:  # too late: everything had gone; again, with more
                process.start()
            backlog *= 2
        else:
            pytest.fail("no kill landed while messages were still waiting")
        # The survivors: the sender's deliverer takes the dead one's lease at
        # once, the balancer sends everything to the receiver's live process.
        after = send_notes(cn, US, 6, "after")
        back = send_notes(us, CN, 3, "back")
        assert_delivered_exactly_once(cn.front, us.front, timeout=120)
    finally:
        received.close()
    with signed_in(us.front, "investigator") as reader:
        notes = reader.get("/api/v1/federation/notes", params={"limit": 1000}).json()["items"]
    arrived = [n["message_id"] for n in notes if n["direction"] == "in"]
    assert sorted(arrived) == sorted(before + after)
    wait_until(lambda: channel(us.alive()[0], cn.alive()[0])["outbox_depth"] == 0, 60, 0.5, "back")
    row = channel(us.alive()[0], cn.alive()[0])
    assert row["applied"] == queued_total(us.alive()[0], cn.alive()[0]) and not row["refused"]
    with signed_in(cn.front, "investigator") as reader:
        notes = reader.get("/api/v1/federation/notes", params={"limit": 1000}).json()["items"]
    assert sorted(n["message_id"] for n in notes if n["direction"] == "in") == sorted(back)
    assert all(p.process is None or p.process.poll() is not None for p in killed)
