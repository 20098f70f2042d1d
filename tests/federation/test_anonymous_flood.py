"""A flood of junk at the inbox (issue 14, finding 2): valid messages keep
flowing between two live nodes, and the junk is counted, not kept: the rows
and bytes it adds are bounded, it adds no audit event, and no rejection is
recorded under the sender a stranger wrote. Bounded in count and in time."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from uuid6 import uuid7

from tests.live import LiveNode, ensure_peered, signed_in, wait_until

pytestmark = pytest.mark.live

FLOOD_REQUESTS = 2000
FLOOD_SECONDS = 90  # the flood stops at whichever bound comes first
FLOOD_THREADS = 4
VALID_NOTES = 5


def query(node: LiveNode, sql: str) -> list[tuple]:
    """Read the node's own database directly, as its administrator would."""
    if node.database_url:
        import psycopg

        with psycopg.connect(node.database_url) as conn:
            return list(conn.execute(sql).fetchall())
    with sqlite3.connect(node.data_dir / "accord.sqlite3") as conn:
        return list(conn.execute(sql).fetchall())


def table_bytes(node: LiveNode) -> dict[str, int]:
    """Bytes each table and index holds (free pages left out)."""
    if node.database_url:
        sql = "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables"
    else:
        sql = "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"
    return {str(name): int(size) for name, size in query(node, sql)}


def figures(node: LiveNode) -> dict[str, int]:
    return {
        "audit_events": query(node, "SELECT COUNT(*) FROM core_auditevent")[0][0],
        "tally_rows": query(node, "SELECT COUNT(*) FROM core_failuretally")[0][0],
        **{f"bytes:{name}": size for name, size in table_bytes(node).items()},
    }


def junk(claimed_sender: str, recipient: str) -> bytes:
    """An envelope that names a real peer as its sender but is not signed by it."""
    envelope = {
        "v": 1,
        "id": str(uuid7()),
        "kind": "core.note",
        "sender": claimed_sender,
        "recipient": recipient,
        "seq": 1,
        "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "in_reply_to": None,
        "body": "AAAA" * 64,
        "sig": "AAAA" * 22,
    }
    return json.dumps({"envelopes": [envelope]}).encode()


class Flood:
    """FLOOD_THREADS clients posting junk until FLOOD_REQUESTS or FLOOD_SECONDS."""

    def __init__(self, node: LiveNode, claimed_sender: str) -> None:
        self.node, self.claimed_sender = node, claimed_sender
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + FLOOD_SECONDS
        self.threads = [threading.Thread(target=self.run) for _ in range(FLOOD_THREADS)]

    def take(self) -> bool:
        with self.lock:
            if self.sent >= FLOOD_REQUESTS or time.monotonic() > self.deadline:
                return False
            self.sent += 1
            return True

    def run(self) -> None:
        with httpx.Client(base_url=self.node.url, timeout=30) as client:
            while self.take():
                try:
                    status = client.post(
                        "/federation/v1/inbox",
                        content=junk(self.claimed_sender, self.node.node_id),
                        headers={"Content-Type": "application/json"},
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1

    def __enter__(self) -> Flood:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self.threads:
            thread.join(timeout=FLOOD_SECONDS + 30)
        self.seconds = time.monotonic() - self.started


def send_note(officer: httpx.Client, subject: str) -> str:
    sent = officer.post(
        "/api/v1/federation/notes",
        json={"peer": "us.test", "subject": subject, "text": "Valid.", "language": "en"},
    )
    assert sent.status_code == 201, sent.text
    return sent.json()["message_id"]


def test_valid_notes_arrive_during_a_flood_and_the_junk_is_only_counted(two_live_nodes):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    before = figures(us)
    latencies = []
    with (
        signed_in(cn, "investigator") as officer,
        signed_in(us, "central_authority") as reader,
        Flood(us, claimed_sender=cn.node_id) as flood,
    ):
        for n in range(VALID_NOTES):
            started = time.monotonic()
            message_id = send_note(officer, f"During the flood {n}")

            def arrived(message_id: str = message_id) -> bool:
                notes = reader.get("/api/v1/federation/notes").json()["items"]
                return any(note["message_id"] == message_id for note in notes)

            wait_until(arrived, timeout=60, interval=0.1, what=f"note {n} on us.test")
            latencies.append(time.monotonic() - started)
    after = figures(us)
    grown = {name: after[name] - before.get(name, 0) for name in after}
    added = {name: n for name, n in grown.items() if not name.startswith("bytes:")}
    added["bytes"] = sum(n for name, n in grown.items() if name.startswith("bytes:"))
    growing = sorted((n, name) for name, n in grown.items() if name.startswith("bytes:") and n)
    print(
        f"\nflood: {flood.sent} junk requests in {flood.seconds:.1f} s, answers {flood.statuses}; "
        f"added {added}; note delivery latency during it (s): "
        f"{', '.join(f'{s:.2f}' for s in latencies)}; grown most: {growing[-5:]}"
    )
    assert flood.sent >= 100  # a flood, whatever the machine's speed
    # Refused (403) until the address's allowance is spent, then told to wait
    # (429); 0 is a client that gave up waiting on a machine this loaded.
    assert set(flood.statuses) <= {0, 403, 429}, flood.statuses
    assert flood.statuses.get(0, 0) <= flood.sent // 100
    # Counted: a handful of counters (reason x address x window), not a row each;
    # the audit log grew by the notes and their reads, not by the junk.
    assert added["tally_rows"] <= 4
    assert added["audit_events"] < 20 * VALID_NOTES
    assert added["bytes"] < 2_000_000
    counted = query(
        us,
        "SELECT SUM(count) FROM core_failuretally WHERE channel = 'inbox' AND verified_as = ''",
    )[0][0]
    assert counted >= flood.statuses.get(403, 0) + flood.statuses.get(429, 0)
    # A stranger that wrote "cn.test" as its sender is not recorded as cn.test.
    named = query(us, "SELECT COUNT(*) FROM core_failuretally WHERE verified_as = 'cn.test'")
    assert named[0][0] == 0
