"""The rules of the federation channel: peering, the transactional outbox, and
the inbox that checks, applies and receipts what peers send
(DESIGN.md, Federation protocol v1; docs/protocol.md)."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.utils.translation import gettext as _
from pydantic import ValidationError as SchemaError
from uuid6 import uuid7

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.bulk import insert_many
from accord.core.canonical import canonical_bytes
from accord.core.identity import NODE_ID_PATTERN, key_fingerprint, this_node
from accord.core.roles import Permission
from accord.core.services import require
from accord.federation import kinds
from accord.federation.envelope import (
    MAX_SEQ,
    Envelope,
    EnvelopeError,
    b64decode,
    b64encode,
    body_sha256,
    format_time,
    make_receipt,
    open_body,
    parse_time,
    seal_body,
)
from accord.federation.models import (
    InboxMessage,
    InboxRejection,
    MessageStatus,
    OutboxMessage,
    Peer,
)

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
}


# ---------------------------------------------------------------- peering


def _decode_key(document: dict, name: str) -> bytes:
    try:
        raw = base64.b64decode(document["keys"][name]["public_key"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise ValidationError(
            _("The peer's identity document lacks a valid %(name)s key.") % {"name": name}
        ) from None
    if len(raw) != 32:
        raise ValidationError(_("The peer's %(name)s key is not 32 bytes.") % {"name": name})
    return raw


def normalise_fingerprint(text: str) -> str:
    cleaned = text.strip().lower().replace(":", "").replace(" ", "")
    if cleaned.startswith("sha256"):
        cleaned = cleaned[len("sha256") :].lstrip("=")
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise ValidationError(_("A fingerprint is 64 hexadecimal characters (SHA-256)."))
    return cleaned


def fetch_identity(url: str, timeout: float = 10.0) -> dict:
    base = url.rstrip("/")
    try:
        response = httpx.get(base + "/.well-known/accord", timeout=timeout)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ValidationError(
            _("Could not read the peer's identity at %(url)s: %(error)s")
            % {"url": base, "error": exc}
        ) from None


def verify_identity(document: dict, fingerprint: str) -> tuple[bytes, bytes]:
    """The pinned fingerprint vouches for the signing key; the signing key's
    signature over the document vouches for everything else in it."""
    signing = _decode_key(document, "signing")
    encryption = _decode_key(document, "encryption")
    if key_fingerprint(signing) != fingerprint:
        raise ValidationError(
            _(
                "Fingerprint mismatch: the peer's key has fingerprint %(actual)s, "
                "not %(expected)s. Do not peer until you have checked it with the other agency."
            )
            % {"actual": key_fingerprint(signing), "expected": fingerprint}
        )
    signed = {k: v for k, v in document.items() if k not in ("signature", "endpoint")}
    try:
        from nacl.signing import VerifyKey

        VerifyKey(signing).verify(
            canonical_bytes(signed), b64decode(str(document.get("signature", "")), "signature")
        )
    except Exception:
        raise ValidationError(_("The peer's identity document is not signed by its key.")) from None
    if not NODE_ID_PATTERN.match(str(document.get("node_id", ""))):
        raise ValidationError(_("The peer's node id is not valid."))
    return signing, encryption


def add_peer(actor: Actor, url: str, fingerprint: str, *, ip: str = "") -> Peer:
    require(actor, Permission.MANAGE_FEDERATION, what="add_peer", ip=ip)
    expected = normalise_fingerprint(fingerprint)
    if not url.startswith(("http://", "https://")):
        raise ValidationError(_("The peer's address must start with http:// or https://."))
    document = fetch_identity(url)
    signing, encryption = verify_identity(document, expected)
    node_id = document["node_id"]
    if node_id == this_node().node_id:
        raise ValidationError(_("That address is this node itself."))
    with transaction.atomic():
        existing = Peer.objects.select_for_update().filter(node_id=node_id).first()
        if existing is not None and existing.active:
            raise ValidationError(_("%(node)s is already a peer.") % {"node": node_id})
        peer = existing or Peer(node_id=node_id)
        if existing is not None and b64encode(signing) != existing.signing_key:
            # Re-peering with new keys after removal: keep the channel's numbering.
            peer.previous_signing_key = existing.signing_key
        peer.url = url.rstrip("/")
        peer.party = str(document.get("party", ""))[:200]
        peer.agency = str(document.get("agency", ""))[:200]
        peer.signing_key = b64encode(signing)
        peer.encryption_key = b64encode(encryption)
        peer.fingerprint = expected
        peer.active = True
        peer.blocked = False
        peer.save()
        audit.record(
            actor,
            AuditAction.PEER_ADD,
            peer,
            data={"node_id": node_id, "url": peer.url, "fingerprint": expected},
            ip=ip,
        )
    return peer


def remove_peer(actor: Actor, peer: Peer, *, ip: str = "") -> Peer:
    """Stop exchanging with a peer. Its history and receipts stay; messages still
    queued for it are kept too, and go out if it is added again."""
    require(actor, Permission.MANAGE_FEDERATION, what="remove_peer", ip=ip)
    with transaction.atomic():
        locked = Peer.objects.select_for_update().get(pk=peer.pk)
        pending = locked.outbox.filter(status=MessageStatus.PENDING).count()
        locked.active = False
        locked.save(update_fields=["active"])
        audit.record(
            actor,
            AuditAction.PEER_REMOVE,
            locked,
            data={"node_id": locked.node_id, "pending_kept": pending},
            ip=ip,
        )
    return locked


def retry(actor: Actor, peer: Peer | None = None, *, ip: str = "") -> int:
    """Clear back-off and a permanent block so delivery is tried at once."""
    require(actor, Permission.MANAGE_FEDERATION, what="retry_outbox", ip=ip)
    with transaction.atomic():
        peers = Peer.objects.filter(active=True)
        if peer is not None:
            peers = peers.filter(pk=peer.pk)
        # Clearing the lease too lets a deliverer take over at once from one
        # that died holding it (on another machine, where its pid cannot be checked).
        count = peers.update(
            blocked=False, failures=0, next_attempt_at=None, lease_owner="", lease_until=None
        )
        audit.record(
            actor,
            AuditAction.OUTBOX_RETRY,
            data={"peer": peer.node_id if peer else "*", "peers": count},
            ip=ip,
        )
    return count


# ---------------------------------------------------------------- outbox


def enqueue(
    peer: Peer, kind: str, body: kinds.StrictBody, *, in_reply_to: str | None = None
) -> OutboxMessage:
    """Queue one message. Call inside the transaction of the change that causes
    it: the message exists exactly when the change does."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enqueue must run inside the transaction of the change it reports")
    if kinds.get(kind) is None:
        raise ValueError(f"unknown message kind {kind!r}")
    locked = Peer.objects.select_for_update().get(pk=peer.pk)
    if not locked.active:
        raise ValidationError(_("%(node)s is not an active peer.") % {"node": locked.node_id})
    return _enqueue_locked(locked, kind, body.model_dump(mode="json"), in_reply_to)


