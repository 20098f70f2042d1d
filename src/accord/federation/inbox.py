"""The inbox: check, apply and receipt a batch of envelopes from a peer, in
order and in one transaction, and count every envelope rejected (DESIGN.md,
Federation protocol v1; docs/protocol.md; counted, not kept: core.tally)."""

from __future__ import annotations

import base64
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import OperationalError, transaction
from pydantic import ValidationError as SchemaError

from accord.core import audit, ijson, tally
from accord.core.audit import Actor, AuditAction
from accord.core.bulk import insert_many
from accord.core.identity import key_fingerprint, this_node
from accord.federation import kinds
from accord.federation.envelope import (
    Envelope,
    EnvelopeError,
    make_receipt,
    open_body,
    parse_time,
)
from accord.federation.models import ChannelRecovery, InboxMessage, MessageStatus, Peer
from accord.federation.outbox import signing_key_for

log = logging.getLogger(__name__)

# HTTP status for each reason an envelope is rejected before it is applied.
REJECTION_STATUS = {
    "malformed": 400,
    "unsupported_version": 400,
    "stale": 400,
    "unknown_sender": 403,
    "bad_signature": 403,
    "wrong_recipient": 421,
    "duplicate": 409,
    "out_of_order": 409,
    "too_large": 413,
    # A channel this node is recovering after a restore (federation.recovery):
    # the sender tries again later, by when the envelopes were pulled.
    "recovering": 503,
    # An address past its allowance of failures (core.tally.over_limit).
    "throttled": 429,
}


# The peer whose envelopes federation.recovery is feeding in while the
# channel is still marked as recovering (which turns the peer's own posts away).
recovery_pull: ContextVar[str] = ContextVar("recovery_pull", default="")


@dataclass
class BatchResult:
    status: int = 200
    receipts: list[dict] = field(default_factory=list)
    error: dict | None = None
    duplicates: list[str] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {"receipts": self.receipts, "error": self.error, "duplicates": self.duplicates}


class Rejected(Exception):
    """An envelope refused before it is applied. `verified_as` is the sender
    only once its signature verified: before that, the sender is whatever a
    stranger wrote, and must not be recorded as who sent it."""

    def __init__(self, reason: str, detail: str = "", verified_as: str = "", **extra: Any) -> None:
        super().__init__(reason)
        self.reason, self.detail, self.extra = reason, detail, extra
        self.verified_as = verified_as


def peer_keys(peer: Peer) -> list[bytes]:
    keys = [base64.b64decode(peer.signing_key)]
    if peer.previous_signing_key:
        keys.append(base64.b64decode(peer.previous_signing_key))
    return keys


def _already_received(envelopes: list) -> dict[str, InboxMessage]:
    ids = [d.get("id") for d in envelopes if isinstance(d, dict) and isinstance(d.get("id"), str)]
    valid = []
    for candidate in ids:
        try:
            valid.append(str(UUID(candidate)))
        except ValueError:
            continue
    return {str(m.id): m for m in InboxMessage.objects.filter(id__in=valid)}


def _check_envelope(document: Any, now: datetime, peers: dict[str, Peer]) -> tuple[Envelope, Peer]:
    """Every check before applying, in the order of DESIGN.md. A sender's peer
    row is locked on first sight and kept for the rest of the batch.

    That lock comes first in the one lock order (outbox.lock_peer): the
    channel, then the items the handlers lock (a request, a commitment), then
    the audit head. A local change that will message this peer takes the same
    row before its item, so it and this batch never wait on each other in a
    circle. (Across a batch the handlers take items after earlier messages
    touched the audit head; that is safe because nobody holds a shared item
    without holding its channel first.)"""
    try:
        envelope = Envelope.parse(document)
    except EnvelopeError as exc:
        raise Rejected(exc.reason, exc.detail) from None
    if len(envelope.body) > settings.FEDERATION_MAX_BODY_BYTES:
        raise Rejected("too_large", f"body over {settings.FEDERATION_MAX_BODY_BYTES} bytes")
    peer = peers.get(envelope.sender)
    first_sight = peer is None
    if peer is None:
        peer = (
            Peer.objects.select_for_update(no_key=True)
            .filter(node_id=envelope.sender, active=True)
            .first()
        )
        if peer is None:
            raise Rejected("unknown_sender", f"{envelope.sender} is not a peer of this node")
        peers[envelope.sender] = peer
    try:
        used = envelope.verify(peer_keys(peer))
    except EnvelopeError as exc:
        raise Rejected(exc.reason, exc.detail) from None
    if first_sight and recovery_pull.get() != peer.node_id:
        if ChannelRecovery.objects.filter(peer=peer).exists():
            raise Rejected("recovering", "restored from a back-up", verified_as=peer.node_id)
    if used == 0 and peer.previous_signing_key:
        # The peer signs with its new key now: its old key is retired for good.
        retired = key_fingerprint(base64.b64decode(peer.previous_signing_key))
        peer.previous_signing_key = ""
        Peer.objects.filter(pk=peer.pk).update(previous_signing_key="")
        audit.record(
            Actor(label=f"peer:{peer.node_id}"),
            AuditAction.PEER_OLD_KEY_RETIRED,
            peer,
            data={"retired_fingerprint": retired, "current_fingerprint": peer.fingerprint},
        )
    if envelope.recipient != this_node().node_id:
        raise Rejected(
            "wrong_recipient", f"this node is {this_node().node_id}", verified_as=peer.node_id
        )
    age = abs((now - parse_time(envelope.sent_at)).total_seconds())
    if age > settings.FEDERATION_REPLAY_WINDOW_SECONDS:
        raise Rejected(
            "stale", f"sent_at is {int(age)} s from this node's clock", verified_as=peer.node_id
        )
    return envelope, peer


