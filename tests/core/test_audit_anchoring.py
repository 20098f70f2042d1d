"""The audit log anchored in the peers (issue 14, finding 5): a database
administrator who edits an event and recomputes every hash after it gets a
chain that verifies locally, but not against the signed checkpoint of the head
the peer holds. Two live nodes, over HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.live import LiveNode, ensure_peered, wait_until

pytestmark = pytest.mark.live

# What an intruder with the database's keys does: change event K, then
# recompute every hash from it onwards and the head, so the chain still links.
REWRITE = """
import sys
import django
django.setup()
from django.db import connection, transaction
from accord.core.audit import GENESIS_HASH, compute_hash
from accord.core.models import AuditEvent, AuditHead
seq, actor = int(sys.argv[1]), sys.argv[2]
postgres = connection.vendor == "postgresql"
with transaction.atomic(), connection.cursor() as cursor:
    if postgres:
        cursor.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only")
    before = AuditEvent.objects.filter(seq=seq - 1).first()
    prev = before.hash if before else GENESIS_HASH
    was = AuditEvent.objects.get(seq=seq).actor
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        if event.seq == seq:
            event.actor = actor
        event.prev_hash = prev
        event.hash = prev = compute_hash(event)
        AuditEvent.objects.filter(pk=event.pk).update(
            actor=event.actor, prev_hash=event.prev_hash, hash=event.hash
        )
    AuditHead.objects.filter(pk=1).update(hash=prev)
    if postgres:
        cursor.execute("ALTER TABLE core_auditevent ENABLE TRIGGER core_auditevent_append_only")
print(was)
"""


def rewrite(node: LiveNode, seq: int, actor: str) -> str:
    """Rewrite the node's chain consistently; returns the actor event `seq` had."""
    done = subprocess.run(
        [sys.executable, "-c", REWRITE, str(seq), actor],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_a_consistent_rewrite_before_a_checkpoint_is_reported(two_live_nodes):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    queued = cn.accord("audit", "checkpoint").stdout
    assert "queued" in queued

    def held() -> str:
        verdict = cn.accord("audit", "verify").stdout
        return verdict if "us.test holds" in verdict and "all agree" in verdict else ""

    verdict = wait_until(held, timeout=60, interval=0.5, what="the checkpoint held by us.test")
    assert verdict.startswith("OK")

    original = rewrite(cn, 2, "user:nobody")
    try:
        local = cn.accord("audit", "verify", "--local")
        assert local.stdout.startswith("OK")  # the rewrite is consistent: the chain alone agrees
        anchored = cn.accord("audit", "verify", check=False)
        assert anchored.returncode == 1
        report = anchored.stdout + anchored.stderr
        assert "REWRITTEN" in report and "us.test" in report
        assert "at or before event" in report
    finally:
        rewrite(cn, 2, original)  # the same fields give the same hashes: the chain is restored
    assert "all agree" in cn.accord("audit", "verify").stdout
