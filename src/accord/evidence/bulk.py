"""Sending an item the bulk way (docs/evidence.md, "Bulk transfer"): the
signed offer names each part of the item's ciphertext as this node stores it
by the SHA-256 of its chunks' tags (read where they lie, so nothing reads the
item before its offer), and the parts follow as raw bytes, several at once, each in
a PUT signed by this node (bulk_wire.py), straight from the storage: nothing
is decrypted, re-encrypted or base64'd on the way, and no process holds more
than a part per request in flight.

The pusher is a thread of the process that learns the offer was applied
(the deliverer storing its receipt), started as soon as that commits. It
asks the receiver which parts it holds, sends the others, and goes round
again until the receiver holds them all; the receiver then checks the whole
and answers with its signed receipt through the channel, as for JSON chunks.
The receiver's answer is the truth about what it holds, so either node may
be killed at any point: the clock starts a pusher again for a transfer whose
pusher's lease (`push_until`) ran out."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.evidence import blobs, bulk_send, bulk_wire
from accord.evidence.bulk_wire import PartRefused
from accord.evidence.models import Blob, EvidenceItem, Transfer, TransferStatus
from accord.evidence.wire import BulkOfferBody
from accord.federation import services as federation
from accord.federation.models import Peer

log = logging.getLogger(__name__)

READ_BYTES = 1_048_576
# Rounds without the whole item held before a pusher leaves the rest to the
# clock (which hands the transfer on again once the lease has run out).
MAX_ROUNDS = 12
TRANSIENT = (httpx.TransportError, httpx.HTTPStatusError, ValueError, KeyError)


def use_bulk(item: EvidenceItem) -> bool:
    return item.size >= settings.EVIDENCE_BULK_MIN_BYTES


def lease() -> datetime:
    """Long enough for a round of parts and the longest backoff after it."""
    seconds = settings.FEDERATION_HTTP_TIMEOUT_SECONDS + settings.FEDERATION_BACKOFF_MAX_SECONDS
    return timezone.now() + timedelta(seconds=seconds + 30)


# ---------------------------------------------------------------- the offer


def new_transfer(
    item: EvidenceItem, peer: Peer, blob: Blob, actor: Actor, now: datetime
) -> Transfer:
    part_bytes = bulk_wire.part_bytes_for(blob.size, blob.chunk_bytes, settings.EVIDENCE_PART_BYTES)
    hashes = part_hashes(blob, part_bytes)
    return Transfer.objects.create(
        item=item,
        peer=peer,
        sha256=item.sha256,
        size=item.size,
        chunk_bytes=part_bytes,
        chunks=len(hashes),
        parts=hashes,
        held="0" * len(hashes),
        started_by=actor.user,
        started_at=now,
        updated_at=now,
    )


def part_hashes(blob: Blob, part_bytes: int) -> list[str]:
    """The name of each part of the stored ciphertext: the SHA-256 of its
    chunks' tags (bulk_wire.part_sha256), read where they lie, 16 bytes per
    stored chunk: no pass over the item's bytes before the offer."""
    count = bulk_wire.part_count(blob.size, blob.chunk_bytes, part_bytes)
    hashes = []
    with blobs.storage().open(blob.storage_name, "rb") as handle:
        for index in range(count):
            digest = hashlib.sha256()
            for offset in bulk_wire.tag_offsets(blob.size, blob.chunk_bytes, part_bytes, index):
                handle.seek(offset)
                tag = handle.read(bulk_wire.TAG_BYTES)
                if len(tag) != bulk_wire.TAG_BYTES:
                    raise blobs.Damaged(_("The stored bytes of this item are cut short."))
                digest.update(tag)
            hashes.append(digest.hexdigest())
    return hashes


def read_part(blob: Blob, part_bytes: int, index: int) -> Iterator[bytes]:
    """The stored bytes of part `index`, READ_BYTES at a time."""
    start, left = bulk_wire.part_span(blob.size, blob.chunk_bytes, part_bytes, index)
    with blobs.storage().open(blob.storage_name, "rb") as handle:
        handle.seek(start)
        while left > 0:
            data = handle.read(min(READ_BYTES, left))
            if not data:
                raise blobs.Damaged(_("The stored bytes of this item are cut short."))
            left -= len(data)
            yield data