def _decode_body(envelope: Envelope, peer: Peer) -> tuple[kinds.Kind, Any]:
    node = this_node()
    sender_public = base64.b64decode(peer.encryption_key)
    try:
        plain = open_body(envelope.body, node.encryption_key, sender_public)
    except EnvelopeError:
        if node.previous_encryption_key is None:
            raise
        # Sealed to this node's key before the peer applied its rotation.
        plain = open_body(envelope.body, node.previous_encryption_key, sender_public)
    kind = kinds.get(envelope.kind)
    if kind is None:
        raise kinds.Refusal(f"unknown_kind: {envelope.kind}")
    try:
        data = ijson.loads(plain)
        return kind, kind.schema.model_validate(data)
    except (ValueError, SchemaError) as exc:
        raise kinds.Refusal(f"invalid_body: {_schema_message(exc)}") from None


def _schema_message(exc: Exception) -> str:
    if isinstance(exc, SchemaError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )[:500]
    return str(exc)[:500]


@dataclass
class Applied:
    """What applying one envelope leaves to write when the batch ends."""

    receipt: dict
    inbox: InboxMessage
    audit: audit.Entry


class _RetryCarefully(Exception):
    """A handler failed on the fast path: redo the batch with a savepoint per message."""


def _apply(envelope: Envelope, peer: Peer, now: datetime, careful: bool) -> Applied:
    """Apply one checked, in-order envelope; its seq is consumed either way."""
    status: MessageStatus
    reason: str | None
    stored = envelope.as_dict()
    try:
        kind, body = _decode_body(envelope, peer)  # writes nothing
    except (EnvelopeError, kinds.Refusal) as exc:
        status, reason = MessageStatus.REFUSED, exc.reason
    else:
        context = kinds.InboundContext(peer, envelope.id, envelope.seq, envelope.in_reply_to)
        status, reason = _run_handler(kind, context, body, careful)
        if status == MessageStatus.APPLIED and not kind.keep_body:
            stored["body"] = ""  # applied bulk content: its app keeps it (Kind.keep_body)
    receipt = make_receipt(envelope, str(status), reason, now, signing_key_for(peer))
    action = (
        AuditAction.INBOX_APPLY if status == MessageStatus.APPLIED else AuditAction.INBOX_REFUSE
    )
    inbox = InboxMessage(
        id=envelope.id,
        peer=peer,
        seq=envelope.seq,
        kind=envelope.kind,
        in_reply_to=envelope.in_reply_to,
        body_sha256=envelope.body_sha256,
        received_at=now,
        status=status,
        refusal_reason=reason or "",
        receipt=receipt,
        envelope=stored,
    )
    entry = audit.Entry(
        Actor(label=f"peer:{peer.node_id}"),
        action,
        target_type="federation.message",
        target_id=envelope.id,
        data={"kind": envelope.kind, "seq": envelope.seq, "reason": reason},
    )
    return Applied(receipt, inbox, entry)


def _run_handler(
    kind: kinds.Kind, context: kinds.InboundContext, body: Any, careful: bool
) -> tuple[MessageStatus, str | None]:
    """Most handlers succeed, so the fast path runs them without a savepoint
    (two round trips per message fewer). If one fails there, whatever it wrote
    must not survive: the whole batch is rolled back and redone carefully."""
    try:
        if not careful:
            kind.handler(context, body)
            return MessageStatus.APPLIED, None
        with transaction.atomic():
            kind.handler(context, body)
        return MessageStatus.APPLIED, None
    except OperationalError:
        raise  # the database itself failed (transient): nothing is consumed, the sender retries
    except Exception as exc:
        if not careful:
            raise _RetryCarefully from exc
        if isinstance(exc, kinds.Refusal):
            return MessageStatus.REFUSED, exc.reason
        log.exception("handler for %s #%s failed", context.message_id, context.seq)
        return MessageStatus.REFUSED, "internal_error"