def _enqueue_locked(peer: Peer, kind: str, body: dict, in_reply_to: str | None) -> OutboxMessage:
    node = this_node()
    ciphertext = seal_body(body, node.encryption_key, base64.b64decode(peer.encryption_key))
    message = OutboxMessage.objects.create(
        id=uuid7(),
        peer=peer,
        seq=peer.next_out_seq,
        kind=kind,
        in_reply_to=in_reply_to,
        body=ciphertext,
        body_sha256=body_sha256(ciphertext),
    )
    Peer.objects.filter(pk=peer.pk).update(next_out_seq=peer.next_out_seq + 1)
    peer.next_out_seq += 1
    return message


def enqueue_many(peer: Peer, kind: str, bodies: list[kinds.StrictBody]) -> list[OutboxMessage]:
    """Queue several messages of one change with one lock on the channel."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enqueue_many must run inside the transaction of the change")
    locked = Peer.objects.select_for_update().get(pk=peer.pk)
    if not locked.active:
        raise ValidationError(_("%(node)s is not an active peer.") % {"node": locked.node_id})
    node = this_node()
    recipient = base64.b64decode(locked.encryption_key)
    messages = []
    for offset, body in enumerate(bodies):
        ciphertext = seal_body(body.model_dump(mode="json"), node.encryption_key, recipient)
        messages.append(
            OutboxMessage(
                id=uuid7(),
                peer=locked,
                seq=locked.next_out_seq + offset,
                kind=kind,
                body=ciphertext,
                body_sha256=body_sha256(ciphertext),
            )
        )
    OutboxMessage.objects.bulk_create(messages, batch_size=500)
    Peer.objects.filter(pk=locked.pk).update(next_out_seq=locked.next_out_seq + len(bodies))
    return messages


def outbox_envelope(message: OutboxMessage, now: datetime) -> dict[str, Any]:
    """Sign at send time: sent_at is the moment of this attempt, so the
    receiver's replay window also bounds how long a copy stays usable."""
    node = this_node()
    key = signing_key_for(message.peer)
    envelope = Envelope(
        id=str(message.id),
        kind=message.kind,
        sender=node.node_id,
        recipient=message.peer.node_id,
        seq=message.seq,
        sent_at=format_time(now),
        in_reply_to=str(message.in_reply_to) if message.in_reply_to else None,
        body=message.body,
    ).signed(key)
    return envelope.as_dict()


