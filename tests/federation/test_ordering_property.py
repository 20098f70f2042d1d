"""Ordering and de-duplication as a property (DESIGN.md, Federation protocol v1,
"Inbox" and "Outbox"): whatever a lossy, reordering, duplicating network and a
retransmitting sender deliver, the inbox applies a gap-free prefix of the
sender's messages, each exactly once, answers only receipts that verify, and
an in-order retransmission of everything always completes the channel."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.federation import inbox
from accord.federation.envelope import Envelope, format_time, verify_receipt
from accord.federation.inbox import BatchResult
from accord.federation.models import InboxMessage, MessageStatus, Note
from tests.federation.test_inbox_rejections import NOTE_KIND, RemotePeer, batch

MAX_MESSAGES = 15


@dataclass(frozen=True)
class Delivery:
    """One request that reaches the inbox: the sender's messages at these
    indexes, in this order. `resign` is a retransmission by the deliverer (a
    fresh sent_at and signature); otherwise the network replays the bytes."""

    indexes: tuple[int, ...]
    resign: bool


@st.composite
def schedules(draw: st.DrawFn) -> tuple[int, list[Delivery]]:
    count = draw(st.integers(min_value=1, max_value=MAX_MESSAGES))
    index = st.integers(min_value=0, max_value=count - 1)
    # Arbitrary: duplicated, out of order, skipping, already applied.
    scrambled = st.lists(index, min_size=1, max_size=2 * count).map(tuple)
    # What a deliverer resends: a contiguous run from some point on.
    run = st.tuples(index, st.integers(min_value=1, max_value=count)).map(
        lambda start_length: tuple(range(start_length[0], min(count, sum(start_length))))
    )
    delivery = st.builds(Delivery, st.one_of(scrambled, run), st.booleans())
    return count, draw(st.lists(delivery, min_size=1, max_size=8))


@dataclass(frozen=True)
class Expected:
    """What the protocol says the inbox does with one batch, given the number
    `applied` of the sender's messages it had applied before."""

    applied: int
    answered: tuple[int, ...]  # indexes that get a receipt, in batch order
    duplicates: bool
    expected_seq: int | None  # set when the batch stops at a gap

    @property
    def status(self) -> int:
        return 409 if self.expected_seq is not None or self.duplicates else 200


def expect(applied: int, indexes: tuple[int, ...]) -> Expected:
    answered: list[int] = []
    duplicates = False
    for index in indexes:
        seq = index + 1
        if seq <= applied:
            duplicates = True
        elif seq == applied + 1:
            applied += 1
        else:
            return Expected(applied, tuple(answered), duplicates, applied + 1)
        answered.append(index)
    return Expected(applied, tuple(answered), duplicates, None)


def note_body(seq: int) -> dict[str, str]:
    return {"subject": f"#{seq}", "text": f"message {seq}", "language": "en", "author": "peer"}


def resigned(remote: RemotePeer, message: Envelope, now: datetime) -> Envelope:
    return Envelope(
        id=message.id,
        kind=message.kind,
        sender=message.sender,
        recipient=message.recipient,
        seq=message.seq,
        sent_at=format_time(now),
        in_reply_to=message.in_reply_to,
        body=message.body,
    ).signed(remote.signing_key)


def deliver(remote: RemotePeer, messages: list[Envelope], delivery: Delivery, applied: int) -> int:
    """Deliver one batch, check every invariant, return how many are applied."""
    now = datetime.now(UTC)
    sent = [
        resigned(remote, messages[i], now) if delivery.resign else messages[i]
        for i in delivery.indexes
    ]
    raw = json.dumps({"envelopes": [envelope.as_dict() for envelope in sent]}).encode()

    result = inbox.receive_batch(raw)

    expected = expect(applied, delivery.indexes)
    assert result.status == expected.status, result.as_response()
    if expected.expected_seq is not None:
        assert result.error is not None
        assert result.error["reason"] == "out_of_order"
        assert result.error["expected_seq"] == expected.expected_seq
    elif expected.duplicates:
        assert result.error is not None and result.error["reason"] == "duplicate"
    else:
        assert result.error is None
    assert_receipts(result.receipts, [messages[i] for i in expected.answered])
    assert_gap_free_prefix(remote, messages, expected.applied)
    return expected.applied