def receive_batch(raw: bytes, remote_addr: str = "") -> BatchResult:
    """Check, apply and receipt a batch of envelopes from one sender, in order,
    in one transaction; stop at the first envelope that cannot be applied."""
    result = BatchResult()
    try:
        envelopes = _parse_batch(raw)
    except Rejected as exc:
        _reject(result, exc, remote_addr, index=0)
        return result
    now = datetime.now(UTC)
    try:
        result = _receive(envelopes, now, remote_addr, careful=False)
    except _RetryCarefully:
        result = _receive(envelopes, now, remote_addr, careful=True)
    if result.duplicates and result.error is None:
        result.status = 409
        result.error = {
            "reason": "duplicate",
            "detail": "already applied; receipts resent",
            "ids": result.duplicates,
        }
        # Only envelopes whose signature verified get this far.
        senders = {str(d.get("sender")) for d in envelopes if isinstance(d, dict)}
        record_rejection(
            "duplicate",
            f"{len(result.duplicates)} envelopes",
            remote_addr,
            verified_as=",".join(sorted(senders))[:100],
        )
    return result


def _receive(envelopes: list, now: datetime, remote_addr: str, careful: bool) -> BatchResult:
    result = BatchResult()
    with transaction.atomic():
        locked_peers: dict[str, Peer] = {}
        applied: list[Applied] = []
        seen = _already_received(envelopes)
        for index, document in enumerate(envelopes):
            try:
                envelope, peer = _check_envelope(document, now, locked_peers)
                if envelope.id in seen:
                    result.receipts.append(_duplicate_receipt(seen[envelope.id], envelope))
                    result.duplicates.append(envelope.id)
                    continue
                if envelope.seq < peer.next_in_seq:
                    # Re-read now that the peer row is locked: a retransmission
                    # racing its original sees the original as committed.
                    original = InboxMessage.objects.filter(id=envelope.id).first()
                    if original is not None:
                        result.receipts.append(_duplicate_receipt(original, envelope))
                        result.duplicates.append(envelope.id)
                        continue
                if envelope.seq != peer.next_in_seq:
                    raise Rejected(
                        "out_of_order",
                        f"expected seq {peer.next_in_seq}",
                        verified_as=peer.node_id,
                        expected_seq=peer.next_in_seq,
                    )
                outcome = _apply(envelope, peer, now, careful)
                applied.append(outcome)
                result.receipts.append(outcome.receipt)
                seen[envelope.id] = outcome.inbox
                peer.next_in_seq += 1
            except Rejected as exc:
                _reject(result, exc, remote_addr, index=index)
                break
        # One write of each kind per batch: what makes the channel fast.
        insert_many([a.inbox for a in applied])
        audit.record_many([a.audit for a in applied])
        for peer in locked_peers.values():
            Peer.objects.filter(pk=peer.pk).update(next_in_seq=peer.next_in_seq)
    return result


def _duplicate_receipt(seen: InboxMessage, envelope: Envelope) -> dict:
    if seen.body_sha256 != envelope.body_sha256 or seen.seq != envelope.seq:
        raise Rejected(
            "duplicate", "this id was used for a different message", verified_as=envelope.sender
        )
    return seen.receipt


def _parse_batch(raw: bytes) -> list:
    if len(raw) > settings.FEDERATION_MAX_REQUEST_BYTES:
        raise Rejected("too_large", f"request over {settings.FEDERATION_MAX_REQUEST_BYTES} bytes")
    try:
        document = ijson.loads(raw)
    except ijson.NotIJson as exc:
        raise Rejected("malformed", f"the request is not I-JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise Rejected("malformed", "the request is not JSON") from None
    envelopes = document.get("envelopes") if isinstance(document, dict) else None
    if not isinstance(envelopes, list) or not envelopes:
        raise Rejected("malformed", 'expected {"envelopes": [ … ]} with at least one envelope')
    if len(envelopes) > settings.FEDERATION_MAX_BATCH:
        raise Rejected("too_large", f"more than {settings.FEDERATION_MAX_BATCH} envelopes")
    return envelopes


def _reject(result: BatchResult, exc: Rejected, remote_addr: str, index: int) -> None:
    reason = exc.reason
    if not exc.verified_as and tally.over_limit(tally.Channel.INBOX, remote_addr):
        # A stranger past its allowance: told to wait (a peer whose signature
        # verified is never held back by what others sent from its address).
        reason = "throttled"
    result.status = REJECTION_STATUS[reason]
    result.error = {"index": index, "reason": reason, "detail": exc.detail, **exc.extra}
    if reason == "throttled":
        result.error["retry_after"] = tally.retry_after_seconds()
    record_rejection(exc.reason, exc.detail, remote_addr, verified_as=exc.verified_as)


def record_rejection(reason: str, detail: str, remote_addr: str, *, verified_as: str = "") -> None:
    """Count the rejection (core.tally), after the batch's transaction: the
    record of a refusal must survive it. Counted, not kept one by one nor
    audited one by one: a stranger's junk must not grow the database."""

    def write() -> None:
        tally.count(
            tally.Channel.INBOX, reason, remote_addr, detail=detail, verified_as=verified_as
        )

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(write, robust=True)
    else:
        write()
