"""The parts of a bulk transfer on the receiver's disk (docs/evidence.md 7.6,
"Checking a part" and "On disk").

A part is checked as it streams in, stored chunk by stored chunk: each must
authenticate (AES-256-GCM) under the key the signed offer carried, with its
own index and last-flag, and the SHA-256 of the chunks' tags, in order, must
be the one the offer named for the part. Only a key holder can make a chunk
that authenticates, and a tag is bound to its chunk's bytes, so that one
AES-GCM pass over the part (which the final check needs anyway) replaces a
SHA-256 pass over its ciphertext, and the sender names its parts from the
tags alone, without reading the item first.

A part counts as held once it is written to the partial file, without an
fsync of its own: a killed process loses nothing the kernel already has.
Only a crash of the machine can lose bytes written but not yet on disk, so
the row records the machine's boot id (`unsynced_boot`) when it records a
part held that way, and the partial file is fsynced before the whole is
checked and the item made (before the receipt). If the boot id has changed
since (`recheck`), every part held is checked again on disk as it was on
arrival; those that no longer check are no longer held, so the sender sends
them again, and the file is fsynced before anything else is recorded. Where
the boot id cannot be read, each part is fsynced before it counts, as
before."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction
from django.utils import timezone

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.evidence import ahead, blobs, bulk_wire, inbound
from accord.evidence.bulk_body import ReadInto, fill
from accord.evidence.models import IncomingTransfer, TransferStatus

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@cache
def current_boot() -> str:
    """This machine's boot id, or "" where there is none to read."""
    try:
        return BOOT_ID.read_text().strip()[:64]
    except OSError:
        return ""


def write_part(
    incoming: IncomingTransfer,
    readinto: ReadInto,
    offset: int,
    length: int,
    cipher: AESGCM,
    take: Callable[[int, memoryview], Any] | None = None,
) -> str:
    """Copy the body (bulk_body.reader) to the partial file at `offset`,
    each stored chunk authenticated on the way; returns the SHA-256 of the
    tags, or "" if a chunk does not authenticate or the body is short (the
    rest unread). `take(index, plaintext)` sees each chunk once it is written
    (ahead.Inline)."""
    handle = os.open(inbound.partial_path(incoming), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        write = partial(os.pwrite, handle)
        tags = _checked(incoming, readinto, offset, length, cipher, write, take)
        if tags and not current_boot():
            os.fsync(handle)  # no way to tell a restart: on disk before it counts
    finally:
        os.close(handle)
    return tags


def part_on_disk(incoming: IncomingTransfer, cipher: AESGCM, index: int) -> bool:
    """Whether part `index` as it lies in the partial file checks as on arrival."""
    offset, length = bulk_wire.part_span(
        incoming.size, incoming.chunk_bytes, incoming.part_bytes, index
    )
    try:
        with open(inbound.partial_path(incoming), "rb") as handle:
            handle.seek(offset)
            tags = _checked(incoming, handle.readinto, offset, length, cipher)
            return tags == incoming.parts[index]
    except OSError:
        return False


def _checked(
    incoming: IncomingTransfer,
    readinto: ReadInto,
    offset: int,
    length: int,
    cipher: AESGCM,
    write: Callable[[memoryview, int], Any] | None = None,
    take: Callable[[int, memoryview], Any] | None = None,
) -> str:
    """Read the part's stored chunks one by one into one buffer, each
    authenticated (and written at its offset, if asked); the SHA-256 of their
    tags, or "" as soon as one is short or does not authenticate."""
    stride = incoming.chunk_bytes + blobs.TAG_BYTES
    count = blobs.chunk_count(incoming.size, incoming.chunk_bytes)
    index, tags, done = offset // stride, hashlib.sha256(), 0
    buffer, plain = memoryview(bytearray(stride)), memoryview(bytearray(incoming.chunk_bytes))
    while done < length:
        want = min(stride, length - done)
        data = buffer[:want]
        if fill(readinto, data) < want or not _authentic(cipher, data, plain, index, count):
            return ""
        tags.update(data[-blobs.TAG_BYTES :])
        if write is not None:
            write(data, offset + done)
        if take is not None:
            take(index, plain[: want - blobs.TAG_BYTES])
        done, index = done + want, index + 1
    return tags.hexdigest()


def _authentic(
    cipher: AESGCM, sealed: memoryview, plain: memoryview, index: int, count: int
) -> bool:
    aad = blobs.aad(index, index == count - 1)
    try:
        cipher.decrypt_into(blobs.nonce(index), sealed, aad, plain[: len(sealed) - blobs.TAG_BYTES])
    except (InvalidTag, ValueError):
        return False
    return True


def sync(incoming: IncomingTransfer) -> None:
    """Every part written so far on disk (before the whole is checked)."""
    handle = os.open(inbound.partial_path(incoming), os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def mark_unsynced(incoming: IncomingTransfer) -> None:
    """Call while saving a part held: the boot its bytes may be lost with."""
    incoming.unsynced_boot = current_boot()


def recheck(pk: int) -> None:
    """After a restart of the machine, the parts held that did not survive it
    are held no more (audited); the rest are put on disk."""
    boot = current_boot()
    if (
        not boot
        or not IncomingTransfer.objects.filter(
            pk=pk, status=TransferStatus.ACTIVE, unsynced_boot__gt=""
        )
        .exclude(unsynced_boot=boot)
        .exists()
    ):
        return
    with transaction.atomic():
        incoming = IncomingTransfer.objects.select_for_update().select_related("peer").get(pk=pk)
        if incoming.unsynced_boot in ("", boot) or incoming.status != TransferStatus.ACTIVE:
            return
        cipher = AESGCM(inbound.stored_key(incoming))
        held = [
            "1" if bit == "1" and part_on_disk(incoming, cipher, index) else "0"
            for index, bit in enumerate(incoming.held)
        ]
        lost = [index for index, bit in enumerate(incoming.held) if bit == "1" != held[index]]
        if inbound.partial_path(incoming).exists():
            sync(incoming)
        incoming.held, incoming.received = "".join(held), held.count("1")
        incoming.unsynced_boot, incoming.updated_at = "", timezone.now()
        incoming.save(update_fields=["held", "received", "unsynced_boot", "updated_at"])
        if lost:
            audit.record(
                Actor.system("evidence"),
                AuditAction.EVIDENCE_PARTS_LOST,
                target_type="evidence.evidenceitem",
                target_id=str(incoming.item_id),
                data={"peer": incoming.peer.node_id, "parts": lost[:100], "lost": len(lost)},
            )
    ahead.forget(pk)


__all__ = ["current_boot", "mark_unsynced", "recheck", "sync", "write_part"]
