"""Timed work that fails: the clock runs each item (a hold to lapse, a reminder,
a reminder e-mail) on its own, so one failure stops nothing else. A failure is
logged every time, audited once per item and error (a mail server that stays
down must not flood the log), and stays open, shown to the node's admin, until
a later round does the item or finds it no longer due. The open failures are
read back from the audit log alone, so any page may show them."""

from __future__ import annotations

import fcntl
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent

log = logging.getLogger(__name__)

T = TypeVar("T")

# Failures older than this, with nothing since, are no longer read back: an
# item that still fails is audited again and so shown again.
WINDOW = timedelta(days=30)
# An error's text may name a person (an SMTP server quotes the address it refused).
ADDRESS = re.compile(r"[^\s@'\"<>(),;:\[\]{}]+@[^\s@'\"<>(),;:\[\]{}]+")


@dataclass(frozen=True)
class Failure:
    """One item whose latest failure no later round has cleared."""

    item: str
    work: str
    reference: str
    error: str
    message: str
    at: datetime


def describe(exc: BaseException) -> tuple[str, str]:
    """The error's class and message, without addresses, for the audit log."""
    text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    return type(exc).__name__, ADDRESS.sub("[address]", text)[:300]


def open_failures(events: QuerySet[AuditEvent] | None = None, limit: int = 1000) -> list[Failure]:
    """The open failures, newest first, from `events` (the whole log by default,
    or what a user may read of it)."""
    events = AuditEvent.objects.all() if events is None else events
    recent = events.filter(
        action__in=[AuditAction.CLOCK_FAILED, AuditAction.CLOCK_RECOVERED],
        at__gte=timezone.now() - WINDOW,
    ).order_by("-seq")[:limit]
    cleared: set[str] = set()
    found: dict[str, Failure] = {}
    for event in recent:
        data = event.data
        if event.action == AuditAction.CLOCK_RECOVERED:
            cleared.update(data.get("items", []))
            continue
        item = str(data.get("item", ""))
        if item in cleared or item in found:
            continue
        found[item] = Failure(
            item=item,
            work=str(data.get("work", "")),
            reference=str(data.get("reference", "")),
            error=str(data.get("error", "")),
            message=str(data.get("message", "")),
            at=event.at,
        )
    return list(found.values())


class Round:
    """One round of the clock: runs each item on its own and keeps the account."""

    def __init__(self) -> None:
        self.open = {f.item: (f.error, f.message) for f in open_failures()}
        self.failed: set[str] = set()
        self.failures = 0

    def run(
        self, item: str, work: str, target: models.Model, reference: str, job: Callable[[], T]
    ) -> T | None:
        """Do one item in its own transaction; a failure rolls back that item
        only, is recorded, and leaves the item for the next round."""
        try:
            with transaction.atomic():
                return job()
        except Exception as exc:
            self.fail(item, work, target, reference, exc)
            return None

    def fail(
        self, item: str, work: str, target: models.Model, reference: str, exc: Exception
    ) -> None:
        self.failures += 1
        self.failed.add(item)
        error, message = describe(exc)
        if self.open.get(item) == (error, message):
            log.warning("clock: %s %s failed again: %s: %s", work, reference, error, message)
            return
        log.error("clock: %s %s failed; the next round tries again", work, reference, exc_info=exc)
        audit.record(
            Actor.system("clock"),
            AuditAction.CLOCK_FAILED,
            target,
            data={
                "item": item,
                "work": work,
                "reference": reference,
                "error": error,
                "message": message,
            },
        )
        self.open[item] = (error, message)

    def settle(self) -> list[str]:
        """Clear the open failures this round did not repeat: their items were
        done, or are no longer due (a hold released, a reminder read)."""
        cleared = sorted(set(self.open) - self.failed)
        if cleared:
            audit.record(
                Actor.system("clock"), AuditAction.CLOCK_RECOVERED, data={"items": cleared}
            )
            for item in cleared:
                del self.open[item]
        return cleared


# pg_try_advisory_lock's key for the clock: any constant the node's other
# locks do not use ("ACCORDCK" in ASCII).
CLOCK_LOCK_KEY = 0x4143434F5244434B


@contextmanager
def clock_turn() -> Iterator[bool]:
    """True while this process holds the node's clock. Several `accord serve`
    processes of one node (docs/operations.md) each run a clock: a round runs
    only in the process that holds this lock, so no round overlaps another and
    no timed item is done twice. On PostgreSQL it is a session advisory lock,
    gone with the connection if the process dies; on SQLite, whose processes
    share one machine, a file lock in the data directory."""
    if connection.vendor == "postgresql":
        with _advisory_lock() as held:
            yield held
        return
    with (settings.DATA_DIR / "clock.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock() -> Iterator[bool]:
    session = connection  # the lock is this connection's: released on it
    try:
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [CLOCK_LOCK_KEY])
            held = bool(cursor.fetchone()[0])
    except DatabaseError:
        log.exception("clock: the database failed; retrying next round")
        held = False
    try:
        yield held
    finally:
        if held:
            try:
                with session.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [CLOCK_LOCK_KEY])
            except DatabaseError:
                pass  # the connection is gone, and its lock with it
