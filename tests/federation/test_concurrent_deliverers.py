"""Several deliverers against one database never send a channel twice: the
lease on the peer row admits one at a time (docs/protocol.md, section 11)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.live import (
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
        subprocess.Popen([sys.executable, "-m", "accord.cli", "deliver", "--poll", "0.05"],
                         env=cn.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]  # fmt: skip
    try:
        cn.accord("peer", "ping", "us.many", "--count", str(COUNT), "--size", "256")
        wait_until(lambda: outbox_status(cn)["us.many"]["applied"] == COUNT, 180,
                   what="every ping applied")  # fmt: skip
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
    same machine claims the channel at once."""
    cn = pair[0]
    cn.stop()
    doomed = subprocess.Popen(
        [sys.executable, "-m", "accord.cli", "deliver", "--poll", "0.05"],
        env=cn.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    before = outbox_status(cn)["us.many"]["applied"]
    cn.accord("peer", "ping", "us.many", "--count", "3000", "--size", "512")
    wait_until(
        lambda: outbox_status(cn)["us.many"]["applied"] > before,
        60,
        interval=0.05,
        what="delivery to start",
    )
    doomed.kill()
    doomed.wait(timeout=30)
    holder = outbox_status(cn)["us.many"]
    assert holder["outbox_depth"] > 0, "the test needs messages left after the kill"
    cn.start()
    wait_until(
        lambda: outbox_status(cn)["us.many"]["outbox_depth"] == 0,
        120,
        what="the successor to take over the hour-long lease and deliver the rest",
    )
