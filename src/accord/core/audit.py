"""The append-only, hash-chained audit log.

Each event's hash is SHA-256 over the RFC 8785 canonical JSON of its fields and
the previous event's hash. `record` must run inside the transaction of the change
it records, so that the event and the change commit or vanish together. A
refusal is the exception: its change vanishes but its record must not, so it is
recorded through `refuse` (see `refusals_kept`). A read changes nothing and is
recorded through `record_read`: staged without waiting for the chain's head,
and chained by `seal` before anyone reads the log (see `record_read`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from django.db import DatabaseError, models, transaction
from django.utils.translation import gettext

from accord.core.audit_actions import AuditAction as AuditAction  # re-exported
from accord.core.bulk import insert_many
from accord.core.canonical import canonical_hash
from accord.core.models import AuditEvent, AuditHead, AuditStaged, User

GENESIS_HASH = "0" * 64

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, or the operator at the node's shell (the CLI)."""

    label: str
    user: User | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(label=f"user:{user.username}", user=user)

    @classmethod
    def system(cls, how: str = "cli") -> Actor:
        return cls(label=f"system:{how}")


def event_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "data": event.data,
        "ip": event.ip,
        "prev_hash": event.prev_hash,
    }


def compute_hash(event: AuditEvent) -> str:
    return canonical_hash(event_fields(event))


@dataclass(frozen=True)
class Entry:
    """One event to record; `record_many` writes several under one head lock."""

    actor: Actor
    action: AuditAction
    target_type: str = ""
    target_id: str = ""
    data: dict[str, Any] | None = None
    ip: str = ""


def record(
    actor: Actor,
    action: AuditAction,
    target: models.Model | None = None,
    *,
    target_type: str = "",
    target_id: str = "",
    data: dict[str, Any] | None = None,
    ip: str = "",
) -> AuditEvent:
    entry = make_entry(
        actor, action, target, target_type=target_type, target_id=target_id, data=data, ip=ip
    )
    return record_many([entry])[0]


def make_entry(
    actor: Actor,
    action: AuditAction,
    target: models.Model | None = None,
    *,
    target_type: str = "",
    target_id: str = "",
    data: dict[str, Any] | None = None,
    ip: str = "",
) -> Entry:
    """The event `record` would write, to record later (a refusal: `refuse`)."""
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
    return Entry(actor, action, target_type, target_id, data, ip)


def record_many(entries: list[Entry]) -> list[AuditEvent]:
    """Append events in order, linking each to the one before. Inside the
    caller's transaction no savepoint is taken (two round trips fewer per
    audited change): an error here rolls back the caller's whole change,
    which no event may outlive anyway."""
    with transaction.atomic(savepoint=False):
        head = _wait_for_head()
        events = [
            _link(
                head,
                AuditEvent(
                    at=datetime.now(UTC),
                    actor=entry.actor.label[:200],
                    actor_user=entry.actor.user,
                    action=str(entry.action),
                    target_type=entry.target_type[:100],
                    target_id=str(entry.target_id)[:200],
                    data=entry.data or {},
                    ip=entry.ip[:64],
                ),
            )
            for entry in entries
        ]
        _append(head, events)
    return events


def _wait_for_head() -> AuditHead:
    """The chain's head, locked until the transaction ends (made at genesis if missing)."""
    head, _created = AuditHead.objects.select_for_update().get_or_create(
        pk=1, defaults={"seq": 0, "hash": GENESIS_HASH}
    )
    return head


def _head_if_free() -> AuditHead | None:
    """The head, locked, unless another transaction holds it: then None, at once."""
    head = AuditHead.objects.select_for_update(skip_locked=True).filter(pk=1).first()
    if head is None and not AuditHead.objects.filter(pk=1).exists():
        return _wait_for_head()  # a new log: no one holds a head yet
    return head


def _link(head: AuditHead, event: AuditEvent) -> AuditEvent:
    """Make `event` the next link after `head`, and move the head to it."""
    event.seq, event.prev_hash = head.seq + 1, head.hash
    event.hash = compute_hash(event)
    head.seq, head.hash = event.seq, event.hash
    return event


def _append(head: AuditHead, events: list[AuditEvent]) -> None:
    if len(events) == 1:
        events[0].save(force_insert=True)  # a single event gets its id back
    else:
        insert_many(events)
    if events:
        head.save(update_fields=["seq", "hash"])


# ---------------------------------------------------------------- reads

# Reads are recorded through `record_read`; every other action through `record`.
READ_ACTIONS = frozenset(
    {
        AuditAction.REQUEST_READ,
        AuditAction.REQUEST_LIST,
        AuditAction.REQUEST_EXPORT,
        AuditAction.INTEL_READ,
        AuditAction.NOTE_LIST,
        AuditAction.NOTE_READ,
    }
)
SEAL_BATCH = 500