def signing_key_for(peer: Peer) -> Any:
    """The key this node signs with toward a peer: the previous one while the
    peer has not yet applied this node's key-rotation announcement."""
    node = this_node()
    if peer.sign_with_previous and node.previous_signing_key is not None:
        return node.previous_signing_key
    return node.signing_key


# ---------------------------------------------------------------- inbox


@dataclass
class BatchResult:
    status: int = 200
    receipts: list[dict] = field(default_factory=list)
    error: dict | None = None
    duplicates: list[str] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {"receipts": self.receipts, "error": self.error, "duplicates": self.duplicates}


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = "", **extra: Any) -> None:
        super().__init__(reason)
        self.reason, self.detail, self.extra = reason, detail, extra


def _peer_keys(peer: Peer) -> list[bytes]:
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
    row is locked on first sight and kept for the rest of the batch."""
    try:
        envelope = Envelope.parse(document)
    except EnvelopeError as exc:
        raise Rejected(exc.reason, exc.detail) from None
    if len(envelope.body) > settings.FEDERATION_MAX_BODY_BYTES:
        raise Rejected("too_large", f"body over {settings.FEDERATION_MAX_BODY_BYTES} bytes")
    peer = peers.get(envelope.sender)
    if peer is None:
        peer = Peer.objects.select_for_update().filter(node_id=envelope.sender, active=True).first()
        if peer is None:
            raise Rejected("unknown_sender", f"{envelope.sender} is not a peer of this node")
        peers[envelope.sender] = peer
    try:
        used = envelope.verify(_peer_keys(peer))
    except EnvelopeError as exc:
        raise Rejected(exc.reason, exc.detail) from None
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
        raise Rejected("wrong_recipient", f"this node is {this_node().node_id}")
    age = abs((now - parse_time(envelope.sent_at)).total_seconds())
    if age > settings.FEDERATION_REPLAY_WINDOW_SECONDS:
        raise Rejected("stale", f"sent_at is {int(age)} s from this node's clock")
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
        data = json.loads(plain)
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
    try:
        kind, body = _decode_body(envelope, peer)  # writes nothing
    except (EnvelopeError, kinds.Refusal) as exc:
        status, reason = MessageStatus.REFUSED, exc.reason
    else:
        context = kinds.InboundContext(peer, envelope.id, envelope.seq, envelope.in_reply_to)
        status, reason = _run_handler(kind, context, body, careful)
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
        envelope=envelope.as_dict(),
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
) -> tuple[str, str | None]:
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
        _reject(result, exc, None, remote_addr, index=0)
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
        audit_rejection("duplicate", f"{len(result.duplicates)} envelopes", None, remote_addr)
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
                        expected_seq=peer.next_in_seq,
                    )
                outcome = _apply(envelope, peer, now, careful)
                applied.append(outcome)
                result.receipts.append(outcome.receipt)
                seen[envelope.id] = outcome.inbox
                peer.next_in_seq += 1
            except Rejected as exc:
                _reject(result, exc, document, remote_addr, index=index)
                break
        # One write of each kind per batch: what makes the channel fast.
        insert_many([a.inbox for a in applied])
        audit.record_many([a.audit for a in applied])
        for peer in locked_peers.values():
            Peer.objects.filter(pk=peer.pk).update(next_in_seq=peer.next_in_seq)
    return result


def _duplicate_receipt(seen: InboxMessage, envelope: Envelope) -> dict:
    if seen.body_sha256 != envelope.body_sha256 or seen.seq != envelope.seq:
        raise Rejected("duplicate", "this id was used for a different message")
    return seen.receipt


def _parse_batch(raw: bytes) -> list:
    if len(raw) > settings.FEDERATION_MAX_REQUEST_BYTES:
        raise Rejected("too_large", f"request over {settings.FEDERATION_MAX_REQUEST_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("malformed", "the request is not JSON") from None
    envelopes = document.get("envelopes") if isinstance(document, dict) else None
    if not isinstance(envelopes, list) or not envelopes:
        raise Rejected("malformed", 'expected {"envelopes": [ … ]} with at least one envelope')
    if len(envelopes) > settings.FEDERATION_MAX_BATCH:
        raise Rejected("too_large", f"more than {settings.FEDERATION_MAX_BATCH} envelopes")
    return envelopes


def _reject(
    result: BatchResult, exc: Rejected, document: Any, remote_addr: str, index: int
) -> None:
    result.status = REJECTION_STATUS[exc.reason]
    result.error = {"index": index, "reason": exc.reason, "detail": exc.detail, **exc.extra}
    audit_rejection(exc.reason, exc.detail, document, remote_addr)


def audit_rejection(reason: str, detail: str, document: Any, remote_addr: str) -> None:
    """Outside the batch's transaction: the record of a refusal must survive it."""
    fields = document if isinstance(document, dict) else {}
    sender = str(fields.get("sender", ""))[:100]
    raw_seq = fields.get("seq")
    seq = raw_seq if type(raw_seq) is int and 1 <= raw_seq <= MAX_SEQ else None
    message_id = str(fields.get("id", ""))[:64]

    def write() -> None:
        with transaction.atomic():
            InboxRejection.objects.create(
                sender=sender,
                message_id=message_id,
                seq=seq,
                reason=reason,
                detail=detail[:1000],
                remote_addr=remote_addr,
            )
            audit.record(
                Actor(label=f"peer:{sender or 'unknown'}"),
                AuditAction.INBOX_REJECT,
                target_type="federation.envelope",
                target_id=message_id,
                data={"reason": reason, "detail": detail[:500], "seq": seq},
                ip=remote_addr,
            )

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(write, robust=True)
    else:
        write()


