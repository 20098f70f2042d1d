"""Evidence bytes at rest: streamed in, encrypted, stored once, streamed out.

Each blob has a random 32-byte key of its own, sealed under the node's secret
(`accord.core.sealed`, purpose `evidence-key:<sha256>`), so a copy of the
storage or of the database alone reveals nothing. The plaintext is cut into
chunks of CHUNK_BYTES; chunk i is AES-256-GCM with nonce = 4 zero bytes + i
(8 bytes, big-endian) and associated data = AAD_PREFIX + i (8 bytes) + last
(1 byte). A key encrypts one blob only, so a counter nonce never repeats; the
index and the last-flag in the associated data make a reordered, dropped or
truncated chunk fail authentication instead of decrypting into other bytes.

Nothing here holds a whole file: writing reads one chunk ahead (to know which
chunk is last), hashes and encrypts it into a temporary file under DATA_DIR,
and hands that file to the storage (a rename for the local folder); reading
decrypts one chunk at a time. Memory stays flat whatever the size.

The ciphertext goes through Django's storage API: `storages["evidence"]`
(settings.STORAGES), so a deployment can point it at an object store. Its name
comes from the hash, never from anything a user typed."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, InvalidStorageError, Storage, storages
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accord.core.sealed import seal, unseal
from accord.evidence.models import Blob

CHUNK_BYTES = 1_048_576
TAG_BYTES = 16
AAD_PREFIX = b"accord-evidence-v1"


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class BlobError(Exception):
    """Bytes that cannot be stored or read as they are; `code` says which kind."""

    code = "blob"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooLarge(BlobError):
    code = "too_large"


class Damaged(BlobError):
    """The stored ciphertext does not authenticate: changed, cut short or reordered."""

    code = "damaged"


class Missing(BlobError):
    code = "missing"


def storage() -> Storage:
    """The evidence storage settings name, else the local folder DATA_DIR/evidence."""
    try:
        return storages["evidence"]
    except InvalidStorageError:
        return FileSystemStorage(location=Path(settings.DATA_DIR) / "evidence")


def max_item_bytes() -> int:
    return int(settings.EVIDENCE_MAX_ITEM_BYTES)


def too_large(limit: int) -> TooLarge:
    return TooLarge(
        _("The file is larger than this node accepts for one item (%(mb)s MB).")
        % {"mb": limit // 1_048_576 or 1}
    )


def check_declared(size: int | None, limit: int | None = None) -> None:
    """Refuse a declared size over the limit before a single byte is read."""
    limit = max_item_bytes() if limit is None else limit
    if size is not None and size > limit:
        raise too_large(limit)


def nonce(index: int) -> bytes:
    return b"\0\0\0\0" + struct.pack(">Q", index)


def aad(index: int, last: bool) -> bytes:
    return AAD_PREFIX + struct.pack(">Q", index) + (b"\x01" if last else b"\x00")


def chunk_count(size: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """An empty blob is one empty, last chunk: cutting a file to nothing is detected too."""
    return max(1, -(-size // chunk_bytes))


@dataclass
class Pending:
    """Encrypted bytes in a temporary file, not yet in the storage."""

    path: Path
    sha256: str
    size: int
    key: bytes
    chunk_bytes: int = CHUNK_BYTES

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _read_full(stream: Readable, size: int) -> bytes:
    """Up to `size` bytes: a stream may return fewer than asked before its end."""
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        part = stream.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def encrypt_stream(
    stream: Readable,
    *,
    declared_size: int | None = None,
    limit: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Pending:
    """Hash and encrypt `stream` into a temporary file; never reads more than
    limit + 1 bytes (a longer stream is refused, the temporary file removed)."""
    limit = max_item_bytes() if limit is None else limit
    check_declared(declared_size, limit)
    scratch = Path(settings.DATA_DIR) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    cipher = AESGCM(key)
    digest = hashlib.sha256()
    handle, name = tempfile.mkstemp(prefix="evidence-", dir=scratch)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            current = _read_full(stream, min(chunk_bytes, limit + 1))
            index = 0
            while True:
                size += len(current)
                if size > limit:
                    raise too_large(limit)
                digest.update(current)
                # At most limit + 1 bytes in all: one past the limit tells it is too long.
                following = _read_full(stream, min(chunk_bytes, limit + 1 - size))
                last = not following
                out.write(cipher.encrypt(nonce(index), current, aad(index, last)))
                if last:
                    break
                current, index = following, index + 1
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Pending(path, digest.hexdigest(), size, key, chunk_bytes)


class _TemporaryFile(File):
    """A local file the storage may move rather than copy (FileSystemStorage
    moves anything with a `temporary_file_path`)."""

    def temporary_file_path(self) -> str:
        return str(self.name)


def key_purpose(sha256: str) -> str:
    return f"evidence-key:{sha256}"


def commit(pending: Pending) -> tuple[Blob, bool]:
    """The blob for the pending bytes: the one already stored with the same
    hash (the new copy discarded: content is stored once), or a new one put
    into the storage now. Returns (blob, created).

    The row found is locked until the caller's transaction ends: the clock's
    sweep of blobs no item holds (orphans.py) waits for the item about to hold
    it, then sees it held."""
    with transaction.atomic():
        existing = Blob.objects.select_for_update().filter(pk=pending.sha256).first()
    if existing is not None:
        pending.discard()
        return existing, False
    store = storage()
    saved = put(pending, f"{pending.sha256[:2]}/{pending.sha256}")
    sealed = seal_key(pending)
    try:
        with transaction.atomic():
            blob = Blob.objects.create(
                sha256=pending.sha256,
                size=pending.size,
                chunk_bytes=pending.chunk_bytes,
                sealed_key=sealed,
                storage_name=saved,
            )
    except IntegrityError:
        # Someone stored the same bytes meanwhile: theirs stays, ours goes.
        store.delete(saved)
        return Blob.objects.get(pk=pending.sha256), False
    return blob, True


def put(pending: Pending, name: str) -> str:
    """Move the pending ciphertext into the storage under `name` (or the
    name the storage gives instead); returns that name."""
    with open(pending.path, "rb") as handle:
        saved = storage().save(name, _TemporaryFile(handle, name=str(pending.path)))
    pending.discard()
    return saved


def seal_key(pending: Pending) -> str:
    return seal(base64.b64encode(pending.key).decode(), key_purpose(pending.sha256))


def store_stream(stream: Readable, **options: Any) -> tuple[Blob, bool]:
    return commit(encrypt_stream(stream, **options))


def _key_of(blob: Blob) -> bytes:
    if not blob.sealed_key:
        raise Missing(_("The bytes of this item were purged."))
    return base64.b64decode(unseal(blob.sealed_key, key_purpose(blob.sha256)))


def read_plaintext(blob: Blob, start: int = 0, stop: int | None = None) -> Plaintext:
    """The plaintext, one chunk at a time, each authenticated before it is
    given out; the whole is checked against the blob's hash at the end. A
    damaged, missing, reordered or extra chunk raises Damaged naming it.

    With `start`/`stop`, only the bytes [start, stop): the chunks holding
    them are read (a seek to the first), each authenticated as ever (its index
    and last-flag are in its associated data, so a chunk from elsewhere fails);
    the whole-file hash is checked only by a read of the whole.

    The key is unsealed and the stored file opened now, not at the first
    chunk: a download that has begun reads on from its open handle even if a
    purge removes the file meanwhile (the local folder; an object store
    decides for itself), and a file already gone is refused before any
    response starts."""
    key = _key_of(blob)
    try:
        handle = storage().open(blob.storage_name, "rb")
    except FileNotFoundError:
        raise Missing(_("The stored bytes of this item are missing.")) from None
    return Plaintext(blob, AESGCM(key), handle, start, blob.size if stop is None else stop)


class Plaintext(Iterator[bytes]):
    """An iterator of authenticated plaintext chunks (cut to [start, stop))
    that closes its file when it ends or is closed (StreamingHttpResponse
    closes it)."""

    def __init__(self, blob: Blob, cipher: AESGCM, handle: Any, start: int, stop: int) -> None:
        self.blob, self.cipher, self.handle = blob, cipher, handle
        self.start, self.stop = start, stop
        self.count = chunk_count(blob.size, blob.chunk_bytes)
        self.whole = start == 0 and stop == blob.size
        self.index = 0 if self.whole else start // blob.chunk_bytes
        self.last = self.count - 1 if self.whole else max(start, stop - 1) // blob.chunk_bytes
        if self.index:
            handle.seek(self.index * (blob.chunk_bytes + TAG_BYTES))
        self.digest = hashlib.sha256()

    def __next__(self) -> bytes:
        if self.index > self.last:
            self._finish()
        try:
            plain = self._chunk(self.index)
        except BaseException:
            self.close()
            raise
        self.index += 1
        if self.whole:
            return plain
        base = (self.index - 1) * self.blob.chunk_bytes
        return plain[max(0, self.start - base) : self.stop - base]

    def _chunk(self, index: int) -> bytes:
        sealed = _read_full(self.handle, self.blob.chunk_bytes + TAG_BYTES)
        last = index == self.count - 1
        try:
            plain = self.cipher.decrypt(nonce(index), sealed, aad(index, last))
        except InvalidTag:
            raise Damaged(
                _("Stored chunk %(i)s of %(n)s is damaged: it does not authenticate.")
                % {"i": index + 1, "n": self.count}
            ) from None
        self.digest.update(plain)
        return plain

    def _finish(self) -> NoReturn:
        try:
            if self.handle.closed or not self.whole:
                raise StopIteration
            if self.handle.read(1):
                raise Damaged(_("The stored bytes run on past their last chunk."))
            if self.digest.hexdigest() != self.blob.sha256:
                raise Damaged(_("The stored bytes do not match their SHA-256."))
        finally:
            self.close()
        raise StopIteration

    def close(self) -> None:
        self.handle.close()


def remove(blob: Blob) -> None:
    """Delete the ciphertext and the row with its sealed key (a purge)."""
    storage().delete(blob.storage_name)
    blob.delete()


__all__ = [
    "AAD_PREFIX",
    "CHUNK_BYTES",
    "Blob",
    "BlobError",
    "Damaged",
    "Missing",
    "Pending",
    "Plaintext",
    "TooLarge",
    "check_declared",
    "chunk_count",
    "commit",
    "encrypt_stream",
    "put",
    "read_plaintext",
    "remove",
    "storage",
    "store_stream",
]
