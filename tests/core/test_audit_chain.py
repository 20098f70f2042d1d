"""The audit log is hash-chained: any edit, deletion or reordering of a row is
found by `accord audit verify` (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent

pytestmark = pytest.mark.django_db
TRIGGER = "core_auditevent_append_only"


@pytest.fixture
def chain() -> list[AuditEvent]:
    actor = Actor.system("test")
    return [
        audit.record(
            actor,
            AuditAction.USER_CREATE,
            target_type="t",
            target_id=str(i),
            data={"n": i, "text": "证据 evidence"},
        )
        for i in range(6)
    ]


@contextmanager
def tampering():
    """What an intruder with database access does: on PostgreSQL the append-only
    trigger must be switched off first (which needs table ownership)."""
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(
                "ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only"
            )
        yield cursor
        if postgres:
            cursor.execute(f"ALTER TABLE core_auditevent ENABLE TRIGGER {TRIGGER}")


def verify_cli() -> str:
    with pytest.raises(CommandError) as error:
        call_command("audit", "verify")
    return str(error.value)


def test_intact_chain_verifies(chain, capsys):
    call_command("audit", "verify")
    assert capsys.readouterr().out.startswith("OK: 6 events")
    result = audit.verify()
    assert result.ok and result.count == 6 and result.head_hash == chain[-1].hash


def test_each_event_links_to_the_one_before(chain):
    assert chain[0].prev_hash == audit.GENESIS_HASH
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash
        assert after.seq == before.seq + 1


def test_edited_row_is_caught(chain):
    with tampering() as cursor:
        cursor.execute("UPDATE core_auditevent SET actor = 'someone-else' WHERE seq = 3")
    assert "BROKEN at event 3" in verify_cli()


def test_edited_details_are_caught(chain):
    with tampering() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET data = %s WHERE seq = 4", ['{"n": 99, "text": "x"}']
        )
    result = audit.verify()
    assert not result.ok and result.seq == 4


def test_deleted_row_is_caught(chain):
    with tampering() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq = 2")
    message = verify_cli()
    assert "event 2 is missing" in message


def test_deleted_last_rows_are_caught(chain):
    with tampering() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq >= 5")
    result = audit.verify()
    assert not result.ok
    assert "head records event 6" in result.problem


def test_reordered_rows_are_caught(chain):
    with tampering() as cursor:
        cursor.execute("UPDATE core_auditevent SET seq = -1 WHERE seq = 2")
        cursor.execute("UPDATE core_auditevent SET seq = 2 WHERE seq = 3")
        cursor.execute("UPDATE core_auditevent SET seq = 3 WHERE seq = -1")
    result = audit.verify()
    assert not result.ok and result.seq == 2


def test_a_rewritten_hash_is_still_caught_by_the_next_link(chain):
    target = chain[2]
    with tampering() as cursor:
        cursor.execute("UPDATE core_auditevent SET actor = 'x' WHERE seq = %s", [target.seq])
    edited = AuditEvent.objects.get(seq=target.seq)
    forged = audit.compute_hash(edited)
    with tampering() as cursor:
        cursor.execute("UPDATE core_auditevent SET hash = %s WHERE seq = %s", [forged, target.seq])
    result = audit.verify()
    assert not result.ok and result.seq == target.seq + 1


def test_a_failed_verification_is_itself_audited(chain):
    with tampering() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq = 2")
    verify_cli()
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_VERIFY).exists()


def test_event_rolls_back_with_the_change_it_records():
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(Actor.system("test"), AuditAction.USER_CREATE, target_type="t")
        raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == before
    assert audit.verify().ok


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger exists on PostgreSQL only")
def test_postgres_refuses_update_and_delete(chain):
    from django.db.utils import DatabaseError

    for statement in (
        "UPDATE core_auditevent SET actor = 'x' WHERE seq = 1",
        "DELETE FROM core_auditevent WHERE seq = 1",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert audit.verify().ok
