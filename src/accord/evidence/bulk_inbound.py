"""An item arriving the bulk way (docs/evidence.md, "Bulk transfer"): the
`evidence.bulk-offer` through the channel, then its parts as raw bytes, each
in a request signed by the sending node (bulk_views.py calls in here).

The parts are the sender's ciphertext as it stores it, under the key the
sealed offer carried: each is streamed to its own offset of the partial file,
every stored chunk authenticated on the way, and kept only if the SHA-256 of
its tags is the one the signed offer named for it (bulk_disk.py, which also
says when the bytes must be on disk: a node killed at any point loses at
most the parts under way). When the last part is in, the file is fsynced,
the whole is decrypted and checked against the offer's SHA-256
(inbound.finish) and the item exists here, its receipt on its way back
through the channel. Every refusal is audited."""

from __future__ import annotations

import os
import uuid
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction
from django.utils import timezone

from accord.assistance.models import AssistanceRequest
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.sealed import seal
from accord.evidence import ahead, blobs, bulk_disk, bulk_wire, inbound, partials, services
from accord.evidence.bulk_body import ReadInto
from accord.evidence.bulk_wire import PartRefused
from accord.evidence.models import EvidenceItem, IncomingTransfer, TransferStatus
from accord.evidence.wire import BULK_OFFER_KIND, BulkOfferBody
from accord.federation import kinds
from accord.federation import services as federation
from accord.federation.kinds import Refusal
from accord.federation.models import Peer

# ---------------------------------------------------------------- offer


def receive_bulk_offer(peer: Peer, body: BulkOfferBody) -> None:
    check_offer(peer, body)
    incoming = inbound.open_incoming(peer, body.item_id)
    if incoming is not None:
        bulk_disk.recheck(incoming.pk)
        incoming.refresh_from_db()
        held = (incoming.sha256, incoming.size, incoming.chunk_bytes, incoming.part_bytes)
        if held != (body.sha256, body.size, body.chunk_bytes, body.part_bytes) or (
            incoming.parts != body.parts
        ):
            raise Refusal("offer_changed: the item differs from the transfer under way")
        # The parts held stay; the sender's chain is taken as it is now.
        incoming.custody = [r.to_json() for r in inbound.checked_records(peer, body)]
        incoming.status, incoming.reason = TransferStatus.ACTIVE, ""
        incoming.updated_at = timezone.now()
        incoming.save(update_fields=["custody", "status", "reason", "updated_at"])
        return
    if EvidenceItem.objects.filter(pk=body.item_id).exists():
        raise Refusal("already_held: this node holds an item with that id")
    create_incoming(peer, body)


def check_offer(peer: Peer, body: BulkOfferBody) -> None:
    limit = blobs.max_item_bytes()
    if body.size > limit:
        raise Refusal(f"too_large: {body.size} bytes is over this node's limit of {limit}")
    if body.part_bytes % (body.chunk_bytes + blobs.TAG_BYTES):
        raise Refusal("invalid_offer: a part must hold whole stored chunks")
    if len(body.parts) != bulk_wire.part_count(body.size, body.chunk_bytes, body.part_bytes):
        raise Refusal("invalid_offer: the number of parts does not match the size")
    if not AssistanceRequest.objects.filter(pk=body.request_id, peer=peer).exists():
        raise Refusal("unknown_request: no request with this node has that id")


