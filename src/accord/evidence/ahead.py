"""Checking a bulk item while its parts arrive (docs/evidence.md 7.6).

The receiver checks the whole item once every part is in: each stored chunk
decrypted and authenticated, the plaintext hashed in order and compared with
the offer's SHA-256 (inbound.check_whole). Done only at the end, that pass
adds the whole item's decryption and hashing to the transfer's time. Here
the same pass runs as the parts come, in order, in the process that stores
them: when the parts from the start up to some part are all held, they are
decrypted and hashed then, while later parts are still on the wire, and the
final check goes on from where this one stands. The check itself is the
same (every chunk authenticated, every plaintext byte hashed in order, the
whole compared at the end); only when it runs changes.

A chunk that arrives exactly where the check stands (the lowest part on the
wire, once everything before it is checked) is hashed as it comes, from the
plaintext its arrival check has just decrypted (`inline`): it is neither
read back nor decrypted a second time. Otherwise, once its part is held, it
is read back from the partial file (`advance`), by one thread per transfer
(`advance_soon`): the request that stored the part answers its sender at
once, and the hashing (which lets go of the interpreter's lock) runs beside
the parts still coming.

That is sound because the bytes of a part never change once it is held: a
part is written only under an exclusive lock on its byte range of the
partial file (an open-file-description lock, so it excludes threads and
processes alike), by a writer that found it not held under that lock, and
the lock is let go only after the row that says it is held has committed.
A chunk hashed as it came is of a part not yet held: if that part does not
end up held by the same request (a short body, a chunk that does not
authenticate, tags other than the offer's, any error), the request forgets
the check before it lets the lock go, so bytes written again later are
never taken on the strength of what was hashed before.

The state is this process's memory: a node killed, another process storing
the last part, or anything unexpected, and the final check simply starts
from the first chunk, as before."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection, transaction

from accord.evidence import blobs
from accord.evidence.models import IncomingTransfer, TransferStatus


@contextmanager
def part_lock(path: Path, offset: int, length: int) -> Iterator[None]:
    """An exclusive lock on bytes [offset, offset + length) of the partial
    file, held until the block ends (F_OFD_SETLKW: per open file, so another
    thread of this process waits as another process does)."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks).
        lock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, offset, max(1, length), 0)
        fcntl.fcntl(handle, fcntl.F_OFD_SETLKW, lock)
        yield
    finally:
        os.close(handle)  # lets the lock go


@dataclass
class Progress:
    """Chunks [0, chunks) checked: `digest` holds their plaintext, `size` its length."""

    ident: tuple[Any, ...]
    chunks: int = 0
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Taken by the final check: nothing is to be added to it any more.
    closed: bool = False
    # Notified whenever the check moves on (keep_pace waits on it).
    moved: threading.Condition = field(default_factory=threading.Condition)


log = logging.getLogger(__name__)
# How far the parts stored may run ahead of the check (keep_pace).
AHEAD_PARTS = 4
PACE_SECONDS = 5.0
_progress: dict[int, Progress] = {}
_guard = threading.Lock()


def _ident(incoming: IncomingTransfer) -> tuple[Any, ...]:
    """What makes the progress this transfer's (a row id may be used again)."""
    return (
        str(incoming.item_id),
        incoming.sha256,
        incoming.started_at.isoformat(),
        incoming.part_bytes,
        incoming.chunk_bytes,
    )


def _for(incoming: IncomingTransfer) -> Progress:
    with _guard:
        found = _progress.get(incoming.pk)
        if found is None or found.ident != _ident(incoming):
            found = _progress[incoming.pk] = Progress(_ident(incoming))
        return found


def forget(pk: int) -> None:
    with _guard:
        _progress.pop(pk, None)


def advance_soon(pk: int) -> None:
    """Advance the check in a thread of this process, so that the request
    that stored a part answers its sender at once; one thread per transfer,
    which goes on while parts come. Inside a transaction (a thread sees only
    what has committed) the check advances here instead."""
    if transaction.get_connection().in_atomic_block:
        advance(pk)
        return
    with _guard:
        if pk in _running:
            _again.add(pk)
            return
        _running.add(pk)
    threading.Thread(target=_checker, args=(pk,), name=f"accord-check-{pk}", daemon=True).start()


_running: set[int] = set()
_again: set[int] = set()


def _checker(pk: int) -> None:
    stopped: Progress | None = None
    ended = False
    try:
        while True:
            try:
                advance(pk)
            except Exception:
                log.exception("checking evidence transfer %s ahead", pk)
                forget(pk)  # the final check starts from the first chunk
            with _guard:
                if pk not in _again:
                    _running.discard(pk)
                    stopped, ended = _progress.get(pk), True
                    break
                _again.discard(pk)
    finally:
        if not ended:  # whatever stopped this thread, it no longer checks
            with _guard:
                _running.discard(pk)
                _again.discard(pk)
                stopped = _progress.get(pk)
        if stopped is not None:
            _moved(stopped)  # nobody waits on a check that stands still
        connection.close()  # this thread's own