def offered_item(item: EvidenceItem) -> dict[str, Any]:
    """The members of `wire.OfferedItem`, which both kinds of offer carry."""
    return {
        "item_id": str(item.pk),
        "sha256": item.sha256,
        "size": item.size,
        "name": item.name,
        "content_type": item.content_type,
        "description": item.description,
        "request_id": str(item.request_id),
    }


def offer_body(
    item: EvidenceItem, transfer: Transfer, blob: Blob, key: str, records: list[dict[str, Any]]
) -> BulkOfferBody:
    return BulkOfferBody(
        **offered_item(item),
        chunk_bytes=blob.chunk_bytes,
        key=key,
        part_bytes=transfer.chunk_bytes,
        parts=transfer.parts,
        custody=records,
    )


# ---------------------------------------------------------------- starting a pusher


def push_soon(transfer: Transfer) -> None:
    """Start a pusher for the transfer once this transaction commits, under a
    lease so the clock does not start a second one."""
    transfer.push_until = lease()
    transfer.save(update_fields=["push_until"])
    pk = transfer.pk
    transaction.on_commit(lambda: start_pusher(pk))


def start_pusher(pk: int) -> threading.Thread:
    """A thread of this process (the deliverer, or the clock), not the task
    worker: the parts start at once, not at the worker's next poll."""
    thread = threading.Thread(target=push_parts, args=(pk,), name=f"accord-push-{pk}", daemon=True)
    thread.start()
    return thread


def idle(transfer: Transfer) -> bool:
    """A bulk transfer whose offer is applied and whose pusher is gone."""
    return (
        bool(transfer.parts)
        and transfer.status == TransferStatus.ACTIVE
        and not transfer.in_flight
        and (transfer.push_until is None or transfer.push_until < timezone.now())
    )


def fail(transfer: Transfer, reason: str, how: str) -> None:
    """The transfer fails with `reason` (both paths); a retry goes on from
    what the receiver holds. Call with the channel and the transfer locked."""
    transfer.status, transfer.reason = TransferStatus.FAILED, reason[:2000]
    transfer.in_flight, transfer.next_index = [], transfer.confirmed
    transfer.push_until = None
    transfer.updated_at = transfer.finished_at = timezone.now()
    transfer.save()
    audit.record(
        Actor.system(how),
        AuditAction.EVIDENCE_SEND_FAILED,
        transfer.item,
        data={
            "peer": transfer.peer.node_id,
            "reason": transfer.reason,
            "confirmed": transfer.confirmed,
        },
    )


def push_parts(pk: int) -> str:
    """The pusher thread; returns how it ended. A failure it cannot name is
    logged and left to the clock (the lease runs out)."""
    try:
        return Pusher(pk).run()
    except Exception:
        log.exception("evidence pusher of transfer %s stopped", pk)
        return "error"
    finally:
        connections.close_all()


# ---------------------------------------------------------------- the pusher


class Stopped(Exception):
    """The transfer is no longer this pusher's to push."""


