"""Sending an evidence item to the partner of its request, in chunks over the
federation channel (docs/evidence.md, "Transfer").

Memory and the database stay flat whatever the item's size: the outbox never
holds more than a window of chunks (settings.EVIDENCE_TRANSFER_WINDOW) of one
transfer. The `Transfer` row keeps the state, so either node may be killed at
any point: the next chunks are queued in the same transaction that records the
receipts of the earlier ones (`messages_applied`, sent by the deliverer), and
the channel itself delivers each message once and in order. The clock tops up
a window left short, sends custody records the partner has not seen yet, and
gives up transfers abandoned for settings.EVIDENCE_ORPHAN_DAYS.

Both nodes hold the whole custody chain of an item they share: the offer
carries the sender's records, the receipt the receiver's, and every record
either node writes afterwards follows as `evidence.custody` (custody_sync.py)."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.policy import CONFLICT
from accord.evidence import blobs, bulk, custody_sync, follow, policy, services
from accord.evidence.bulk import fail
from accord.evidence.models import (
    Blob,
    EvidenceItem,
    IncomingTransfer,
    Transfer,
    TransferStatus,
)
from accord.evidence.wire import (
    BULK_OFFER_KIND,
    CHUNK_KIND,
    DAMAGED,
    MAX_CHUNK_BYTES,
    MAX_RECORDS,
    OFFER_KIND,
    ChunkBody,
    OfferBody,
)
from accord.federation import services as federation
from accord.federation.models import MessageStatus, OutboxMessage, Peer
from accord.federation.signals import messages_applied, messages_refused

log = logging.getLogger(__name__)

OFFER_INDEX = -1  # in `in_flight`: the offer itself


def chunk_limit() -> int:
    """A chunk's plaintext size for this node's message limit: base64 twice
    (the chunk in the body, the sealed body in the envelope) makes 16/9 of
    it, plus headroom for the rest of the body and the envelope."""
    limit = settings.FEDERATION_MAX_BODY_BYTES
    return max(1024, min(MAX_CHUNK_BYTES, (limit - 4096) * 9 // 16))


def window() -> int:
    return int(settings.EVIDENCE_TRANSFER_WINDOW)


# ---------------------------------------------------------------- start


@audit.refusals_kept()
def transfer_item(actor: Actor, item: EvidenceItem, peer: Peer, *, ip: str = "") -> Transfer:
    """Send the item to `peer`, the partner of the request it answers; or go on
    with a transfer that failed (from the last chunk the peer applied) or was
    abandoned (from the start). Who may: the request's team (policy.SEND)."""
    with transaction.atomic():
        locked_peer = federation.lock_peer(peer)  # the channel first (outbox.lock_peer)
        locked = services.locked_for(actor, item, policy.SEND, ip)
        request = locked.request
        if request is None or request.peer_id != locked_peer.pk:
            reason = _("Evidence goes only to the partner of the request it belongs to.")
            services.refuse(actor, locked, policy.SEND, reason, CONFLICT, ip, peer=peer.node_id)
        if request.submitted_at is None:
            reason = _("The partner does not have this request yet: submit it first.")
            services.refuse(actor, locked, policy.SEND, reason, CONFLICT, ip, peer=peer.node_id)
        if not locked_peer.active:
            reason = _("%(node)s is not an active peer.") % {"node": locked_peer.node_id}
            services.refuse(actor, locked, policy.SEND, reason, CONFLICT, ip, peer=peer.node_id)
        blob = services.blob_of(actor, locked, policy.SEND, ip)
        transfer = Transfer.objects.select_for_update().filter(item=locked, peer=peer).first()
        now = timezone.now()
        if transfer is None and bulk.use_bulk(locked):
            transfer = bulk.new_transfer(locked, locked_peer, blob, actor, now)
            resumed = False
        elif transfer is None:
            size = chunk_limit()
            transfer = Transfer.objects.create(
                item=locked,
                peer=locked_peer,
                sha256=locked.sha256,
                size=locked.size,
                chunk_bytes=size,
                chunks=blobs.chunk_count(locked.size, size),
                started_by=actor.user,
                started_at=now,
                updated_at=now,
            )
            resumed = False
        elif transfer.status in (TransferStatus.ACTIVE, TransferStatus.DONE):
            reason = (
                _("This item is already on its way to %(node)s.")
                if transfer.status == TransferStatus.ACTIVE
                else _("%(node)s already holds this item.")
            ) % {"node": peer.node_id}
            services.refuse(actor, locked, policy.SEND, reason, CONFLICT, ip, peer=peer.node_id)
        else:
            resumed = True
            if transfer.status == TransferStatus.ABANDONED:
                transfer.confirmed = 0  # the partner removed its partial copy too
                transfer.held = "0" * len(transfer.parts)
            transfer.status, transfer.reason = TransferStatus.ACTIVE, ""
            transfer.next_index, transfer.in_flight = transfer.confirmed, []
            transfer.updated_at, transfer.finished_at = now, None
        message = enqueue_offer(locked_peer, locked, transfer, blob)
        transfer.in_flight = [[message.seq, OFFER_INDEX]]
        transfer.save()
        top_up(transfer, blob)
        audit.record(
            actor,
            AuditAction.EVIDENCE_SEND,
            locked,
            data={
                **services.container(locked),
                "peer": peer.node_id,
                "sha256": locked.sha256,
                "chunks": transfer.chunks,
                "from_chunk": transfer.confirmed,
                "resumed": resumed,
            },
            ip=ip,
        )
    return transfer


