"""Audited reads (docs/operations.md, "Audit log"): every read is recorded
and ends up in the hash chain, but a reader never waits for the chain's head.
A read is staged in its own transaction and sealed into the chain, in order,
by the next seal that finds the head free: its own, a later read's, the clock's,
or the one run before the log is read (audit page, API, verify).

The race tests need concurrent writers, so run on PostgreSQL only (SQLite
serialises writers at BEGIN); each thread has its own connection, and every
wait is bounded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accord.assistance import services as assistance
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent, AuditHead, AuditStaged
from accord.core.roles import Role
from tests.objects import content, make_partner

JOIN_SECONDS = 30
READ = AuditAction.REQUEST_READ
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent writers: PostgreSQL (SQLite serialises at BEGIN)",
)


def read(n: int, actor: Actor | None = None) -> None:
    audit.record_read(
        actor or Actor.system("test"), READ, target_type="assistance.request", data={"n": n}
    )


def reads_in_chain() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=READ).order_by("seq"))


def assert_chain_intact(count: int | None = None) -> None:
    result = audit.verify()
    assert result.ok, result.describe()
    if count is not None:
        assert result.count == count


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run `work` on its own connection; the list gets what it returned or raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # reported by the test, never swallowed
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@contextmanager
def head_held() -> Iterator[None]:
    """Another transaction (a writer mid-change) holds the chain's head."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            AuditHead.objects.select_for_update().get(pk=1)
            held.set()
            release.wait(JOIN_SECONDS)

    holder, outcome = in_thread(hold)
    assert held.wait(JOIN_SECONDS), f"the holder never took the head: {outcome}"
    try:
        yield
    finally:
        release.set()
        holder.join(JOIN_SECONDS)
    assert not holder.is_alive() and outcome == [None], outcome


# ---------------------------------------------------------------- both databases


@pytest.mark.django_db
def test_a_read_is_chained_at_once_when_no_one_holds_the_head():
    audit.record(Actor.system("test"), AuditAction.USER_CREATE, target_type="t")
    read(1)
    [event] = reads_in_chain()
    assert event.seq == 2 and event.data == {"n": 1}
    assert not AuditStaged.objects.exists()
    assert_chain_intact(2)


@pytest.mark.django_db
def test_reads_left_staged_are_chained_in_order_before_the_log_is_read(client_for):
    # What readers leave when each finds the head held by another transaction.
    for n in range(3):
        AuditStaged.objects.create(at=audit_time(n), actor="user:x", action=READ, data={"n": n})
    listed = client_for(Role.AUDITOR).get("/api/v1/audit/events", {"action": READ})
    assert listed.status_code == 200
    assert [e["data"]["n"] for e in listed.json()["items"]] == [0, 1, 2]
    assert [e.at for e in reads_in_chain()] == [audit_time(n) for n in range(3)]
    assert not AuditStaged.objects.exists()
    assert_chain_intact()


def audit_time(n: int) -> datetime:
    return datetime(2026, 1, 1, 12, 0, n, 123456, tzinfo=UTC)


@pytest.mark.django_db
def test_the_audit_page_shows_every_read_of_a_request(client_for, users):
    author = users[Role.INVESTIGATOR]
    request = assistance.create_request(
        Actor.of(author), make_partner(), content("data_order", confidential=False)
    )
    page = client_for(Role.INVESTIGATOR).get(reverse("assistance:detail", args=[request.pk]))
    assert page.status_code == 200
    log = client_for(Role.AUDITOR).get(reverse("web:audit"), {"action": READ})
    assert log.status_code == 200
    [event] = reads_in_chain()
    assert event.target_id == str(request.pk) and event.actor == f"user:{author.username}"
    assert [e.pk for e in log.context["page"]] == [event.pk]
    assert event.hash[:12] in log.content.decode()
    assert_chain_intact()


@pytest.mark.django_db
def test_a_tampered_sealed_read_is_caught():
    for n in range(4):
        read(n)
    audit.seal()
    target = reads_in_chain()[2]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only"
            )
        cursor.execute(
            "UPDATE core_auditevent SET data = %s WHERE seq = %s", ['{"n": 99}', target.seq]
        )
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE core_auditevent ENABLE TRIGGER core_auditevent_append_only")
    result = audit.verify()
    assert not result.ok and result.seq == target.seq


