"""Files sent with responses, stored by their SHA-256 under the data directory
(content-addressed: one copy per content, written atomically, checked on read)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings

CHUNK_BYTES = 512 * 1024  # a chunk's base64 fits one federation message (1 MiB)


def root() -> Path:
    path = Path(settings.DATA_DIR) / "assistance-files"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(data: bytes) -> str:
    digest = sha256_of(data)
    target = root() / digest
    if not target.exists():
        handle, temporary = tempfile.mkstemp(dir=root(), prefix=".incoming-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    return digest


class FileDamaged(Exception):
    pass


def load(digest: str) -> bytes:
    """The stored bytes, refused if they no longer match their hash."""
    data = (root() / digest).read_bytes()
    if sha256_of(data) != digest:
        raise FileDamaged(digest)
    return data


def exists(digest: str) -> bool:
    return (root() / digest).exists()


def remove(digest: str) -> None:
    (root() / digest).unlink(missing_ok=True)


def chunk_bytes() -> int:
    """A chunk's size for this node's message limit: base64 twice (the chunk in
    the body, the sealed body in the envelope) makes 16/9 of it, plus headroom."""
    limit = settings.FEDERATION_MAX_BODY_BYTES
    return max(1024, min(CHUNK_BYTES, (limit - 4096) * 9 // 16))


def chunks(data: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]