@audit.refusals_kept()
def send_to(actor: Actor, item: EvidenceItem, node_id: str = "", *, ip: str = "") -> Transfer:
    """`transfer_item` to the peer named (by default the request's partner);
    a node id that names no peer is refused, audited."""
    peer = Peer.objects.filter(node_id=node_id).first() if node_id else None
    if peer is None and not node_id and item.request is not None:
        peer = item.request.peer
    if peer is None:
        reason = _("There is no peer %(node)s.") % {"node": node_id or "-"}
        services.refuse(actor, item, policy.SEND, reason, 422, ip, peer=node_id[:100])
    return transfer_item(actor, item, peer, ip=ip)


def progress(item: EvidenceItem) -> list[dict[str, Any]]:
    """The item's transfers both ways, for the item page, the API and the CLI."""
    rows: list[Transfer | IncomingTransfer] = [*item.transfers.select_related("peer")]
    rows += IncomingTransfer.objects.filter(item_id=item.pk).select_related("peer")
    return [
        {
            "peer": row.peer.node_id,
            "direction": "out" if isinstance(row, Transfer) else "in",
            "status": row.status,
            "status_label": str(TransferStatus(row.status).label),
            "chunks": row.chunks,
            "done": row.confirmed if isinstance(row, Transfer) else row.received,
            "percent": 100
            * (row.confirmed if isinstance(row, Transfer) else row.received)
            // max(1, row.chunks),
            "reason": row.reason,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
        }
        for row in rows
    ]


def enqueue_offer(peer: Peer, item: EvidenceItem, transfer: Transfer, blob: Blob) -> OutboxMessage:
    """The offer of either path, with this node's custody records so far."""
    rows = list(item.custody.filter(node=this_node().node_id).order_by("seq")[:MAX_RECORDS])
    transfer.records_sent = len(rows)
    records = [row.to_json() for row in rows]
    if transfer.parts:
        body = bulk.offer_body(item, transfer, blob, _unsealed_key(blob), records)
        return federation.enqueue(peer, BULK_OFFER_KIND, body)
    return federation.enqueue(peer, OFFER_KIND, offer_body(item, transfer, records))


def offer_body(item: EvidenceItem, transfer: Transfer, records: list[dict[str, Any]]) -> OfferBody:
    return OfferBody(
        **bulk.offered_item(item),
        chunk_bytes=transfer.chunk_bytes,
        chunks=transfer.chunks,
        first_chunk=transfer.confirmed,
        custody=records,
    )


# ---------------------------------------------------------------- the window


def top_up(transfer: Transfer, blob: Blob | None = None) -> int:
    """Queue chunks until the window is full or the item is all queued. Call
    with the channel and the transfer row locked, in the transaction that
    changed the transfer."""
    if transfer.status != TransferStatus.ACTIVE or transfer.parts:
        return 0  # a bulk transfer's parts go by the pusher (bulk.py)
    first = transfer.next_index
    count = min(transfer.chunks - first, window() - (first - transfer.confirmed))
    if count <= 0:
        return 0
    blob = blob or Blob.objects.get(pk=transfer.sha256)
    bodies = [
        ChunkBody(
            item_id=str(transfer.item_id),
            index=first + offset,
            sha256=hashlib.sha256(data).hexdigest(),
            data=base64.b64encode(data).decode("ascii"),
        )
        for offset, data in enumerate(read_chunks(blob, transfer, first, count))
    ]
    messages = federation.enqueue_many(transfer.peer, CHUNK_KIND, bodies)
    transfer.in_flight = transfer.in_flight + [
        [message.seq, body.index] for message, body in zip(messages, bodies, strict=True)
    ]
    transfer.next_index = first + count
    transfer.updated_at = timezone.now()
    transfer.save(update_fields=["in_flight", "next_index", "updated_at"])
    return count


