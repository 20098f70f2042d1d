"""The bulk path's wire (docs/evidence.md, "Bulk transfer"): how an item's
ciphertext is cut into parts, and the signature that authenticates each HTTP
request for a part. Pure functions, no database, so a second implementation
can check every byte against this module.

A part request carries three headers: the sending node's id, the time, and
an Ed25519 signature by that node's signing key over the RFC 8785 canonical
JSON of {v, type, method, path, sender, recipient, at, sha256}, where `path`
names the item and the part and `sha256` is the hash of the request body
(of the empty string for a GET). The receiver takes a request only within
SKEW_SECONDS of its own clock, and only bytes whose hash the signed offer
named for that part: a replayed request can only bring the same bytes
again, which changes nothing."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime, timedelta

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from accord.core.canonical import canonical_bytes
from accord.evidence.wire import MAX_PARTS
from accord.federation.envelope import EnvelopeError, format_time, parse_time

TAG_BYTES = 16
PARTS_PATH = "/evidence/v1/transfers/{item}"
PART_PATH = "/evidence/v1/transfers/{item}/parts/{index}"
REQUEST_TYPE = "accord.evidence-part"
NODE_HEADER = "Accord-Node"
TIME_HEADER = "Accord-Time"
SIGNATURE_HEADER = "Accord-Signature"
SHA256_HEADER = "Accord-Content-SHA256"
HEADERS = (NODE_HEADER, TIME_HEADER, SIGNATURE_HEADER, SHA256_HEADER)
SKEW_SECONDS = 300
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class PartRefused(Exception):
    """A part request the receiver does not take: `reason` is the code of
    docs/evidence.md, `status` the HTTP status it answers with."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.status, self.reason, self.detail = status, reason, detail


# ---------------------------------------------------------------- layout


def sealed_size(size: int, chunk_bytes: int) -> int:
    """The blob's ciphertext: each stored chunk and its 16-byte tag (an empty
    item is one empty chunk, a tag alone)."""
    return size + TAG_BYTES * max(1, -(-size // chunk_bytes))


def part_bytes_for(size: int, chunk_bytes: int, target: int) -> int:
    """Whole stored chunks per part, `target` bytes of plaintext (at least
    one chunk), and few enough parts for one offer (MAX_PARTS)."""
    chunks = max(1, -(-size // chunk_bytes))
    return (chunk_bytes + TAG_BYTES) * max(1, target // chunk_bytes, -(-chunks // MAX_PARTS))


def part_count(size: int, chunk_bytes: int, part_bytes: int) -> int:
    return max(1, -(-sealed_size(size, chunk_bytes) // part_bytes))


def part_span(size: int, chunk_bytes: int, part_bytes: int, index: int) -> tuple[int, int]:
    """(offset, length) of part `index` in the ciphertext."""
    start = index * part_bytes
    return start, min(part_bytes, sealed_size(size, chunk_bytes) - start)


def tag_offsets(size: int, chunk_bytes: int, part_bytes: int, index: int) -> list[int]:
    """Where the tag of each stored chunk of part `index` lies in the
    ciphertext (its last TAG_BYTES bytes), in order."""
    start, length = part_span(size, chunk_bytes, part_bytes, index)
    end, stride = start + length, chunk_bytes + TAG_BYTES
    return [min(at + stride, end) - TAG_BYTES for at in range(start, end, stride)]


def part_sha256(part: bytes, chunk_bytes: int) -> str:
    """What names a part in the offer: the SHA-256 of the tags of its stored
    chunks, one after another. Each tag authenticates its chunk under the
    item's key, so the tags stand for the part's bytes (docs/evidence.md 7.6)."""
    stride = chunk_bytes + TAG_BYTES
    digest = hashlib.sha256()
    for at in range(0, len(part), stride):
        end = min(at + stride, len(part))
        digest.update(part[end - TAG_BYTES : end])
    return digest.hexdigest()


# ---------------------------------------------------------------- signed requests


def request_document(
    method: str, path: str, sender: str, recipient: str, at: str, sha256: str
) -> dict[str, object]:
    return {
        "v": 1,
        "type": REQUEST_TYPE,
        "method": method,
        "path": path,
        "sender": sender,
        "recipient": recipient,
        "at": at,
        "sha256": sha256,
    }


def sign_request(
    key: SigningKey,
    method: str,
    path: str,
    sender: str,
    recipient: str,
    now: datetime,
    sha256: str = EMPTY_SHA256,
) -> dict[str, str]:
    """The headers of a signed part request."""
    at = format_time(now)
    document = request_document(method, path, sender, recipient, at, sha256)
    signature = key.sign(canonical_bytes(document)).signature
    return {
        NODE_HEADER: sender,
        TIME_HEADER: at,
        SHA256_HEADER: sha256,
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
    }


def verify_request(
    headers: dict[str, str],
    method: str,
    path: str,
    recipient: str,
    keys: list[bytes],
    now: datetime,
) -> None:
    """Raise PartRefused unless one of `keys` signed this request within
    SKEW_SECONDS of `now`."""
    try:
        at = parse_time(headers[TIME_HEADER])
        signature = base64.b64decode(headers[SIGNATURE_HEADER], validate=True)
        document = request_document(
            method, path, headers[NODE_HEADER], recipient, headers[TIME_HEADER],
            headers[SHA256_HEADER],
        )  # fmt: skip
    except (KeyError, ValueError, binascii.Error, EnvelopeError):
        raise PartRefused(401, "bad_signature", "the request's headers are incomplete") from None
    if abs(now - at) > timedelta(seconds=SKEW_SECONDS):
        raise PartRefused(401, "stale_request", f"signed at {headers[TIME_HEADER]}")
    signed = canonical_bytes(document)
    for key in keys:
        try:
            VerifyKey(key).verify(signed, signature)
            return
        except (BadSignatureError, ValueError):
            continue
    raise PartRefused(401, "bad_signature", "not signed by the sending node")


__all__ = [
    "PARTS_PATH",
    "PART_PATH",
    "PartRefused",
    "part_bytes_for",
    "part_count",
    "part_sha256",
    "part_span",
    "sealed_size",
    "sign_request",
    "tag_offsets",
    "verify_request",
]