# ---------------------------------------------------------------- reading


def channel_summary(peer: Peer) -> dict[str, Any]:
    pending = peer.outbox.filter(status=MessageStatus.PENDING)
    oldest = pending.order_by("seq").values_list("created_at", flat=True).first()
    return {
        "node_id": peer.node_id,
        "url": peer.url,
        "fingerprint": peer.fingerprint,
        "active": peer.active,
        "blocked": peer.blocked,
        "outbox_depth": pending.count(),
        "oldest_undelivered_at": oldest,
        "last_delivery_at": peer.last_delivery_at,
        "last_error": peer.last_error,
        # The error is history once a delivery has succeeded since.
        "error_resolved": bool(
            peer.last_error_at
            and peer.last_delivery_at
            and peer.last_delivery_at > peer.last_error_at
        ),
        "last_error_at": peer.last_error_at,
        "next_attempt_at": peer.next_attempt_at,
        "next_out_seq": peer.next_out_seq,
        "next_in_seq": peer.next_in_seq,
    }


def backoff_seconds(failures: int) -> float:
    return min(settings.FEDERATION_BACKOFF_MAX_SECONDS, 2 ** min(failures, 20) * 0.5)


def backoff_until(failures: int, now: datetime, jitter: float) -> datetime:
    """Exponential, capped, with +/-20 % jitter so peers recovering together do
    not retry in lock-step."""
    return now + timedelta(seconds=backoff_seconds(failures) * (0.8 + 0.4 * jitter))