def read_chunks(blob: Blob, transfer: Transfer, first: int, count: int) -> Iterator[bytes]:
    """Transfer chunks first..first+count-1 of the plaintext, decrypted from
    the stored blob (whose own chunks may be of another size), each stored
    chunk authenticated before any of it is used."""
    size = transfer.chunk_bytes
    start, end = first * size, min(blob.size, (first + count) * size)
    data = b"".join(read_range(blob, start, end))
    for index in range(count):
        yield data[index * size : (index + 1) * size]


def read_range(blob: Blob, start: int, end: int) -> Iterator[bytes]:
    """The plaintext bytes [start, end) of a stored blob, reading only the
    stored chunks that hold them."""
    key = base64.b64decode(_unsealed_key(blob))
    cipher = AESGCM(key)
    total = blobs.chunk_count(blob.size, blob.chunk_bytes)
    stride = blob.chunk_bytes + blobs.TAG_BYTES
    index = start // blob.chunk_bytes
    with blobs.storage().open(blob.storage_name, "rb") as handle:
        handle.seek(index * stride)
        while index < total and index * blob.chunk_bytes < max(end, 1):
            sealed = handle.read(stride)
            last = index == total - 1
            try:
                plain = cipher.decrypt(blobs.nonce(index), sealed, blobs.aad(index, last))
            except Exception:
                raise blobs.Damaged(
                    _("Stored chunk %(i)s of %(n)s is damaged: it does not authenticate.")
                    % {"i": index + 1, "n": total}
                ) from None
            offset = index * blob.chunk_bytes
            yield plain[max(0, start - offset) : max(0, end - offset)]
            index += 1


def _unsealed_key(blob: Blob) -> str:
    from accord.core.sealed import unseal

    if not blob.sealed_key:
        raise blobs.Missing(_("The bytes of this item were purged."))
    return unseal(blob.sealed_key, blobs.key_purpose(blob.sha256))


@receiver(messages_applied)
def chunks_applied(sender: Any, peer: Peer, messages: list[OutboxMessage], **_: Any) -> None:
    """The peer applied some of this node's messages: for each transfer they
    belong to, count the chunks confirmed and queue the next ones."""
    seqs = {m.seq for m in messages if m.kind in (OFFER_KIND, BULK_OFFER_KIND, CHUNK_KIND)}
    if not seqs:
        return
    # An applied chunk's sealed body is not needed again: dropping it keeps
    # the outbox from growing with the item and leaves no copy after a purge.
    applied = [m.pk for m in messages if m.kind == CHUNK_KIND]
    OutboxMessage.objects.filter(pk__in=applied).update(body="")
    active = federation.lock_peer(peer).active
    for transfer in Transfer.objects.select_for_update().filter(
        peer=peer, status=TransferStatus.ACTIVE
    ):
        done = [entry for entry in transfer.in_flight if entry[0] in seqs]
        if not done:
            continue
        transfer.in_flight = [entry for entry in transfer.in_flight if entry[0] not in seqs]
        transfer.confirmed = max([transfer.confirmed] + [index + 1 for _seq, index in done])
        transfer.updated_at = timezone.now()
        transfer.save(update_fields=["in_flight", "confirmed", "updated_at"])
        if active and bulk.idle(transfer):
            bulk.push_soon(transfer)  # the offer is applied: the parts may go
        elif active:
            safe_top_up(transfer, "deliverer")


def safe_top_up(transfer: Transfer, how: str) -> int:
    """`top_up`, but bytes that cannot be read (the item purged under way,
    damaged storage) fail this transfer instead of the caller: the deliverer
    storing receipts, the clock."""
    try:
        with transaction.atomic():
            return top_up(transfer)
    except (Blob.DoesNotExist, blobs.BlobError) as exc:
        reason = getattr(exc, "message", "") or _("The stored bytes of this item are missing.")
        fail(transfer, f"unreadable: {reason}", how)
        return 0