def create_incoming(peer: Peer, body: BulkOfferBody) -> IncomingTransfer:
    records = inbound.checked_records(peer, body)
    now = timezone.now()
    incoming = IncomingTransfer.objects.create(
        peer=peer,
        item_id=uuid.UUID(body.item_id),
        sha256=body.sha256,
        size=body.size,
        chunk_bytes=body.chunk_bytes,
        chunks=len(body.parts),
        part_bytes=body.part_bytes,
        parts=body.parts,
        held="0" * len(body.parts),
        name=services.clean_text(body.name),
        content_type=services.clean_content_type(body.content_type),
        description=services.clean_text(body.description),
        request=AssistanceRequest.objects.get(pk=body.request_id),
        custody=[record.to_json() for record in records],
        # The sender's key for these bytes, sealed under this node's secret as
        # any blob key is: the parts are stored as they come.
        sealed_key=seal(body.key, blobs.key_purpose(body.sha256)),
        started_at=now,
        updated_at=now,
    )
    handle = os.open(inbound.partial_path(incoming), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(handle)
    return incoming


# ---------------------------------------------------------------- part requests


def authenticate(headers: dict[str, str], method: str, path: str, ip: str) -> Peer:
    """The active peer that signed this request (bulk_wire.verify_request)."""
    node_id = headers.get(bulk_wire.NODE_HEADER, "")
    peer = Peer.objects.filter(node_id=node_id, active=True, blocked=False).first()
    try:
        if set(bulk_wire.HEADERS) - set(headers):
            raise PartRefused(400, "unsigned", "the request's signature headers are missing")
        if peer is None:
            raise PartRefused(401, "unknown_sender", f"no active peer {node_id[:100]!r}")
        keys = inbound.peer_keys(peer)
        bulk_wire.verify_request(headers, method, path, this_node().node_id, keys, timezone.now())
    except PartRefused as refused:
        refuse(refused, node_id[:100], path, ip)
    assert peer is not None
    return peer


def state(peer: Peer, item_id: uuid.UUID, ip: str) -> dict[str, Any]:
    """What this node holds of the item: the sender pushes the rest."""
    incoming = find(peer, item_id, f"GET {item_id}", ip)
    bulk_disk.recheck(incoming.pk)
    incoming.refresh_from_db(fields=["held", "status"])
    return {"status": incoming.status, "parts": incoming.chunks, "held": incoming.held}


def find(peer: Peer, item_id: uuid.UUID, what: str, ip: str) -> IncomingTransfer:
    incoming = IncomingTransfer.objects.filter(peer=peer, item_id=item_id).first()
    if incoming is None or not incoming.parts or incoming.status == TransferStatus.ABANDONED:
        refuse(PartRefused(404, "unknown_transfer", "no bulk offer for this item"), peer, what, ip)
    assert incoming is not None
    return incoming


def store_part(
    peer: Peer, item_id: uuid.UUID, index: int, body: ReadInto, length: int, sha256: str, ip: str
) -> dict[str, Any]:
    """Stream part `index` (`body`: bulk_body.reader) to its place in the
    partial file, keep it if its hash is the offer's, and finish the item
    when it was the last one."""
    what = f"PUT {item_id} part {index}"
    incoming = find(peer, item_id, what, ip)
    bulk_disk.recheck(incoming.pk)
    if incoming.status == TransferStatus.DONE:
        return {"status": incoming.status, "parts": incoming.chunks, "held": incoming.chunks}
    if incoming.status != TransferStatus.ACTIVE:
        refuse(PartRefused(409, "not_active", incoming.reason[:300]), peer, what, ip)
    if not 0 <= index < incoming.chunks:
        refuse(PartRefused(404, "unknown_part", f"the offer has {incoming.chunks}"), peer, what, ip)
    if sha256 != incoming.parts[index]:
        detail = "the request names other bytes than the offer"
        refuse(PartRefused(422, "bad_part_hash", detail), peer, what, ip)
    offset, expected = bulk_wire.part_span(
        incoming.size, incoming.chunk_bytes, incoming.part_bytes, index
    )
    if length != expected:
        detail = f"part {index} holds {expected} bytes"
        refuse(PartRefused(422, "part_size", detail), peer, what, ip)
    # A part held is never written again (ahead.py checks it as it stands):
    # whether it is held is read under the lock on its bytes, which is let go
    # once the row that says so has committed.
    with ahead.part_lock(inbound.partial_path(incoming), offset, expected):
        incoming.refresh_from_db(fields=["held", "status"])
        inline = ahead.inline(incoming)
        try:
            if incoming.status == TransferStatus.ACTIVE and incoming.held[index] != "1":
                cipher = AESGCM(inbound.stored_key(incoming))
                digest = bulk_disk.write_part(incoming, body, offset, expected, cipher, inline.take)
                if digest != incoming.parts[index]:
                    detail = f"part {index} does not authenticate or match its SHA-256 in the offer"
                    refuse(PartRefused(422, "bad_part_hash", detail), peer, what, ip)
            result = keep(peer, incoming.pk, index, what, ip)
        except BaseException:
            if inline.used:  # hashed as it came, but the part is not held: not to be trusted
                ahead.forget(incoming.pk)
            raise
        if inline.used and result["status"] not in (TransferStatus.ACTIVE, TransferStatus.DONE):
            ahead.forget(incoming.pk)
    if result["status"] == TransferStatus.ACTIVE:
        ahead.advance_soon(incoming.pk)  # check what is in order while the rest comes
        ahead.keep_pace(incoming, index)
    return result


def keep(peer: Peer, pk: int, index: int, what: str, ip: str) -> dict[str, Any]:
    """Record the part as held; with the last one, check and make the item."""
    try:
        with transaction.atomic():
            federation.lock_peer(peer)  # the channel first: finish enqueues the receipt
            incoming = IncomingTransfer.objects.select_for_update().get(pk=pk)
            if incoming.status == TransferStatus.ACTIVE:
                held = list(incoming.held)
                held[index] = "1"
                incoming.held = "".join(held)
                incoming.received = incoming.held.count("1")
                incoming.updated_at = timezone.now()
                bulk_disk.mark_unsynced(incoming)
                fields = ["held", "received", "updated_at", "unsynced_boot"]
                incoming.save(update_fields=fields)
                if incoming.received == incoming.chunks:
                    durable(incoming)
                    inbound.finish(peer, incoming)
    except Refusal as refusal:
        reason, _sep, detail = str(refusal).partition(": ")
        damaged(peer, pk, reason, detail)
        refuse(PartRefused(422, reason, detail), peer, what, ip)
    incoming = IncomingTransfer.objects.get(pk=pk)
    return {"status": incoming.status, "parts": incoming.chunks, "held": incoming.received}


def durable(incoming: IncomingTransfer) -> None:
    """All parts on disk before the whole is checked and the item made."""
    try:
        bulk_disk.sync(incoming)
    except OSError:
        raise Refusal("item_damaged: the parts received could not be put on disk") from None


def damaged(peer: Peer, pk: int, reason: str, detail: str) -> None:
    """The whole did not check: the transfer fails here and starts over
    when the sender offers it again. The parts received are of no use: the
    partial file goes as soon as this commits, not at the orphan sweep."""
    with transaction.atomic():
        incoming = IncomingTransfer.objects.select_for_update().get(pk=pk)
        held = incoming.received
        incoming.status, incoming.reason = TransferStatus.FAILED, f"{reason}: {detail}"[:2000]
        incoming.held, incoming.received = "0" * incoming.chunks, 0
        incoming.updated_at = timezone.now()
        incoming.save(update_fields=["status", "reason", "held", "received", "updated_at"])
        partials.discard_partial(incoming, Actor(label=f"peer:{peer.node_id}"), reason, held)
    ahead.forget(pk)


def refuse(refused: PartRefused, peer: Peer | str, what: str, ip: str) -> None:
    """Audit the refusal, then raise it for the view to answer."""
    node = peer.node_id if isinstance(peer, Peer) else peer
    audit.record(
        Actor(label=f"peer:{node or '-'}"),
        AuditAction.EVIDENCE_REFUSED,
        target_type="evidence.transfer",
        target_id=what[:200],
        data={"reason": refused.reason, "detail": refused.detail[:300], "status": refused.status},
        ip=ip,
    )
    raise refused


kinds.register(BULK_OFFER_KIND, BulkOfferBody)(kinds.peer_handler(receive_bulk_offer))
