"""Evidence bytes at rest: encrypted in chunks, stored once, read back whole;
damage is detected, the size limit is kept without reading past it, and a
big file goes in and out at flat memory."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tracemalloc

import pytest
from django.test import override_settings

from accord.evidence import blobs
from accord.evidence.models import Blob

pytestmark = pytest.mark.django_db

MB = 1_048_576


def stored(data: bytes) -> Blob:
    blob, _created = blobs.store_stream(io.BytesIO(data))
    return blob


def ciphertext_path(blob: Blob):
    return blobs.storage().path(blob.storage_name)


@pytest.mark.parametrize("size", [0, 1, MB - 1, MB, MB + 1, 3 * MB + 5])
def test_bytes_come_back_as_they_went_in(size):
    data = os.urandom(size)
    blob = stored(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size == size
    assert b"".join(blobs.read_plaintext(blob)) == data


def test_stored_bytes_are_encrypted_not_plaintext():
    data = b"the suspect's ledger " * 10_000
    blob = stored(data)
    with open(ciphertext_path(blob), "rb") as handle:
        on_disk = handle.read()
    assert b"suspect" not in on_disk
    assert len(on_disk) == len(data) + 16  # one chunk, one tag
    assert "sealed:v1:" in blob.sealed_key  # the key is sealed, not stored bare


def test_same_content_is_stored_once():
    data = os.urandom(50_000)
    first, created_first = blobs.store_stream(io.BytesIO(data))
    second, created_second = blobs.store_stream(io.BytesIO(data))
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert Blob.objects.filter(pk=first.pk).count() == 1
    scratch = blobs.Path(blobs.settings.DATA_DIR) / "tmp"
    assert not any(p.name.startswith("evidence-") for p in scratch.iterdir())


def test_a_changed_byte_names_the_damaged_chunk():
    blob = stored(os.urandom(3 * MB))
    path = ciphertext_path(blob)
    with open(path, "r+b") as handle:
        handle.seek(MB + 16 + 100)  # inside the second chunk
        byte = handle.read(1)
        handle.seek(-1, io.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 1]))
    chunks = blobs.read_plaintext(blob)
    assert len(next(chunks)) == MB  # the first chunk is intact and given out
    with pytest.raises(blobs.Damaged, match="chunk 2 of 3"):
        next(chunks)


def test_truncated_and_reordered_ciphertext_are_detected():
    blob = stored(os.urandom(2 * MB + 10))
    path = ciphertext_path(blob)
    with open(path, "rb") as handle:
        whole = handle.read()
    step = MB + 16
    first, second, last = whole[:step], whole[step : 2 * step], whole[2 * step :]
    for damaged in (first + second, second + first + last, whole + b"x", first + last):
        with open(path, "wb") as handle:
            handle.write(damaged)
        with pytest.raises(blobs.Damaged):
            b"".join(blobs.read_plaintext(blob))
    # Cutting the file at a chunk boundary: the new last chunk was not sealed as last.
    with open(path, "wb") as handle:
        handle.write(first + second)
    with pytest.raises(blobs.Damaged, match="chunk 3 of 3"):
        b"".join(blobs.read_plaintext(blob))


class Tripwire(io.RawIOBase):
    """A stream of zeros that fails the test if read beyond `allowed` bytes."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.given = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or self.given + size > self.allowed:
            raise AssertionError(f"read {size} bytes after {self.given}: past {self.allowed}")
        self.given += size
        return b"\0" * size


def test_a_declared_size_over_the_limit_is_refused_before_reading():
    stream = Tripwire(0)
    with pytest.raises(blobs.TooLarge, match="larger than this node accepts"):
        blobs.encrypt_stream(stream, declared_size=5 * MB, limit=4 * MB)
    assert stream.given == 0


def test_an_undeclared_stream_is_stopped_one_byte_past_the_limit():
    stream = Tripwire(1000 + 1)
    with pytest.raises(blobs.TooLarge):
        blobs.encrypt_stream(stream, limit=1000)
    assert stream.given == 1001
    scratch = blobs.Path(blobs.settings.DATA_DIR) / "tmp"
    assert not any(p.name.startswith("evidence-") for p in scratch.iterdir())


def test_exactly_the_limit_is_accepted():
    data = os.urandom(1000)
    pending = blobs.encrypt_stream(io.BytesIO(data), limit=1000)
    assert pending.size == 1000
    pending.discard()


@override_settings(EVIDENCE_MAX_ITEM_BYTES=2 * MB)
def test_the_limit_comes_from_the_settings():
    with pytest.raises(blobs.TooLarge, match="2 MB"):
        blobs.check_declared(2 * MB + 1)
    blobs.check_declared(2 * MB)


class Generated(io.RawIOBase):
    """`size` pseudo-random bytes, made as they are read (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = os.urandom(MB)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = min(self.left, MB if size < 0 else size, MB)
        self.left -= size
        return self.block[:size]


def test_a_big_file_goes_in_and_out_at_flat_memory():
    size = 200 * MB
    tracemalloc.start()
    try:
        blob, _created = blobs.store_stream(Generated(size))
        digest = hashlib.sha256()
        for chunk in blobs.read_plaintext(blob):
            digest.update(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == size
    assert digest.hexdigest() == blob.sha256
    # A few chunks in flight at most, whatever the size (generous: 16 MB for 200 MB).
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MB"


@pytest.mark.parametrize("raw", ["lots", "0"])
def test_settings_refuse_a_bad_limit(tmp_path, raw):
    env = {**os.environ, "ACCORD_DATA_DIR": str(tmp_path), "ACCORD_EVIDENCE_MAX_ITEM_MB": raw}
    done = subprocess.run(
        [sys.executable, "-c", "import accord.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "ACCORD_EVIDENCE_MAX_ITEM_MB" in done.stderr


def test_a_deployment_may_name_another_storage(settings):
    """Anything Django's storage API offers (here its in-memory storage, as an
    object store would be) holds the same ciphertext and gives it back."""
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    data = os.urandom(2 * MB + 3)
    blob = stored(data)
    store = blobs.storage()
    assert type(store).__name__ == "InMemoryStorage"
    assert store.size(blob.storage_name) == len(data) + 3 * 16  # three chunks, three tags
    assert b"".join(blobs.read_plaintext(blob)) == data
