"""The deliverer: sends each peer's outbox in seq order, in batches, and marks a
message done only when the peer's signed receipt for it verifies.

One deliverer at a time holds a peer's lease (a conditional UPDATE whose row
count says who won), so several deliverers may run against one PostgreSQL
without sending a channel out of order; the receiver's id check makes a rare
double send harmless anyway.

An idle deliverer sleeps until a transaction that queued messages commits
(federation.wake), and looks at the outbox every POLL_SECONDS anyway, for the
retries that come due after a back-off."""

from __future__ import annotations

import base64
import logging
import os
import random
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import F, Q

from accord.core import audit, ijson
from accord.core.audit import Actor, AuditAction
from accord.core.bulk import update_many
from accord.core.identity import this_node
from accord.federation.envelope import EnvelopeError, verify_receipt
from accord.federation.models import MessageStatus, OutboxMessage, Peer
from accord.federation.outbox import backoff_until, outbox_envelope
from accord.federation.signals import messages_applied, messages_refused
from accord.federation.wake import listener
from accord.federation.wire import ROTATION_KIND
from accord.ops.logs import log_batch

log = logging.getLogger(__name__)

INBOX_PATH = "/federation/v1/inbox"
# Reasons after which retrying the same bytes cannot succeed: an operator must act.
PERMANENT = {
    "unknown_sender",
    "bad_signature",
    "wrong_recipient",
    "unsupported_version",
    "malformed",
    "out_of_order",
    "too_large",  # a single message over the receiver's limit: no retry can help
}
HOST = socket.gethostname()
# Seconds between looks at an idle outbox when no wake-up comes.
POLL_SECONDS = 1.0


def lease_owner() -> str:
    """A deliverer's name in the peers' leases: host, process, and a token."""
    return f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"[:64]


def _dead_local_owners(owners: list[str]) -> list[str]:
    """Lease owners (host:pid:token) on this machine whose process is gone: a
    deliverer that crashed, whose lease a successor may take at once."""
    dead = []
    for owner in owners:
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host != HOST or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            continue
    return dead


@dataclass
class Outcome:
    delivered: int = 0
    transient: str = ""
    permanent: str = ""


RECEIPT_COLUMNS = ("status", "receipt", "refusal_reason", "delivered_at")


class Batch(list[OutboxMessage]):
    """The next messages to send; `full` when the count or the byte budget
    cut it short, so more are likely waiting."""

    full = False


