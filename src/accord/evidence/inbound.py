"""The evidence.* message kinds arriving from a peer (docs/evidence.md,
"Transfer"): an item's offer, its chunks, the receipt for an item this node
sent, and custody records written on the other side.

Chunks arrive in order (the channel applies each message once, in seq order)
and are encrypted on arrival, one by one, in the blob format of `blobs` under
a key made for this item when its offer came: no plaintext touches the disk.
Each is written at its own offset in the partial file, so a chunk applied
again after a rolled-back batch or a killed process overwrites itself; the
database's count of chunks received is the truth. After the last chunk the
whole is decrypted once more and checked against the offer's SHA-256 before
the item exists here."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.utils import timezone

from accord.assistance.models import AssistanceRequest
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.sealed import seal, unseal
from accord.evidence import ahead, blobs, custody, custody_sync, services, transfer
from accord.evidence.models import (
    Blob,
    CustodyRecordRow,
    EvidenceItem,
    IncomingTransfer,
    Transfer,
    TransferStatus,
)
from accord.evidence.wire import (
    CHUNK_KIND,
    CUSTODY_KIND,
    DAMAGED,
    OFFER_KIND,
    RECEIPT_KIND,
    BulkOfferBody,
    ChunkBody,
    CustodyBody,
    OfferBody,
    ReceiptBody,
)
from accord.federation import kinds
from accord.federation import services as federation
from accord.federation.kinds import Refusal
from accord.federation.models import Peer

READ_BYTES = 1_048_576


def incoming_root() -> Path:
    path = Path(settings.DATA_DIR) / "evidence-incoming"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def partial_path(incoming: IncomingTransfer) -> Path:
    # Named by the peer's row and the item's UUID: nothing a user typed.
    return incoming_root() / f"{incoming.peer_id}-{incoming.item_id}.part"


def stored_key(incoming: IncomingTransfer) -> bytes:
    return base64.b64decode(unseal(incoming.sealed_key, blobs.key_purpose(incoming.sha256)))


# ---------------------------------------------------------------- offer


def receive_offer(peer: Peer, body: OfferBody) -> None:
    limit = blobs.max_item_bytes()
    if body.size > limit:
        raise Refusal(f"too_large: {body.size} bytes is over this node's limit of {limit}")
    if body.chunk_bytes > transfer.chunk_limit():
        raise Refusal(f"chunk_too_large: this node takes chunks of {transfer.chunk_limit()} bytes")
    if body.chunks != blobs.chunk_count(body.size, body.chunk_bytes):
        raise Refusal("invalid_offer: the chunk count does not match the size")
    request = AssistanceRequest.objects.filter(pk=body.request_id, peer=peer).first()
    if request is None:
        raise Refusal("unknown_request: no request with this node has that id")
    incoming = open_incoming(peer, body.item_id)
    if incoming is not None:
        same = (incoming.sha256, incoming.size, incoming.chunk_bytes) == (
            body.sha256,
            body.size,
            body.chunk_bytes,
        )
        if not same:
            raise Refusal("offer_changed: the item differs from the transfer under way")
        # No partial file: its chunks failed the whole check and were removed.
        held = incoming.received if partial_path(incoming).exists() else 0
        if body.first_chunk != held:
            raise Refusal(f"resume_mismatch: this node holds {held} chunks")
        if held != incoming.received:
            restart(incoming)
        # The sender's chain as it is now (it may have grown since the first offer).
        incoming.custody = [r.to_json() for r in checked_records(peer, body)]
        incoming.status, incoming.reason = TransferStatus.ACTIVE, ""
        incoming.updated_at = timezone.now()
        incoming.save(update_fields=["custody", "status", "reason", "updated_at"])
        return
    if EvidenceItem.objects.filter(pk=body.item_id).exists():
        raise Refusal("already_held: this node holds an item with that id")
    if body.first_chunk != 0:
        raise Refusal("resume_mismatch: this node holds 0 chunks")
    records = checked_records(peer, body)
    key = AESGCM.generate_key(bit_length=256)
    now = timezone.now()
    incoming = IncomingTransfer.objects.create(
        peer=peer,
        item_id=uuid.UUID(body.item_id),
        sha256=body.sha256,
        size=body.size,
        chunk_bytes=body.chunk_bytes,
        chunks=body.chunks,
        name=services.clean_text(body.name),
        content_type=services.clean_content_type(body.content_type),
        description=services.clean_text(body.description),
        request=request,
        custody=[record.to_json() for record in records],
        sealed_key=seal(base64.b64encode(key).decode(), blobs.key_purpose(body.sha256)),
        started_at=now,
        updated_at=now,
    )
    handle = os.open(partial_path(incoming), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(handle)


def restart(incoming: IncomingTransfer) -> None:
    """Nothing of the item is held any more: the transfer starts over."""
    incoming.received = 0
    incoming.save(update_fields=["received"])
    handle = os.open(partial_path(incoming), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(handle)


def open_incoming(peer: Peer, item_id: str) -> IncomingTransfer | None:
    """The transfer of this item from `peer` under way (locked), or None if
    there is none or it was abandoned (its partial file is gone: start over);
    refused if this node holds the item already."""
    incoming = IncomingTransfer.objects.select_for_update().filter(peer=peer, item_id=item_id)
    found = incoming.first()
    if found is not None and found.status == TransferStatus.DONE:
        raise Refusal("already_received: this node holds the item")
    if found is not None and found.status == TransferStatus.ABANDONED:
        found.delete()
        return None
    return found


def checked_records(peer: Peer, body: OfferBody | BulkOfferBody) -> list[custody.Record]:
    """The offer's records: the sender's own chain from seq 0, signed by it."""
    records = parse_records(peer, body.item_id, body.sha256, body.custody)
    try:
        custody.verify_chain(records, {peer.node_id: peer_keys(peer)})
    except custody.CustodyError as exc:
        raise Refusal(f"{exc.code}: {exc}"[:400]) from None
    return records


# ---------------------------------------------------------------- chunks


def receive_chunk(peer: Peer, body: ChunkBody) -> None:
    incoming = (
        IncomingTransfer.objects.select_for_update().filter(peer=peer, item_id=body.item_id).first()
    )
    if incoming is None or incoming.status == TransferStatus.ABANDONED or incoming.parts:
        raise Refusal("unknown_transfer: no offer for this item is under way")
    if incoming.status == TransferStatus.DONE or body.index < incoming.received:
        return  # a chunk this node already holds: nothing to do
    if body.index >= incoming.chunks:
        raise Refusal("invalid_chunk: index beyond the offer's chunks")
    if body.index > incoming.received:
        raise Refusal(f"chunk_out_of_order: expected chunk {incoming.received}")
    try:
        data = base64.b64decode(body.data, validate=True)
    except ValueError:
        raise Refusal("invalid_body: data must be base64") from None
    last = body.index == incoming.chunks - 1
    expected = incoming.size - body.index * incoming.chunk_bytes if last else incoming.chunk_bytes
    if len(data) != expected:
        raise Refusal(f"chunk_size: chunk {body.index} must hold {expected} bytes")
    if hashlib.sha256(data).hexdigest() != body.sha256:
        raise Refusal(f"chunk_damaged: chunk {body.index} does not match its SHA-256")
    sealed = AESGCM(stored_key(incoming)).encrypt(
        blobs.nonce(body.index), data, blobs.aad(body.index, last)
    )
    handle = os.open(partial_path(incoming), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(handle, sealed, body.index * (incoming.chunk_bytes + blobs.TAG_BYTES))
        os.fsync(handle)  # on disk before the count that says so commits
    finally:
        os.close(handle)
    incoming.received = body.index + 1
    incoming.updated_at = timezone.now()
    incoming.save(update_fields=["received", "updated_at"])
    if last:
        finish_or_discard(peer, incoming)


def finish_or_discard(peer: Peer, incoming: IncomingTransfer) -> None:
    """`finish`; if the whole does not check, the chunks received are of no
    use: the partial file goes now, not at the orphan sweep. The refusal rolls
    back this message's writes, so the file is removed at once and the reason
    says so (the inbox's audit keeps it); the sender starts over from chunk 0
    (transfer.transfer_refused) and the offer finds no partial file here."""
    try:
        finish(peer, incoming)
    except Refusal as refusal:
        if not str(refusal).startswith(DAMAGED):
            raise
        path = partial_path(incoming)
        size = path.stat().st_size if path.exists() else 0
        path.unlink(missing_ok=True)
        raise Refusal(
            f"{refusal}; the {size} bytes received are removed: offer it again from chunk 0"
        ) from None


def finish(peer: Peer, incoming: IncomingTransfer) -> EvidenceItem:
    """The last chunk is in: check the whole, keep it as a blob, make the item
    with the sender's custody and this node's 'received' record, and send the
    receipt. The partial file goes once this has committed."""
    path = partial_path(incoming)
    check_whole(incoming, path)
    if EvidenceItem.objects.filter(pk=incoming.item_id).exists():
        raise Refusal("already_held: this node holds an item with that id")
    blob = Blob.objects.filter(pk=incoming.sha256).first()
    if blob is None:
        blob = store_partial(incoming, path)
    collected = next((r for r in incoming.custody if r["event"] == "collected"), None)
    details = collected["details"] if collected else {}
    item = EvidenceItem.objects.create(
        id=incoming.item_id,
        sha256=incoming.sha256,
        size=incoming.size,
        name=incoming.name,
        content_type=incoming.content_type,
        description=incoming.description,
        request=incoming.request,
        collected_how=str(details.get("how", ""))[:300],
        collected_where=str(details.get("where", ""))[:300],
        collected_by=str(details.get("by", ""))[:300],
        collected_when=str(details.get("when", ""))[:64],
        legal_basis=str(details.get("legal_basis", ""))[:300],
        created_at=timezone.now(),
    )
    for raw in incoming.custody:
        CustodyRecordRow.of(item, custody.Record.from_json(raw)).save(force_insert=True)
    actor = Actor(label=f"peer:{peer.node_id}")
    received = services.write_custody(
        item, "received", actor, details={"from": peer.node_id, "chunks": incoming.chunks}
    )
    incoming.status, incoming.custody, incoming.records_sent = TransferStatus.DONE, [], 1
    incoming.finished_at = incoming.updated_at = timezone.now()
    incoming.save()
    audit.record(
        actor,
        AuditAction.EVIDENCE_RECEIVE,
        item,
        data={"request": item.request.reference if item.request else "", "sha256": item.sha256},
    )
    federation.enqueue(
        peer,
        RECEIPT_KIND,
        ReceiptBody(item_id=str(item.pk), sha256=item.sha256, custody=[received.to_json()]),
    )
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
    return item


def check_whole(incoming: IncomingTransfer, path: Path) -> None:
    """Decrypt the partial file chunk by chunk (each authenticates) and check
    the plaintext against the offer's size and SHA-256."""
    cipher = AESGCM(stored_key(incoming))
    # The stored chunks (a bulk transfer counts its parts in `chunks`).
    count = blobs.chunk_count(incoming.size, incoming.chunk_bytes)
    # Of a bulk item, the chunks up to some part may be checked already, as
    # they came (ahead.py): the check goes on from there.
    with ahead.taken(incoming) as (digest, size, first):
        try:
            with open(path, "rb") as handle:
                size += ahead.hash_chunks(incoming, handle, cipher, first, count, digest)
                extra = handle.read(1)
        except Exception:
            raise Refusal("item_damaged: the chunks received do not authenticate") from None
    if extra or size != incoming.size or digest.hexdigest() != incoming.sha256:
        raise Refusal("item_damaged: the item does not match its SHA-256")


def store_partial(incoming: IncomingTransfer, path: Path) -> Blob:
    """Put the encrypted partial file into the evidence storage as the blob:
    a second name for it in the local folder (no bytes copied), else a copy.
    Never a move: if the transaction rolls back, the partial file is still
    there for the next attempt."""
    store = blobs.storage()
    name = f"{incoming.sha256[:2]}/{incoming.sha256}"
    if store.exists(name):
        store.delete(name)  # no Blob row names it: left by a rolled-back attempt
    saved = _linked(store, name, path)
    if not saved:
        with open(path, "rb") as handle:
            saved = store.save(name, File(handle, name=name))
    return Blob.objects.create(
        sha256=incoming.sha256,
        size=incoming.size,
        chunk_bytes=incoming.chunk_bytes,
        sealed_key=incoming.sealed_key,
        storage_name=saved,
    )


def _linked(store: Any, name: str, path: Path) -> str:
    """`name` in the local folder made a hard link to `path`; "" where the
    storage is elsewhere (an object store, another file system)."""
    if not isinstance(store, FileSystemStorage):
        return ""
    target = Path(store.path(name))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    except OSError:
        return ""
    return name


# ---------------------------------------------------------------- receipt and custody


def receive_receipt(peer: Peer, body: ReceiptBody) -> None:
    item = EvidenceItem.objects.select_for_update().filter(pk=body.item_id).first()
    sending = Transfer.objects.filter(item_id=uuid.UUID(body.item_id), peer=peer).first()
    if item is None or sending is None:
        raise Refusal("unknown_transfer: this node sent no such item")
    if sending.status == TransferStatus.DONE:
        return
    if body.sha256 != item.sha256:
        raise Refusal("receipt_mismatch: the receipt names other bytes")
    store_peer_records(peer, item, body.custody)
    transfer.confirm(peer, item)


def receive_custody(peer: Peer, body: CustodyBody) -> None:
    item = EvidenceItem.objects.select_for_update().filter(pk=body.item_id).first()
    if item is None or not any(link.peer_id == peer.pk for link in custody_sync.links(item.pk)):
        raise Refusal("not_shared: this node shares no such item with the sender")
    store_peer_records(peer, item, body.records)


def peer_keys(peer: Peer) -> list[bytes]:
    keys = [base64.b64decode(peer.signing_key)]
    if peer.previous_signing_key:
        keys.append(base64.b64decode(peer.previous_signing_key))
    return keys


def parse_records(peer: Peer, item_id: str, sha256: str, raw: list[Any]) -> list[custody.Record]:
    records = []
    for data in raw:
        try:
            record = custody.Record.from_json(data)
        except custody.CustodyError as exc:
            raise Refusal(f"{exc.code}: {exc}"[:400]) from None
        if record.node != peer.node_id:
            raise Refusal("custody_node: a node sends its own custody records only")
        if record.item != item_id or record.sha256 != sha256:
            raise Refusal("custody_item: a record is about another item")
        records.append(record)
    return records


def store_peer_records(peer: Peer, item: EvidenceItem, raw: list[Any]) -> int:
    """Append the peer's records to its chain for the item here: each signed by
    the peer, following the last one held; one already held is skipped (it
    must be the same record), a gap or a different record is refused."""
    keys = peer_keys(peer)
    held = {row.seq: row.hash for row in item.custody.filter(node=peer.node_id)}
    last_seq = max(held, default=-1)
    last_hash = held.get(last_seq, "")
    added = 0
    for record in parse_records(peer, str(item.pk), item.sha256, raw):
        if not any(record.signature_ok(key) for key in keys):
            raise Refusal(f"custody_signature: record seq {record.seq} is not signed by the sender")
        if record.seq in held:
            if held[record.seq] != record.hash:
                raise Refusal(f"custody_conflict: record seq {record.seq} is not the one held")
            continue
        if record.seq != last_seq + 1 or record.prev != last_hash:
            raise Refusal(f"custody_order: expected seq {last_seq + 1} after the records held")
        CustodyRecordRow.of(item, record).save(force_insert=True)
        last_seq, last_hash = record.seq, record.hash
        held[record.seq] = record.hash
        added += 1
    return added


kinds.register(OFFER_KIND, OfferBody)(kinds.peer_handler(receive_offer))
# An applied chunk's envelope is kept without its body: the bytes live in the
# evidence storage only, and a purge removes every copy.
kinds.register(CHUNK_KIND, ChunkBody, keep_body=False)(kinds.peer_handler(receive_chunk))
kinds.register(RECEIPT_KIND, ReceiptBody)(kinds.peer_handler(receive_receipt))
kinds.register(CUSTODY_KIND, CustodyBody)(kinds.peer_handler(receive_custody))