@pytest.mark.django_db
def test_a_change_cannot_be_recorded_as_a_read():
    with pytest.raises(ValueError, match="not a read"):
        audit.record_read(Actor.system("test"), AuditAction.USER_ROLE_CHANGE)
    assert not AuditStaged.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_read_rolls_back_with_the_transaction_it_belongs_to():
    with pytest.raises(RuntimeError), transaction.atomic():
        read(1)
        raise RuntimeError("the page failed")
    audit.seal()
    assert reads_in_chain() == [] and not AuditStaged.objects.exists()


# ---------------------------------------------------------------- PostgreSQL races


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_read_does_not_wait_for_a_writer_holding_the_head():
    audit.record(Actor.system("test"), AuditAction.USER_CREATE, target_type="t")
    with head_held():
        reader, outcome = in_thread(lambda: read(1))
        reader.join(JOIN_SECONDS)
        assert not reader.is_alive(), "the read waited for the audit head"
        assert outcome == [None]
        assert reads_in_chain() == [] and AuditStaged.objects.count() == 1
    assert audit.verify().ok  # verify seals first
    [event] = reads_in_chain()
    assert event.seq == 2 and event.staged_id is not None
    assert not AuditStaged.objects.exists()


@pytest.mark.django_db(transaction=True)  # the clock closes stale connections
def test_the_clock_seals_reads_left_staged():
    audit.record(Actor.system("test"), AuditAction.USER_CREATE, target_type="t")
    for n in (1, 2):  # left by readers that found the head held
        AuditStaged.objects.create(at=audit_time(n), actor="user:x", action=READ, data={"n": n})
    call_command("clock", "--once")
    assert [e.data["n"] for e in reads_in_chain()] == [1, 2]
    assert not AuditStaged.objects.exists()
    assert_chain_intact(3)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_to_change_or_drop_a_read_not_yet_sealed():
    audit.record(Actor.system("test"), AuditAction.USER_CREATE, target_type="t")
    with head_held():
        read(1)
    for statement, error in (
        ("UPDATE core_auditstaged SET actor = 'someone-else'", "append-only"),
        ("DELETE FROM core_auditstaged", "not sealed"),
    ):
        with pytest.raises(DatabaseError, match=error), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert audit.seal() == 1
    assert [e.data for e in reads_in_chain()] == [{"n": 1}]
    assert_chain_intact(2)


@pytest.mark.django_db(transaction=True)
def test_many_readers_beside_writers_lose_no_read():
    readers, reads_each, writes_each = 8, 25, 10
    start = threading.Barrier(readers + 2)
    # SQLite has one writer (and the test database's shared cache no busy
    # wait): there the threads take turns; on PostgreSQL they race.
    turns = threading.Lock() if connection.vendor == "sqlite" else nullcontext()

    def reader(r: int) -> None:
        start.wait(JOIN_SECONDS)
        for n in range(reads_each):
            with turns:
                read(r * 1000 + n)

    def writer() -> None:
        start.wait(JOIN_SECONDS)
        for n in range(writes_each):
            with turns:
                audit.record(Actor.system("test"), AuditAction.USER_CREATE, data={"n": n})

    threads = [in_thread(lambda r=r: reader(r)) for r in range(readers)]
    threads += [in_thread(writer) for _ in range(2)]
    for thread, _outcome in threads:
        thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread, _outcome in threads), "a thread never finished"
    assert all(outcome == [None] for _thread, outcome in threads), threads

    assert_chain_intact(readers * reads_each + 2 * writes_each)
    chained = [e.data["n"] for e in reads_in_chain()]
    made = [r * 1000 + n for r in range(readers) for n in range(reads_each)]
    assert sorted(chained) == made
    for r in range(readers):  # each reader's reads in the order it made them
        mine = [n for n in chained if n // 1000 == r]
        assert mine == sorted(mine)
    assert not AuditStaged.objects.exists()