class Deliverer:
    def __init__(
        self,
        *,
        batch_size: int | None = None,
        timeout: float | None = None,
        owner: str | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        # A deliverer started again in the same process passes its
        # predecessor's owner: it takes over the leases that one held.
        self.owner = owner or lease_owner()
        self.batch_size = batch_size or settings.FEDERATION_BATCH_SIZE
        self.client = httpx.Client(timeout=timeout or settings.FEDERATION_HTTP_TIMEOUT_SECONDS)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accord-send")
        self.stopping = stopping or threading.Event()

    def run(self, poll_seconds: float = POLL_SECONDS) -> None:
        """Deliver until `stopping` is set: at once when woken, otherwise every
        `poll_seconds`."""
        wake = listener()
        try:
            while not self.stopping.is_set():
                close_old_connections()
                try:
                    worked = self.deliver_due()
                except Exception:
                    # A database hiccup or a bug must not end the deliverer (and
                    # with it the node); log it and try again shortly.
                    log.exception("delivery round failed; retrying")
                    worked = False
                    self.stopping.wait(max(1.0, poll_seconds))
                if not worked and not self.stopping.is_set():
                    wake.wait(self._idle_seconds(poll_seconds))
        finally:
            wake.close()
            self.pool.shutdown(wait=True)
            self.client.close()

    def _idle_seconds(self, poll_seconds: float) -> float:
        """How long to sleep without a wake-up: `poll_seconds`, or less when a
        peer's back-off runs out sooner (its retry is due then, not at the
        next look)."""
        now = datetime.now(UTC)
        try:
            soonest = (
                Peer.objects.filter(active=True, blocked=False, next_attempt_at__gt=now)
                .order_by("next_attempt_at")
                .values_list("next_attempt_at", flat=True)
                .first()
            )
        except DatabaseError:
            return poll_seconds
        if soonest is None:
            return poll_seconds
        return max(0.01, min(poll_seconds, (soonest - now).total_seconds()))

    def deliver_due(self) -> bool:
        now = datetime.now(UTC)
        due = (
            # A channel under recovery after a restore waits (federation.recovery).
            Peer.objects.filter(active=True, blocked=False, outbox__status=MessageStatus.PENDING)
            .filter(recovery__isnull=True)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .distinct()
            .values_list("pk", flat=True)
        )
        worked = False
        for peer_pk in list(due):
            if self.stopping.is_set():
                break
            started = self._start(peer_pk)
            if started is not None:
                try:
                    worked |= self.deliver_peer(*started) > 0
                finally:
                    self._release(peer_pk)
        return worked

    def _start(self, peer_pk: int) -> tuple[Peer, list[OutboxMessage]] | None:
        """Claim the peer's lease, read the peer and its first batch, and count
        that batch's attempt: one transaction, so one commit (one sync on
        PostgreSQL) before the first send instead of two. None: another
        deliverer holds the lease."""
        with transaction.atomic():
            if not self._claim(peer_pk):
                return None
            peer = Peer.objects.get(pk=peer_pk)
            batch = self._next_batch(peer)
            self._count_attempt(batch)
        return peer, batch

    def _claim(self, peer_pk: int) -> bool:
        """Take or renew the peer's lease with one conditional UPDATE; the row
        count says whether this deliverer won. Only when it did not is the
        holder looked at: a dead deliverer on this machine loses it at once."""
        now = datetime.now(UTC)
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=self.owner)
        lease = timedelta(seconds=settings.FEDERATION_LEASE_SECONDS)
        claimed = Peer.objects.filter(free, pk=peer_pk).update(
            lease_owner=self.owner, lease_until=now + lease
        )
        if claimed:
            return True
        holder = Peer.objects.filter(pk=peer_pk).values_list("lease_owner", flat=True).first()
        if not holder or not _dead_local_owners([holder]):
            return False
        claimed = Peer.objects.filter(pk=peer_pk, lease_owner=holder).update(
            lease_owner=self.owner, lease_until=now + lease
        )
        return claimed == 1

    def _release(self, peer_pk: int) -> None:
        Peer.objects.filter(pk=peer_pk, lease_owner=self.owner).update(
            lease_owner="", lease_until=None
        )

    def deliver_peer(self, peer: Peer, first: list[OutboxMessage] | None = None) -> int:
        """Send batches until the outbox is empty, a failure, or a stop request
        (`first`: the first batch, its attempt counted already).

        Pipelined: when a full batch comes back fully answered, the next batch
        goes out at once and this batch's receipts are checked and stored while
        the peer works on it. At most one request is in flight, so the channel
        stays in seq order. After a batch that was not full (a quiet channel)
        the receipts are stored first: looking for more would only delay them."""
        total, failure = 0, None
        if first is None:
            current = self._send_next(peer, self._next_batch(peer))
        else:
            current = self._submit(peer, first) if first else None
        while current is not None:
            batch, future = current
            current = None
            answer = future.result()
            go_on = failure is None and not self.stopping.is_set()
            full = isinstance(batch, Batch) and batch.full
            if go_on and full and self._fully_answered(answer, batch):
                current = self._send_next(peer, self._next_batch(peer, after=batch[-1].seq))
            outcome = self.settle(peer, batch, answer)
            total += outcome.delivered
            if outcome.transient or outcome.permanent:
                failure = failure or outcome
                pending = [m.pk for m in batch]
                OutboxMessage.objects.filter(pk__in=pending, status=MessageStatus.PENDING).update(
                    last_error=(outcome.permanent or outcome.transient)[:500]
                )
            elif current is None and go_on:
                current = self._send_next(peer, self._next_batch(peer))
            self._claim(peer.pk)  # renew the lease
        if failure is not None:
            self._record_failure(peer, failure)
        return total

    def _send_next(self, peer: Peer, batch: list[OutboxMessage]) -> tuple | None:
        if not batch:
            return None
        self._count_attempt(batch)
        return self._submit(peer, batch)

    @staticmethod
    def _count_attempt(batch: list[OutboxMessage]) -> None:
        if batch:
            OutboxMessage.objects.filter(pk__in=[m.pk for m in batch]).update(
                attempts=F("attempts") + 1
            )

    def _submit(self, peer: Peer, batch: list[OutboxMessage]) -> tuple:
        for message in batch:
            message.peer = peer
        return batch, self.pool.submit(self._post, peer, batch)

    def _post(self, peer: Peer, batch: list[OutboxMessage]) -> httpx.Response | Exception:
        """Sign (at this moment) and post one batch; runs in the sending thread."""
        now = datetime.now(UTC)
        payload = {"envelopes": [outbox_envelope(message, now) for message in batch]}
        try:
            return self.client.post(peer.url + INBOX_PATH, json=payload)
        except httpx.HTTPError as exc:
            return exc

    @staticmethod
    def _fully_answered(answer: httpx.Response | Exception, batch: list[OutboxMessage]) -> bool:
        if not isinstance(answer, httpx.Response) or answer.status_code != 200:
            return False
        try:
            document = ijson.loads(answer.content)
        except ValueError:
            return False
        return document.get("error") is None and len(document.get("receipts", [])) == len(batch)

    def _next_batch(self, peer: Peer, after: int = 0) -> Batch:
        """The oldest pending messages (past seq `after`), as many as fit the
        count and a byte budget of half the receiver's default request limit."""
        pending = peer.outbox.filter(status=MessageStatus.PENDING, seq__gt=after).order_by("seq")
        budget = settings.FEDERATION_MAX_REQUEST_BYTES // 2
        batch = Batch()
        for message in pending[: self.batch_size]:
            budget -= len(message.body) + 600  # the envelope around the body
            if batch and budget < 0:
                batch.full = True
                break
            batch.append(message)
        batch.full |= len(batch) >= self.batch_size
        return batch

    def send_batch(self, peer: Peer, batch: list[OutboxMessage]) -> Outcome:
        """Send one batch and settle it (no pipelining)."""
        for message in batch:
            message.peer = peer
        return self.settle(peer, batch, self._post(peer, batch))

    def settle(
        self, peer: Peer, batch: list[OutboxMessage], response: httpx.Response | Exception
    ) -> Outcome:
        """Store the receipts of an answer and classify what went wrong, if
        anything; log the batch (its message ids and outcome, never a body)."""
        outcome = self._settle(peer, batch, response)
        failure = outcome.permanent or outcome.transient
        log_batch(log, peer.node_id, batch, response, failure, bool(outcome.permanent))
        return outcome

    def _settle(
        self, peer: Peer, batch: list[OutboxMessage], response: httpx.Response | Exception
    ) -> Outcome:
        if isinstance(response, Exception):
            OutboxMessage.objects.filter(pk__in=[m.pk for m in batch]).update(
                last_error=f"network: {response}"[:500]
            )
            return Outcome(transient=f"network: {type(response).__name__}: {response}")
        if response.status_code >= 500:
            return Outcome(transient=f"HTTP {response.status_code} from {peer.node_id}")
        if response.status_code == 413 and len(batch) > 1:
            self.batch_size = max(1, len(batch) // 2)  # split, and try again at once
            return Outcome()
        try:
            document = ijson.loads(response.content)
            receipts = document.get("receipts", [])
            error = document.get("error")
        except (ValueError, AttributeError):
            return Outcome(transient=f"HTTP {response.status_code}: the answer is not JSON")
        delivered = self._apply_receipts(peer, batch, receipts)
        outcome = Outcome(delivered=delivered)
        reason = str(error.get("reason", "unknown")) if isinstance(error, dict) else ""
        if reason == "too_large" and len(batch) > 1:
            self.batch_size = max(1, len(batch) // 2)  # split, and try again at once
            return outcome
        if delivered:
            return outcome
        text = f"{reason}: {error.get('detail', '')}" if reason else ""
        if reason in PERMANENT:
            outcome.permanent = text
        elif text:
            outcome.transient = text
        else:
            # An answer without one valid receipt is a failure too, or the
            # same batch would be resent in a tight loop.
            outcome.transient = f"HTTP {response.status_code}: no valid receipt in the answer"
        return outcome

    def _apply_receipts(self, peer: Peer, batch: list[OutboxMessage], receipts: list) -> int:
        by_id = {str(message.id): message for message in batch}
        keys = [base64.b64decode(peer.signing_key)]
        if peer.previous_signing_key:
            keys.append(base64.b64decode(peer.previous_signing_key))
        now = datetime.now(UTC)
        done: list[OutboxMessage] = []
        for receipt in receipts if isinstance(receipts, list) else []:
            message = (
                by_id.get(str(receipt.get("message_id"))) if isinstance(receipt, dict) else None
            )
            if message is None:
                continue
            try:
                verify_receipt(
                    receipt,
                    kind=message.kind,
                    message_id=str(message.id),
                    sender=this_node().node_id,
                    recipient=peer.node_id,
                    seq=message.seq,
                    body_hash=message.body_sha256,
                    keys=keys,
                )
            except EnvelopeError as exc:
                log.warning("receipt for %s from %s rejected: %s", message.id, peer.node_id, exc)
                continue
            message.status = receipt["status"]
            message.receipt = receipt
            message.refusal_reason = receipt.get("reason") or ""
            message.delivered_at = now
            done.append(message)
        if not done:
            return 0
        with transaction.atomic():
            update_many(done, RECEIPT_COLUMNS)
            Peer.objects.filter(pk=peer.pk).update(
                last_delivery_at=now, failures=0, next_attempt_at=None
            )
            refused = [m.seq for m in done if m.status == MessageStatus.REFUSED]
            if refused:
                messages_refused.send(
                    sender=OutboxMessage,
                    peer=peer,
                    messages=[m for m in done if m.status == MessageStatus.REFUSED],
                )
            applied = [m for m in done if m.status == MessageStatus.APPLIED]
            if applied:
                messages_applied.send(sender=OutboxMessage, peer=peer, messages=applied)
            if any(m.kind == ROTATION_KIND and m.status == MessageStatus.APPLIED for m in done):
                # The peer now holds this node's new keys: sign with them from here on.
                Peer.objects.filter(pk=peer.pk).update(sign_with_previous=False)
            audit.record(
                Actor.system("deliverer"),
                AuditAction.OUTBOX_DELIVERED,
                peer,
                data={
                    "count": len(done),
                    "first_seq": min(m.seq for m in done),
                    "last_seq": max(m.seq for m in done),
                    "refused_seqs": refused,
                },
            )
        return len(done)

    def _record_failure(self, peer: Peer, outcome: Outcome) -> None:
        now = datetime.now(UTC)
        with transaction.atomic():
            locked = Peer.objects.select_for_update(no_key=True).get(pk=peer.pk)
            locked.last_error = (outcome.permanent or outcome.transient)[:2000]
            locked.last_error_at = now
            if outcome.permanent:
                locked.blocked = True
                audit.record(
                    Actor.system("deliverer"),
                    AuditAction.PEER_BLOCKED,
                    locked,
                    data={"reason": locked.last_error[:500]},
                )
            else:
                locked.failures += 1
                jitter = random.random()  # noqa: S311 - spreads retries, not a secret  # nosec B311
                locked.next_attempt_at = backoff_until(locked.failures, now, jitter)
            locked.save(
                update_fields=[
                    "last_error",
                    "last_error_at",
                    "blocked",
                    "failures",
                    "next_attempt_at",
                ]
            )
        log.warning("delivery to %s failed: %s", peer.node_id, locked.last_error)
