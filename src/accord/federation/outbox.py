"""The transactional outbox: queue a change's messages in the change's own
transaction, sign them at send time, and space out retries (DESIGN.md,
Federation protocol v1: Delivery)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from uuid6 import uuid7

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.federation import kinds, wake
from accord.federation.envelope import Envelope, body_sha256, format_time, seal_body
from accord.federation.models import OutboxMessage, Peer


def lock_peer(peer: Peer) -> Peer:
    """Lock the channel to `peer` (its row) and return it fresh.

    The one lock order (docs/assistance.md, "Concurrency"): the Peer row
    first, then the item a message is about (a request, a commitment), then the
    audit head. The inbox locks the sender's row before any handler touches an
    item; a local change that will message the partner must take this lock
    before it locks its item, or it and an incoming message on the same item
    each hold what the other waits for. Taking it again later in the same
    transaction (as `enqueue` does) costs nothing.

    FOR NO KEY UPDATE, not FOR UPDATE: it keeps channel users apart just the
    same, but lets through the foreign-key checks of rows that refer to the
    peer (a draft request, a note). PostgreSQL makes those checks at commit,
    after the transaction took the audit head: under FOR UPDATE such a commit
    waited for the channel's holder while that holder waited for the audit
    head, a deadlock (found by bench/load.py)."""
    return Peer.objects.select_for_update(no_key=True).get(pk=peer.pk)


def enqueue(
    peer: Peer, kind: str, body: kinds.StrictBody, *, in_reply_to: str | None = None
) -> OutboxMessage:
    """Queue one message. Call inside the transaction of the change that causes
    it: the message exists exactly when the change does."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enqueue must run inside the transaction of the change it reports")
    if kinds.get(kind) is None:
        raise ValueError(f"unknown message kind {kind!r}")
    locked = lock_peer(peer)
    if not locked.active:
        raise ValidationError(_("%(node)s is not an active peer.") % {"node": locked.node_id})
    return _enqueue_locked(locked, kind, body.model_dump(mode="json"), in_reply_to)


def publish(
    actor: Actor,
    peer: Peer,
    kind: str,
    body: kinds.StrictBody,
    *,
    action: AuditAction,
    target: Any = None,
    data: dict[str, Any] | None = None,
    ip: str = "",
) -> OutboxMessage:
    """The tail every shared change ends with: queue its message to the peer and
    audit the change, both in the change's own transaction."""
    message = enqueue(peer, kind, body)
    audit.record(actor, action, target, data=data, ip=ip)
    return message


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
    wake.queued()  # the deliverer wakes when this commits
    return message


def enqueue_many(peer: Peer, kind: str, bodies: Sequence[kinds.StrictBody]) -> list[OutboxMessage]:
    """Queue several messages of one change with one lock on the channel."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enqueue_many must run inside the transaction of the change")
    locked = lock_peer(peer)
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
    if messages:
        wake.queued()  # the deliverer wakes when this commits
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


def backoff_seconds(failures: int) -> float:
    return min(settings.FEDERATION_BACKOFF_MAX_SECONDS, 2 ** min(failures, 20) * 0.5)


def backoff_until(failures: int, now: datetime, jitter: float) -> datetime:
    """Exponential, capped, with +/-20 % jitter so peers recovering together do
    not retry in lock-step."""
    return now + timedelta(seconds=backoff_seconds(failures) * (0.8 + 0.4 * jitter))