def advance(pk: int) -> int:
    """Check the parts held in order from where the check stands; returns how
    many parts are checked (0 when none is left to check ahead). Call after
    a part's row has committed."""
    from accord.evidence import inbound

    incoming = IncomingTransfer.objects.filter(pk=pk).first()
    if incoming is None or incoming.status != TransferStatus.ACTIVE or not incoming.parts:
        forget(pk)
        return 0
    if "0" not in incoming.held:
        return 0  # all in: the last part's request checks the rest
    progress = _for(incoming)
    if progress.closed:
        return 0
    per_part = incoming.part_bytes // (incoming.chunk_bytes + blobs.TAG_BYTES)
    count = blobs.chunk_count(incoming.size, incoming.chunk_bytes)
    with progress.lock:
        cipher = AESGCM(inbound.stored_key(incoming))
        path = inbound.partial_path(incoming)
        while progress.chunks < count and incoming.held[progress.chunks // per_part] == "1":
            if "0" not in incoming.held:
                break  # all in: the last part's request checks the rest
            last = min(count, (progress.chunks // per_part + 1) * per_part)
            try:
                with open(path, "rb") as handle:
                    digest = progress.digest
                    progress.size += hash_chunks(
                        incoming, handle, cipher, progress.chunks, last, digest
                    )
            except Exception:
                forget(pk)  # the final check starts over, and names the damage
                return 0
            progress.chunks = last
            _moved(progress)
            incoming.refresh_from_db(fields=["held", "status"])
            if incoming.status != TransferStatus.ACTIVE:
                break
        return progress.chunks // per_part


class Inline:
    """Hashes the chunks of one part request that arrive where the check
    stands (pass `take` to the part's writer); `used` says whether it did."""

    def __init__(self, incoming: IncomingTransfer) -> None:
        self.progress, self.used = _for(incoming), False

    def take(self, index: int, plain: memoryview) -> None:
        progress = self.progress
        if progress.closed or progress.chunks != index:
            return
        if not progress.lock.acquire(blocking=False):
            return
        try:
            if progress.chunks == index:
                progress.digest.update(plain)
                progress.size += len(plain)
                progress.chunks, self.used = index + 1, True
        finally:
            progress.lock.release()


def inline(incoming: IncomingTransfer) -> Inline:
    return Inline(incoming)


def hash_chunks(
    incoming: IncomingTransfer, handle: Any, cipher: AESGCM, first: int, last: int, digest: Any
) -> int:
    """Decrypt stored chunks [first, last) of the partial file, each
    authenticated, into `digest`; returns the plaintext's length. Raises
    InvalidTag or ValueError where one does not authenticate or is short.
    One buffer each for the sealed and the plain chunk, whatever the size."""
    stride = incoming.chunk_bytes + blobs.TAG_BYTES
    count = blobs.chunk_count(incoming.size, incoming.chunk_bytes)
    sealed, plain = memoryview(bytearray(stride)), memoryview(bytearray(incoming.chunk_bytes))
    handle.seek(first * stride)
    size = 0
    for index in range(first, last):
        got = handle.readinto(sealed)
        if got <= blobs.TAG_BYTES:
            raise ValueError(f"chunk {index} is missing")
        opened = plain[: got - blobs.TAG_BYTES]
        cipher.decrypt_into(
            blobs.nonce(index), sealed[:got], blobs.aad(index, index == count - 1), opened
        )
        digest.update(opened)
        size += len(opened)
    return size


@contextmanager
def taken(incoming: IncomingTransfer) -> Iterator[tuple[Any, int, int]]:
    """For the final check: (digest, size, first chunk still to check), the
    check made so far in this process or a fresh start; waits for a check
    under way. The progress is gone afterwards, whatever the outcome: a
    closed one stands in its place, so that a checker thread still going
    does not start the check over beside the final one."""
    with _guard:
        found = _progress.get(incoming.pk)
        _progress[incoming.pk] = Progress(_ident(incoming), closed=True)
    if found is None or found.ident != _ident(incoming) or found.closed:
        yield hashlib.sha256(), 0, 0
        return
    _moved(found, closed=True)
    with found.lock:
        yield found.digest, found.size, found.chunks


def keep_pace(incoming: IncomingTransfer, index: int) -> None:
    """Answer the sender of part `index` only once the check is at most
    AHEAD_PARTS parts behind it (or after PACE_SECONDS): parts that come
    faster than they are checked only take the machine from the check,
    which must then catch up after the last one. Only while a checker
    thread runs; a part is never refused for it."""
    with _guard:
        progress = _progress.get(incoming.pk)
    if progress is None:
        return
    per_part = incoming.part_bytes // (incoming.chunk_bytes + blobs.TAG_BYTES)
    deadline = time.monotonic() + PACE_SECONDS
    with progress.moved:
        while (
            not progress.closed
            and incoming.pk in _running
            and index - progress.chunks // per_part > AHEAD_PARTS
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            progress.moved.wait(left)


def _moved(progress: Progress, *, closed: bool = False) -> None:
    with progress.moved:
        progress.closed = progress.closed or closed
        progress.moved.notify_all()


__all__ = [
    "Inline",
    "advance",
    "advance_soon",
    "forget",
    "hash_chunks",
    "inline",
    "keep_pace",
    "part_lock",
    "taken",
]