def assert_receipts(receipts: list[dict], answered: list[Envelope]) -> None:
    """One receipt per answered message, in order, each signed by this node
    for exactly that message; a resent receipt is the one first given."""
    assert [r["message_id"] for r in receipts] == [m.id for m in answered]
    for receipt, message in zip(receipts, answered, strict=True):
        verify_receipt(
            receipt,
            message_id=message.id,
            sender=message.sender,
            recipient=message.recipient,
            seq=message.seq,
            body_hash=message.body_sha256,
            keys=[this_node().signing_public],
        )
        assert receipt["status"] == MessageStatus.APPLIED
        assert receipt == InboxMessage.objects.get(pk=message.id).receipt


def assert_gap_free_prefix(remote: RemotePeer, messages: list[Envelope], applied: int) -> None:
    rows = list(
        InboxMessage.objects.filter(peer=remote.peer).order_by("seq").values_list("seq", "id")
    )
    assert [seq for seq, _ in rows] == list(range(1, applied + 1))
    assert [str(pk) for _, pk in rows] == [m.id for m in messages[:applied]]
    assert remote.next_in_seq() == applied + 1
    # Applied once: one note and one "applied" audit event per message.
    notes = sorted(
        str(n) for n in Note.objects.filter(peer=remote.peer).values_list("message_id", flat=True)
    )
    assert notes == sorted(m.id for m in messages[:applied])
    events = list(
        AuditEvent.objects.filter(action="federation:inbox:apply").values_list(
            "target_id", flat=True
        )
    )
    assert sorted(events) == sorted(m.id for m in messages[:applied])


def _progress(applied: int, count: int) -> str:
    return "none applied" if applied == 0 else "all applied" if applied == count else "a prefix"


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=schedules())
def test_any_delivery_schedule_applies_a_gap_free_prefix_exactly_once(db, schedule):
    count, deliveries = schedule
    with transaction.atomic():
        remote = RemotePeer.create()
        messages = [
            remote.envelope(seq, note_body(seq), kind=NOTE_KIND) for seq in range(1, count + 1)
        ]
        applied = 0
        for delivery in deliveries:
            applied = deliver(remote, messages, delivery, applied)
        event("before the final retransmission: " + _progress(applied, count))

        applied = deliver(remote, messages, Delivery(tuple(range(count)), resign=True), applied)

        assert applied == count
        transaction.set_rollback(True)


# ---------------------------------------------------------------- concurrency


def _wait_for_a_lock_waiter(timeout: float = 10.0) -> None:
    """Until another connection waits for a row lock (PostgreSQL)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second delivery never waited for the channel's lock")


@pytest.mark.django_db(transaction=True)
def test_a_retransmission_racing_the_original_is_answered_as_a_duplicate():
    """The sender times out and resends while the first request is still being
    applied: the resend waits for the channel, then gets the original receipt
    (duplicate), never out_of_order, which the deliverer treats as permanent
    and which would block the channel until an operator steps in."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: PostgreSQL (SQLite serialises at BEGIN)")
    remote = RemotePeer.create()
    message = remote.envelope(1, note_body(1), kind=NOTE_KIND)
    raw = json.dumps(batch(message)).encode()
    applying, release = threading.Event(), threading.Event()
    results: dict[str, BatchResult] = {}
    real_apply = inbox._apply

    def slow_apply(*args, **kwargs):
        if threading.current_thread().name == "original":
            applying.set()
            release.wait(10)
        return real_apply(*args, **kwargs)

    def deliver_in_thread(name: str) -> None:
        try:
            results[name] = inbox.receive_batch(raw)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=deliver_in_thread, args=(name,), name=name)
        for name in ("original", "resend")
    ]
    with mock.patch.object(inbox, "_apply", slow_apply):
        threads[0].start()
        assert applying.wait(10)
        threads[1].start()
        _wait_for_a_lock_waiter()
        release.set()
        for thread in threads:
            thread.join(20)

    assert results["original"].status == 200
    resend = results["resend"]
    assert resend.error is not None and resend.error["reason"] == "duplicate", resend.error
    assert resend.receipts == results["original"].receipts
    assert InboxMessage.objects.filter(peer=remote.peer).count() == 1
    assert Note.objects.filter(peer=remote.peer).count() == 1