@receiver(messages_refused)
def transfer_refused(sender: Any, peer: Peer, messages: list[OutboxMessage], **_: Any) -> None:
    """The peer refused an offer or a chunk (a wrong hash, an item over its
    limit...): the transfer fails with the peer's reason, and may be retried
    from the last chunk the peer applied."""
    kinds = (OFFER_KIND, BULK_OFFER_KIND, CHUNK_KIND)
    refused = {m.seq: m.refusal_reason for m in messages if m.kind in kinds}
    if not refused:
        return
    for transfer in Transfer.objects.select_for_update().filter(
        peer=peer, status=TransferStatus.ACTIVE
    ):
        hit = [refused[seq] for seq, _index in transfer.in_flight if seq in refused]
        if hit and hit[0].startswith(DAMAGED):
            transfer.confirmed = 0  # the peer removed the chunks it held: a retry starts over
        if hit:
            fail(transfer, hit[0], "deliverer")


# ---------------------------------------------------------------- receipt


def confirm(peer: Peer, item: EvidenceItem) -> Transfer:
    """The peer's receipt arrived (its records are stored by the caller): the
    transfer is done, this node records 'transferred' and sends its chain on."""
    transfer = Transfer.objects.select_for_update().get(item=item, peer=peer)
    transfer.status, transfer.reason = TransferStatus.DONE, ""
    transfer.confirmed = transfer.next_index = transfer.chunks
    transfer.in_flight, transfer.push_until = [], None
    transfer.held = "1" * len(transfer.parts)
    transfer.updated_at = transfer.finished_at = timezone.now()
    transfer.save()
    services.write_custody(
        item,
        "transferred",
        Actor(label=f"peer:{peer.node_id}"),
        details={"to": peer.node_id, "chunks": transfer.chunks},
    )
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.EVIDENCE_SENT,
        item,
        data={**services.container(item), "peer": peer.node_id, "sha256": item.sha256},
    )
    # To this peer now; to any other peer sharing the item once this commits.
    custody_sync.sync_custody(item.pk, only=peer)
    return transfer


# ---------------------------------------------------------------- the clock


def tick() -> dict[str, int]:
    """Top up windows left short, send custody records still unsent, give
    up transfers without progress for settings.EVIDENCE_ORPHAN_DAYS (removing
    the partial file of an incoming one), and start the transfer of items
    added after their request went that did not start (follow.py)."""
    from accord.evidence import partials

    result = {"topped_up": 0, "pushed": 0, "records": 0, "abandoned": 0, "followed": 0}
    cutoff = timezone.now() - timedelta(days=settings.EVIDENCE_ORPHAN_DAYS)
    for pk in Transfer.objects.filter(status=TransferStatus.ACTIVE).values_list("pk", flat=True):
        with transaction.atomic():
            transfer = Transfer.objects.get(pk=pk)
            federation.lock_peer(transfer.peer)
            transfer = Transfer.objects.select_for_update().get(pk=pk)
            if transfer.status != TransferStatus.ACTIVE:
                continue
            if transfer.updated_at < cutoff:
                abandon(transfer)
                result["abandoned"] += 1
            elif transfer.peer.active and bulk.idle(transfer):
                bulk.push_soon(transfer)  # its pusher stopped (a node killed, a long outage)
                result["pushed"] += 1
            elif transfer.peer.active:
                result["topped_up"] += safe_top_up(transfer, "clock")
    for item_id in custody_sync.behind():
        with transaction.atomic():
            result["records"] += custody_sync.sync_custody(item_id)
    result["abandoned"] += partials.clean_orphans(cutoff)
    result["followed"] = follow.tick()
    return result


def abandon(transfer: Transfer) -> None:
    transfer.status = TransferStatus.ABANDONED
    transfer.reason = f"abandoned: no progress for {settings.EVIDENCE_ORPHAN_DAYS} days"
    transfer.in_flight, transfer.finished_at = [], timezone.now()
    transfer.save()
    audit.record(
        Actor.system("clock"),
        AuditAction.EVIDENCE_ABANDONED,
        transfer.item,
        data={"peer": transfer.peer.node_id, "direction": "out", "confirmed": transfer.confirmed},
    )


def pending_sent(peer: Peer) -> int:
    """Outbox messages of this app still waiting for the peer (for tests and pages)."""
    return peer.outbox.filter(
        status=MessageStatus.PENDING, kind__in=[OFFER_KIND, BULK_OFFER_KIND, CHUNK_KIND]
    ).count()


__all__ = [
    "chunk_limit",
    "confirm",
    "progress",
    "send_to",
    "tick",
    "top_up",
    "transfer_item",
]
