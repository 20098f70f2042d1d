"""Several deliverers against one database never send a channel twice: the
lease on the peer row admits one at a time (docs/protocol.md, section 11)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.live import (
    InboxCounter,
    current,
    outbox_status,
    peered_pair,
    signed_in,
    wait_until,
)

pytestmark = pytest.mark.live
COUNT = 1500


@pytest.fixture
def pair(tmp_path):
    # A lease of an hour: a successor that waited for it to run out would
    # never deliver within the test's waits.
    with peered_pair(tmp_path, "many", cn_env={"ACCORD_FEDERATION_LEASE": "3600"}) as (cn, us):
        us.create_user("auditor", "auditor")
        yield cn, us


def test_three_deliverers_send_each_message_once(pair):
    cn, us = pair
    extra = [
        subprocess.Popen(
            [sys.executable, "-m", "accord.cli", "deliver", "--poll", "0.05"],
            env=cn.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        cn.accord("peer", "ping", "us.many", "--count", str(COUNT), "--size", "256")
        wait_until(
            lambda: outbox_status(cn)["us.many"]["applied"] == COUNT, 180, what="every ping applied"
        )
    finally:
        for process in extra:
            process.terminate()
            process.wait(timeout=30)
    assert outbox_status(us)["cn.many"]["received"] == COUNT
    with signed_in(us, "auditor") as auditor:
        rejected = auditor.get(
            "/api/v1/audit/events", params={"action": "federation:inbox:reject", "limit": 1}
        ).json()
        applied = auditor.get(
            "/api/v1/audit/events", params={"action": "federation:inbox:apply", "limit": 1}
        ).json()
    # A second copy of any message would have been answered as a duplicate.
    assert rejected["count"] == 0
    assert applied["count"] == COUNT


def test_a_successor_takes_over_the_lease_of_a_dead_deliverer(pair):
    """A deliverer killed while holding a channel's lease does not stall the
    channel until the lease runs out: its pid is gone, so a successor on the
    same machine claims the channel at once.

    The kill must land while messages still wait; how long they take to go
    depends on the machine, so a kill that comes after the outbox has drained
    is tried again with twice the backlog (at most four times)."""
    cn, us = pair
    cn.stop()
    us.create_user("watcher", "node_admin")
    received = InboxCounter(us, cn, "watcher")
    count = 3000
    deliverers: list[subprocess.Popen] = []
    try:
        for _attempt in range(4):
            seen = current(received)
            cn.accord("peer", "ping", "us.many", "--count", str(count), "--size", "512")
            doomed = subprocess.Popen(
                [sys.executable, "-m", "accord.cli", "deliver", "--poll", "0.05"],
                env=cn.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deliverers.append(doomed)
            wait_until(
                lambda: (received() or 0) > seen,  # noqa: B023 - used within the iteration
                60,
                interval=0.02,
                what="delivery to start",
            )
            doomed.kill()
            doomed.wait(timeout=30)
            if outbox_status(cn)["us.many"]["outbox_depth"] > 0:
                break
            count *= 2
        else:
            pytest.fail("every kill came after the outbox had drained")
    finally:
        received.close()
        for process in deliverers:
            process.kill()
            process.wait(timeout=30)
    cn.start()
    wait_until(
        lambda: outbox_status(cn)["us.many"]["outbox_depth"] == 0,
        120,
        what="the successor to take over the hour-long lease and deliver the rest",
    )
