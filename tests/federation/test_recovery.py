"""The back-up drill (issue 17): a node backed up in the middle of a busy
exchange, which goes on; the node is destroyed and restored from the back-up;
the channel resumes with nothing lost and nothing applied twice, on both
sides, including what each side sent after the back-up was taken
(docs/protocol.md, "Recovery after a restore")."""

from __future__ import annotations

import shutil
from contextlib import ExitStack

import httpx
import pytest

from tests.live import (
    LiveNode,
    create_postgres_database,
    drop_postgres_database,
    outbox_status,
    peered_pair,
    signed_in,
    suite_database_url,
    wait_until,
)

pytestmark = pytest.mark.live

# Short back-offs: the peer retries the restored node within seconds.
FAST = {"ACCORD_FEDERATION_BACKOFF_MAX": "2", "ACCORD_CLOCK_SECONDS": "5"}


def send_notes(node: LiveNode, peer: LiveNode, tag: str, count: int) -> list[str]:
    subjects = [f"{tag} {n}" for n in range(count)]
    with signed_in(node, "officer") as officer:
        for subject in subjects:
            sent = officer.post(
                "/api/v1/federation/notes",
                json={"peer": peer.node_id, "subject": subject, "text": "t", "language": "en"},
            )
            assert sent.status_code == 201, sent.text
    return subjects


def all_items(client: httpx.Client, path: str, **params: str) -> list[dict]:
    items: list[dict] = []
    while True:
        page = client.get(path, params={**params, "limit": 1000, "offset": len(items)})
        assert page.status_code == 200, page.text
        document = page.json()
        if isinstance(document, list):
            return document
        items.extend(document["items"])
        if not document["items"] or len(items) >= document["count"]:
            return items


def drained(sender: LiveNode, receiver: LiveNode) -> dict:
    def empty() -> dict | None:
        try:
            row = outbox_status(sender)[receiver.node_id]
        except AssertionError:
            return None
        return row if row["outbox_depth"] == 0 else None

    return wait_until(empty, timeout=180, interval=1.0, what=f"{sender} to drain to {receiver}")


def assert_channel_exactly_once(sender: LiveNode, receiver: LiveNode) -> int:
    """Every message the sender queued is applied once on the receiver, in seq
    order, as the same message; nothing refused, nothing blocked."""
    row = drained(sender, receiver)
    total = int(row["next_out_seq"]) - 1
    assert row["applied"] == total and row["refused"] == 0 and not row["blocked"], row
    with signed_in(receiver, "admin") as admin:
        inbox = all_items(admin, "/api/v1/federation/inbox", peer=sender.node_id)
    with signed_in(sender, "admin") as admin:
        outbox = all_items(admin, "/api/v1/federation/outbox", peer=receiver.node_id)
    seqs = [item["seq"] for item in inbox]
    assert sorted(seqs) == list(range(1, total + 1)), "a seq lost or applied twice"
    assert {item["status"] for item in inbox} == {"applied"}
    sent = {item["seq"]: item["id"] for item in outbox}
    assert sorted(sent) == list(range(1, total + 1))
    assert {item["seq"]: item["id"] for item in inbox} == sent, "a seq carried another message"
    back = outbox_status(receiver)[sender.node_id]
    assert back["next_in_seq"] == total + 1, back
    return total


def notes_of(node: LiveNode) -> dict[str, list[str]]:
    with signed_in(node, "admin") as admin:
        notes = all_items(admin, "/api/v1/federation/notes")
    return {
        direction: sorted(n["subject"] for n in notes if n["direction"] == direction)
        for direction in ("in", "out")
    }


def destroy(node: LiveNode) -> None:
    node.stop()
    shutil.rmtree(node.data_dir)
    if node.database_url:
        drop_postgres_database(node.database_url)
        node.database_url = create_postgres_database(suite_database_url())


def test_a_restored_node_recovers_its_channel_with_nothing_lost_or_applied_twice(tmp_path):
    archive = tmp_path / "cn.tar"
    with ExitStack() as stack:
        cn, us = stack.enter_context(peered_pair(tmp_path, "drill", FAST, FAST))
        for node in (cn, us):
            node.create_user("officer", "investigator")
            node.create_user("admin", "node_admin")
        from_cn = send_notes(cn, us, "cn before", 6)
        from_us = send_notes(us, cn, "us before", 6)
        # Backed up while those are still on their way.
        cn.accord("backup", str(archive))
        # The exchange goes on after the back-up, both ways, and is delivered.
        from_cn += send_notes(cn, us, "cn after", 5)
        from_us += send_notes(us, cn, "us after", 5)
        drained(cn, us)
        drained(us, cn)
        sent_after_backup = outbox_status(cn)[us.node_id]["next_out_seq"] - 1

        destroy(cn)
        from_us += send_notes(us, cn, "us while down", 3)
        restored = cn.accord("restore", str(archive)).stdout
        assert "1 channels to recover" in restored, restored
        assert "not yet recovered" not in restored, restored
        # It learned back the five notes it sent after the back-up, and the peer
        # sent again at least what it sent after the back-up (5 + 3).
        assert "us.drill: 5 sent messages learned back" in restored, restored
        resent = int(restored.split(" received again")[0].rsplit(" ", 1)[1])
        assert resent >= 8, restored

        # The restored node never reuses a seq the peer has applied.
        row = outbox_status(cn)[us.node_id]
        assert row["next_out_seq"] - 1 == sent_after_backup, row
        cn.start()
        from_cn += send_notes(cn, us, "cn restored", 4)
        from_us += send_notes(us, cn, "us restored", 4)

        assert assert_channel_exactly_once(cn, us) == len(from_cn)
        assert assert_channel_exactly_once(us, cn) == len(from_us)
        # Both sides hold every note once: what cn sent after the back-up is back
        # in its own list too, and what us sent after it arrived again.
        assert notes_of(cn) == {"out": sorted(from_cn), "in": sorted(from_us)}
        assert notes_of(us) == {"out": sorted(from_us), "in": sorted(from_cn)}
        for node in (cn, us):
            verdict = node.accord("audit", "verify", "--local", check=False)
            assert verdict.returncode == 0 and verdict.stdout.startswith("OK"), verdict.stdout
