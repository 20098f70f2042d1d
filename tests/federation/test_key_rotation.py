"""Key rotation: the new keys are announced in a message signed by the old one,
and both directions keep flowing across the switch, losing nothing."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.live import (
    identity_of,
    outbox_status,
    peered_pair,
    signed_in,
    wait_until,
)

pytestmark = pytest.mark.live


@pytest.fixture
def pair(tmp_path):
    with peered_pair(tmp_path, "rotate") as nodes:
        yield nodes


def peers_of(node) -> dict:
    return {row["node_id"]: row for row in json.loads(node.accord("peer", "list", "--json").stdout)}


def delivered(node, peer_id: str, count: int) -> bool:
    row = outbox_status(node)[peer_id]
    return row["outbox_depth"] == 0 and row["applied"] == count


def test_rotation_switches_keys_without_losing_messages(pair):
    cn, us = pair
    old_fingerprint = identity_of(cn)["fingerprint"]
    for node in pair:
        node.stop()
    # Offline on purpose: us seals its messages to cn's old key, and cn's queue
    # holds the announcement between messages sealed before and after it.
    cn.accord("peer", "ping", "us.rotate", "--count", "20")
    rotated = cn.accord("keys", "rotate").stdout
    cn.accord("peer", "ping", "us.rotate", "--count", "20")
    us.accord("peer", "ping", "cn.rotate", "--count", "30")
    new_fingerprint = rotated.strip().rsplit(" ", 1)[-1]
    assert new_fingerprint != old_fingerprint
    for node in pair:
        node.start()

    wait_until(lambda: delivered(cn, "us.rotate", 41), 90, what="cn's messages incl. rotation")
    wait_until(lambda: delivered(us, "cn.rotate", 30), 90, what="us's messages to the old key")
    assert identity_of(cn)["fingerprint"] == new_fingerprint
    assert peers_of(us)["cn.rotate"]["fingerprint"] == new_fingerprint
    assert outbox_status(cn)["us.rotate"]["refused"] == 0
    assert outbox_status(us)["cn.rotate"]["refused"] == 0

    # After the switch, new traffic both ways uses the new keys only.
    cn.accord("peer", "ping", "us.rotate", "--count", "5")
    us.accord("peer", "ping", "cn.rotate", "--count", "5")
    wait_until(lambda: delivered(cn, "us.rotate", 46), 60, what="cn after rotation")
    wait_until(lambda: delivered(us, "cn.rotate", 35), 60, what="us after rotation")
    for node in pair:
        assert node.accord("audit", "verify").stdout.startswith("OK")


def rotate_while_asked(node) -> tuple[str, list[str], list[str]]:
    """Rotate while a client asks for the identity without pause; returns the
    new fingerprint, what was served meanwhile and what is served right after."""
    seen: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=node.url, timeout=10) as http:
            for _ in range(2000):  # bounded; the rotation takes a few seconds
                if stop.is_set():
                    return
                seen.append(http.get("/.well-known/accord").json()["fingerprint"])

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        new = node.accord("keys", "rotate").stdout.strip().rsplit(" ", 1)[-1]
        after = [identity_of(node)["fingerprint"] for _ in range(5)]
    finally:
        stop.set()
        asker.join(timeout=30)
    return new, seen, after


def test_the_peers_old_key_is_retired_and_audited_once_it_signs_with_the_new(pair):
    cn, us = pair
    us.create_user("auditor", "auditor")
    old = identity_of(cn)["fingerprint"]
    new, seen, after = rotate_while_asked(cn)
    # Once the rotation has returned, every web worker serves the new keys: a
    # partner pinning the fingerprint read out at once gets a match.
    assert old in seen
    assert after == [new] * 5
    cn.accord("peer", "ping", "us.rotate", "--count", "3")
    wait_until(lambda: delivered(cn, "us.rotate", 4), 60, what="rotation and pings")
    with signed_in(us, "auditor") as auditor:
        events = auditor.get(
            "/api/v1/audit/events", params={"action": "federation:peer:old-key-retired"}
        ).json()
    assert events["count"] == 1
    assert events["items"][0]["data"]["current_fingerprint"] == identity_of(cn)["fingerprint"]