def record_read(
    actor: Actor,
    action: AuditAction,
    target: models.Model | None = None,
    *,
    target_type: str = "",
    target_id: str = "",
    data: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    """Record a read, in the caller's transaction as `record` does, without
    waiting for the chain's head. Writers take the head in turn; were every
    page view one of them, readers would queue behind each other and behind
    every change. A read is staged instead (an insert no one waits for) and
    chained by the next seal: this one, when no other transaction holds the
    head, else a later read's, the clock's, or the one run before the log is
    read (`seal`)."""
    if action not in READ_ACTIONS:
        raise ValueError(f"{action} is not a read: record it with `record`")
    entry = make_entry(
        actor, action, target, target_type=target_type, target_id=target_id, data=data, ip=ip
    )
    with transaction.atomic():
        AuditStaged.objects.create(
            at=datetime.now(UTC),
            actor=entry.actor.label[:200],
            actor_user=entry.actor.user,
            action=str(entry.action),
            target_type=entry.target_type[:100],
            target_id=str(entry.target_id)[:200],
            data=entry.data or {},
            ip=entry.ip[:64],
        )
        head = _head_if_free()
        if head is not None:
            _fold(head)


def seal() -> int:
    """Chain every staged read, waiting for the head as a writer does; returns
    how many. Run before the log is read (the audit page and API, verify) and
    by the clock, so the log anyone reads holds every read that happened."""
    sealed = 0
    while AuditStaged.objects.exists():
        with transaction.atomic():
            folded = _fold(_wait_for_head())
        sealed += folded
        if folded < SEAL_BATCH:  # readers staging meanwhile wait for the next seal
            break
    return sealed


def _fold(head: AuditHead) -> int:
    """Chain the oldest staged reads after the locked `head`, in the order they
    were staged, each keeping the time it happened; remove them from the stage."""
    staged = list(AuditStaged.objects.order_by("id")[:SEAL_BATCH])
    events = [
        _link(
            head,
            AuditEvent(
                at=row.at,
                actor=row.actor,
                actor_user_id=row.actor_user_id,
                action=row.action,
                target_type=row.target_type,
                target_id=row.target_id,
                data=row.data,
                ip=row.ip,
                staged_id=row.pk,
            ),
        )
        for row in staged
    ]
    _append(head, events)
    # After the insert: on PostgreSQL a staged row may go only once sealed.
    AuditStaged.objects.filter(pk__in=[row.pk for row in staged]).delete()
    return len(events)


# ---------------------------------------------------------------- refusals

# Why refusals are kept this way, and not on a second database connection that
# commits at once: SQLite has one writer, so a second connection would wait for
# the refusing transaction's write lock until it times out; on PostgreSQL the
# refusing transaction may already hold the audit head (it recorded an event
# before it refused), so the second connection would wait for the first while
# the first waits for it, a deadlock the database cannot see; and a second
# connection does not see the uncommitted rows the event names, nor keeps the
# chain in the order the transactions commit. So the refusal is recorded on the
# same connection, once every transaction the service opened has rolled back.
_boundary = threading.local()


@contextmanager
def refusals_kept() -> Iterator[None]:
    """The service boundary (a context manager, or a decorator on a service
    function). A refusal raised inside it, however deep in the service's
    transactions, is recorded when the outermost boundary is left: after the
    service's own atomic blocks have rolled back, in the caller's transaction
    (or in autocommit), as if the service had refused before it began."""
    if getattr(_boundary, "pending", None) is not None:
        yield  # an inner service: the outermost boundary records
        return
    _boundary.pending = []
    try:
        yield
    finally:
        pending, _boundary.pending = _boundary.pending, None
        if pending:
            _record_refusals(pending)


def _record_refusals(entries: list[Entry]) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the caller's
            record_many(entries)  # transaction as it was
    except (DatabaseError, transaction.TransactionManagementError):
        # The caller's own transaction is broken: the refusal's record cannot be
        # written on this connection. Say so, and let the original error through.
        log.exception("could not record %d refusal(s): %s", len(entries), entries)


def refuse(entry: Entry, exc: Exception) -> NoReturn:
    """Record the refusal `entry` so that it survives `exc`, and raise `exc`.
    Inside a `refusals_kept` boundary the entry waits until the boundary is
    left; outside one it is recorded now (the caller has opened no transaction
    of its own that the refusal would roll back)."""
    pending = getattr(_boundary, "pending", None)
    if pending is None:
        record_many([entry])
    else:
        pending.append(entry)
    raise exc


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    problem: str = ""
    seq: int | None = None

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.count} events, chain intact, head {self.head_hash}"
        where = f" at event {self.seq}" if self.seq is not None else ""
        return f"BROKEN{where}: {self.problem}"


def verify(batch_size: int = 2000) -> VerifyResult:
    """Walk the whole chain in sequence order, staged reads sealed first; stop
    at the first fault."""
    try:
        seal()
    except DatabaseError:
        # A log whose head is gone cannot take new links: the walk says why.
        log.exception("could not seal the staged reads before verifying")
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    events = AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size)
    for event in events:
        if event.seq != expected_seq:
            return VerifyResult(
                False,
                count,
                prev_hash,
                gettext("event %(seq)s is missing (next stored is %(next)s)")
                % {"seq": expected_seq, "next": event.seq},
                expected_seq,
            )
        if event.prev_hash != prev_hash:
            return VerifyResult(
                False,
                count,
                prev_hash,
                gettext("it does not link to the event before it"),
                event.seq,
            )
        if compute_hash(event) != event.hash:
            return VerifyResult(
                False, count, prev_hash, gettext("its content does not match its hash"), event.seq
            )
        prev_hash, expected_seq, count = event.hash, expected_seq + 1, count + 1
    head = AuditHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != count or head_hash != prev_hash:
        return VerifyResult(
            False,
            count,
            prev_hash,
            gettext(
                "the log ends at event %(count)s but its head records event %(head)s: "
                "events were removed from the end or the head was altered"
            )
            % {"count": count, "head": head_seq},
            count + 1,
        )
    return VerifyResult(True, count, prev_hash)
