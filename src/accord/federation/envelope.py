"""The wire format of federation protocol v1 (docs/protocol.md): envelopes and
receipts, their RFC 8785 canonical bytes, Ed25519 signatures and the libsodium
box around each body. Pure functions: no database, so a second implementation
(or an auditor) can check every byte against this module."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import Box, PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from accord.core.canonical import CanonicalizationError, canonical_bytes
from accord.core.text import UNSTORABLE, unstorable

PROTOCOL_VERSION = 1
BASE64_PATTERN = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
ENVELOPE_FIELDS = (
    "v",
    "id",
    "kind",
    "sender",
    "recipient",
    "seq",
    "sent_at",
    "in_reply_to",
    "body",
)
RECEIPT_FIELDS = (
    "v",
    "type",
    "message_id",
    "kind",
    "sender",
    "recipient",
    "seq",
    "body_sha256",
    "status",
    "reason",
    "received_at",
)
RECEIPT_TYPE = "accord.receipt"


class EnvelopeError(Exception):
    """An envelope or receipt that is malformed or fails a cryptographic check.
    `reason` is the machine-readable code of docs/protocol.md."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise EnvelopeError("malformed", f"{what} is not base64") from None


def format_time(moment: datetime) -> str:
    """UTC with microseconds and a Z: one spelling, so the signed bytes are stable."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


TIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
MAX_SEQ = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) carries exactly


def parse_time(text: str) -> datetime:
    try:
        if not TIME_PATTERN.match(text):
            raise ValueError(text)
        return datetime.fromisoformat(text)
    except (ValueError, TypeError):
        raise EnvelopeError("malformed", "sent_at must be YYYY-MM-DDTHH:MM:SS.ffffffZ") from None


def is_canonical_uuid(text: str) -> bool:
    """Ids are compared as text, so only one spelling is allowed: lower-case."""
    try:
        return str(UUID(text)) == text
    except (ValueError, TypeError, AttributeError):
        return False


def seal_body(
    body: dict[str, Any],
    sender_key: PrivateKey,
    recipient_public: bytes,
    nonce: bytes | None = None,
) -> str:
    """Encrypt the body's canonical JSON to the recipient (crypto_box: X25519,
    XSalsa20-Poly1305); the 24-byte nonce leads the ciphertext."""
    box = _box(bytes(sender_key), recipient_public)
    return b64encode(bytes(box.encrypt(canonical_bytes(body), nonce)))


@lru_cache(maxsize=256)
def _box(private_key: bytes, public_key: bytes) -> Box:
    """A Box holds the X25519 shared key; computing it is most of a box's cost,
    and a channel uses the same pair of keys for every message."""
    return Box(PrivateKey(private_key), PublicKey(public_key))


def open_body(ciphertext_b64: str, recipient_key: PrivateKey, sender_public: bytes) -> bytes:
    raw = b64decode(ciphertext_b64, "body")
    try:
        return _box(bytes(recipient_key), sender_public).decrypt(raw)
    except CryptoError:
        raise EnvelopeError(
            "undecryptable", "the body does not open with the pinned keys"
        ) from None


def body_sha256(ciphertext_b64: str) -> str:
    return hashlib.sha256(ciphertext_b64.encode("ascii")).hexdigest()


def _signed_part(document: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: document[name] for name in fields}


def sign_document(document: dict[str, Any], fields: tuple[str, ...], key: SigningKey) -> str:
    return b64encode(key.sign(canonical_bytes(_signed_part(document, fields))).signature)


def verify_document(document: dict[str, Any], fields: tuple[str, ...], keys: list[bytes]) -> int:
    """Accept a signature by any of `keys` (the current key, and during a key
    rotation the previous one)."""
    signature = b64decode(document.get("sig", ""), "sig")
    message = canonical_bytes(_signed_part(document, fields))
    for index, key in enumerate(keys):
        try:
            VerifyKey(key).verify(message, signature)
            return index
        except (BadSignatureError, ValueError):
            continue
    raise EnvelopeError("bad_signature", "the signature does not verify with the pinned key")


@dataclass(frozen=True)
class Envelope:
    id: str
    kind: str
    sender: str
    recipient: str
    seq: int
    sent_at: str
    in_reply_to: str | None
    body: str
    sig: str = ""
    v: int = PROTOCOL_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "id": self.id,
            "kind": self.kind,
            "sender": self.sender,
            "recipient": self.recipient,
            "seq": self.seq,
            "sent_at": self.sent_at,
            "in_reply_to": self.in_reply_to,
            "body": self.body,
            "sig": self.sig,
        }

    def signed(self, key: SigningKey) -> Envelope:
        document = self.as_dict()
        return Envelope(**{**document, "sig": sign_document(document, ENVELOPE_FIELDS, key)})

    def verify(self, keys: list[bytes]) -> int:
        """Index of the key in `keys` that signed it; EnvelopeError if none did."""
        return verify_document(self.as_dict(), ENVELOPE_FIELDS, keys)

    @property
    def body_sha256(self) -> str:
        return body_sha256(self.body)

    @classmethod
    def parse(cls, document: Any) -> Envelope:
        """Structure only: types and presence of every field, nothing more."""
        if not isinstance(document, dict):
            raise EnvelopeError("malformed", "an envelope is a JSON object")
        expected = {*ENVELOPE_FIELDS, "sig"}
        if set(document) != expected:
            missing = sorted(expected - set(document))
            extra = sorted(set(document) - expected)
            raise EnvelopeError("malformed", f"fields missing {missing}, unexpected {extra}")
        if type(document["v"]) is not int or document["v"] != PROTOCOL_VERSION:
            raise EnvelopeError("unsupported_version", f"v must be {PROTOCOL_VERSION}")
        text_fields = ("id", "kind", "sender", "recipient", "sent_at", "body", "sig")
        for name in text_fields:
            if not isinstance(document[name], str) or not document[name]:
                raise EnvelopeError("malformed", f"{name} must be a non-empty string")
        if unstorable(document):
            raise EnvelopeError("malformed", UNSTORABLE)
        seq = document["seq"]
        if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
            raise EnvelopeError("malformed", f"seq must be an integer from 1 to {MAX_SEQ}")
        if not is_canonical_uuid(document["id"]):
            raise EnvelopeError("malformed", "id must be a lower-case UUID")
        reply = document["in_reply_to"]
        if reply is not None and not (isinstance(reply, str) and is_canonical_uuid(reply)):
            raise EnvelopeError("malformed", "in_reply_to must be a lower-case UUID or null")
        if not BASE64_PATTERN.match(document["body"]) or not BASE64_PATTERN.match(document["sig"]):
            raise EnvelopeError("malformed", "body and sig must be standard base64")
        parse_time(document["sent_at"])
        try:
            canonical_bytes(document)
        except CanonicalizationError:  # e.g. a lone surrogate, which UTF-8 cannot carry
            raise EnvelopeError("malformed", "the envelope has no canonical form") from None
        return cls(**document)


def make_receipt(
    envelope: Envelope, status: str, reason: str | None, received_at: datetime, key: SigningKey
) -> dict[str, Any]:
    """The receiver's signed statement that it applied (or refused) one message."""
    receipt = {
        "v": PROTOCOL_VERSION,
        "type": RECEIPT_TYPE,
        "message_id": envelope.id,
        "kind": envelope.kind,
        "sender": envelope.sender,
        "recipient": envelope.recipient,
        "seq": envelope.seq,
        "body_sha256": envelope.body_sha256,
        "status": status,
        "reason": reason,
        "received_at": format_time(received_at),
    }
    receipt["sig"] = sign_document(receipt, RECEIPT_FIELDS, key)
    return receipt


def verify_receipt(
    receipt: Any,
    *,
    message_id: str,
    sender: str,
    recipient: str,
    seq: int,
    body_hash: str,
    keys: list[bytes],
    kind: str | None = None,
) -> None:
    """A receipt counts only if the recipient signed it for exactly this message."""
    if not isinstance(receipt, dict) or set(receipt) != {*RECEIPT_FIELDS, "sig"}:
        raise EnvelopeError("malformed", "a receipt has exactly the documented fields")
    expected = {
        "v": PROTOCOL_VERSION,
        "type": RECEIPT_TYPE,
        "message_id": message_id,
        "sender": sender,
        "recipient": recipient,
        "seq": seq,
        "body_sha256": body_hash,
    }
    if kind is not None:
        expected["kind"] = kind
    for name, value in expected.items():
        if receipt[name] != value:
            raise EnvelopeError("receipt_mismatch", f"receipt {name} is {receipt[name]!r}")
    if receipt["status"] not in ("applied", "refused"):
        raise EnvelopeError("malformed", "receipt status must be applied or refused")
    verify_document(receipt, RECEIPT_FIELDS, keys)