class Pusher:
    def __init__(self, pk: int) -> None:
        self.transfer = Transfer.objects.select_related("peer", "item").get(pk=pk)
        self.peer = self.transfer.peer
        self.base = self.peer.url.rstrip("/")
        self.node = this_node()

    def run(self) -> str:
        timeout = settings.FEDERATION_HTTP_TIMEOUT_SECONDS
        self.plain = bulk_send.PlainSender.for_peer(self.base, timeout)
        with httpx.Client(timeout=timeout) as self.client:
            try:
                self.blob = Blob.objects.get(pk=self.transfer.sha256)
                self.file = bulk_send.local_file(self.blob)
                return self._rounds()
            except Stopped:
                return "stopped"
            except PartRefused as refused:
                self._fail(f"{refused.reason}: {refused.detail}")
                return "refused"
            except (Blob.DoesNotExist, blobs.BlobError) as exc:
                reason = getattr(exc, "message", "") or "the stored bytes are missing"
                self._fail(f"unreadable: {reason}")
                return "unreadable"
            finally:
                if self.plain is not None:
                    self.plain.close()

    def _rounds(self) -> str:
        for round_ in range(MAX_ROUNDS):
            self._renew()
            try:
                path = bulk_wire.PARTS_PATH.format(item=self.transfer.item_id)
                state = self._request("GET", path)
                if state["status"] == TransferStatus.DONE:
                    return "done"  # the receipt follows through the channel
                missing = [i for i, bit in enumerate(state["held"]) if bit != "1"]
                # All held and not done: the receiver stopped while checking
                # the whole; the last part again makes it check once more.
                self._push(missing or [len(state["held"]) - 1])
            except TRANSIENT as exc:
                log.info("evidence part push to %s: %s; trying again", self.peer.node_id, exc)
                time.sleep(min(2**round_, settings.FEDERATION_BACKOFF_MAX_SECONDS))
        return "later"

    def _push(self, indexes: list[int]) -> None:
        """Send these parts, several at once; record each the receiver stored."""
        failed = 0
        with ThreadPoolExecutor(max_workers=settings.EVIDENCE_PARTS_IN_FLIGHT) as pool:
            futures = {pool.submit(self._put, index): index for index in indexes}
            try:
                for future in as_completed(futures):
                    if future.result():
                        self._mark(futures[future])
                    else:
                        failed += 1
            finally:
                if self.plain is not None:
                    pool.shutdown(wait=True)
                    self.plain.close()  # the pool's threads are done with their connections
        if failed:
            raise httpx.TransportError(f"{failed} of {len(indexes)} parts not delivered")

    def _put(self, index: int) -> bool:
        """Whether the receiver now holds the part; False for a failure worth
        another try. The part streams from the storage, READ_BYTES at a time."""
        part_bytes = self.transfer.chunk_bytes
        _start, length = bulk_wire.part_span(
            self.blob.size, self.blob.chunk_bytes, part_bytes, index
        )
        path = bulk_wire.PART_PATH.format(item=self.transfer.item_id, index=index)
        sha256 = self.transfer.parts[index]
        try:
            if self.plain is not None and self.file is not None:
                headers = self._headers("PUT", path, sha256, length)
                self._answer(*self.plain.put(path, headers, self.file, _start, length))
            else:
                body = read_part(self.blob, part_bytes, index)
                self._request("PUT", path, body, sha256, length)
        except TRANSIENT as exc:
            log.info("evidence part %s to %s: %s", index, self.peer.node_id, exc)
            return False
        return True

    def _request(
        self,
        method: str,
        path: str,
        body: Iterator[bytes] | bytes = b"",
        sha256: str = bulk_wire.EMPTY_SHA256,
        length: int = 0,
    ) -> dict[str, Any]:
        headers = self._headers(method, path, sha256, length)
        response = self.client.request(method, self.base + path, content=body, headers=headers)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code not in (401, 404, 409, 422):
            response.raise_for_status()
        return self._answer(response.status_code, answer)

    def _headers(self, method: str, path: str, sha256: str, length: int) -> dict[str, str]:
        headers = bulk_wire.sign_request(
            self.node.signing_key, method, path, self.node.node_id, self.peer.node_id,
            timezone.now(), sha256,
        )  # fmt: skip
        headers["Content-Type"] = "application/octet-stream"
        if method == "PUT":
            headers["Content-Length"] = str(length)  # streamed, not chunked
        return headers

    @staticmethod
    def _answer(status: int, answer: Any) -> dict[str, Any]:
        """The receiver's JSON answer; its refusal raised with its reason."""
        if status in (401, 404, 409, 422) and isinstance(answer, dict) and "reason" in answer:
            raise PartRefused(status, answer["reason"], answer.get("detail", ""))
        if not 200 <= status < 300 or not isinstance(answer, dict):
            raise httpx.TransportError(f"the receiver answered {status}")
        return answer

    def _mark(self, index: int) -> None:
        with transaction.atomic():
            transfer = Transfer.objects.select_for_update().get(pk=self.transfer.pk)
            if transfer.status != TransferStatus.ACTIVE:
                raise Stopped
            held = list(transfer.held)
            held[index] = "1"
            transfer.held = "".join(held)
            transfer.confirmed = transfer.held.count("1")
            transfer.updated_at, transfer.push_until = timezone.now(), lease()
            transfer.save(update_fields=["held", "confirmed", "updated_at", "push_until"])

    def _renew(self) -> None:
        renewed = Transfer.objects.filter(pk=self.transfer.pk, status=TransferStatus.ACTIVE)
        if not renewed.update(push_until=lease()):
            raise Stopped

    def _fail(self, reason: str) -> None:
        with transaction.atomic():
            federation.lock_peer(self.peer)
            transfer = Transfer.objects.select_for_update().get(pk=self.transfer.pk)
            if transfer.status == TransferStatus.ACTIVE:
                fail(transfer, reason, "pusher")


__all__ = ["fail", "idle", "new_transfer", "offer_body", "push_parts", "push_soon", "use_bulk"]
