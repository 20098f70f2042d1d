"""Custody records: who did what to an evidence item, signed and hash-chained.

Pure format code (docs/evidence.md specifies it for a second implementation):
no Django, no database, so the offline verifier can run on a court's laptop.
Each node keeps its own chain per item (seq 0, 1, 2, ... each naming the hash
of the one before), so two nodes writing about the same item never fork one
chain; both chains travel with the item."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from accord.core.canonical import CanonicalizationError, canonical_bytes, sha256_hex

VERSION = 1
EVENTS: tuple[str, ...] = (
    "collected",
    "received",
    "transferred",
    "viewed",
    "downloaded",
    "exported",
    "sealed",
    "released",
    "purged",
    "discarded",
)
FIELDS: tuple[str, ...] = (
    "v",
    "item",
    "sha256",
    "node",
    "seq",
    "prev",
    "event",
    "at",
    "actor",
    "reason",
    "details",
    "sig",
)
# The same rule as accord.core.identity.NODE_ID_PATTERN, copied because that
# module needs Django settings and this one must not.
NODE_ID = re.compile(r"^[a-z][a-z0-9-]{0,30}(\.[a-z][a-z0-9-]{0,30}){1,3}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
MAX_SAFE_INTEGER = 2**53 - 1


class CustodyError(Exception):
    """A record or chain is malformed or broken; `code` says which way."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def format_time(moment: datetime) -> str:
    """The one text form of a time in records and manifests (UTC, microseconds)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("custody times must be timezone-aware")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def _is_int(value: Any) -> bool:
    # bool is an int subclass; JSON true must not pass for 1.
    return type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


def _check_fields(data: Mapping[str, Any]) -> None:
    """Raises CustodyError('custody_invalid') naming the first bad field."""

    def bad(field: str, why: str) -> CustodyError:
        return CustodyError("custody_invalid", f"field {field!r} {why}")

    missing = [field for field in FIELDS if field not in data]
    if missing:
        raise bad(missing[0], "is missing")
    extra = sorted(set(data) - set(FIELDS))
    if extra:
        raise bad(extra[0], "is not part of the format")
    if not _is_int(data["v"]) or data["v"] != VERSION:
        raise bad("v", f"must be {VERSION}")
    if not isinstance(data["item"], str) or not UUID.match(data["item"]):
        raise bad("item", "must be a lower-case hyphenated UUID")
    if not isinstance(data["sha256"], str) or not HEX64.match(data["sha256"]):
        raise bad("sha256", "must be 64 lower-case hex digits")
    if not isinstance(data["node"], str) or not NODE_ID.match(data["node"]):
        raise bad("node", "must be a node id like cn.mps")
    if not _is_int(data["seq"]) or data["seq"] < 0:
        raise bad("seq", "must be a non-negative integer")
    prev = data["prev"]
    if not isinstance(prev, str) or (prev != "" and not HEX64.match(prev)):
        raise bad("prev", "must be '' or 64 lower-case hex digits")
    if (data["seq"] == 0) != (prev == ""):
        raise bad("prev", "must be '' exactly when seq is 0")
    if data["event"] not in EVENTS:
        raise bad("event", f"must be one of {', '.join(EVENTS)}")
    if not isinstance(data["at"], str) or not TIMESTAMP.match(data["at"]):
        raise bad("at", "must look like 2026-01-31T12:00:00.000000Z")
    try:
        parse_time(data["at"])
    except ValueError:
        raise bad("at", "is not a real time") from None
    for field in ("actor", "reason"):
        if not isinstance(data[field], str):
            raise bad(field, "must be a string")
    details = data["details"]
    if not isinstance(details, dict):
        raise bad("details", "must be an object")
    for key, value in details.items():
        if not isinstance(key, str) or not (isinstance(value, str) or _is_int(value)):
            raise bad("details", "must hold only strings and integers")
    sig = data["sig"]
    if not isinstance(sig, str) or len(_b64decode(sig, "sig")) != 64:
        raise bad("sig", "must be a base64 Ed25519 signature (64 bytes)")


def _b64decode(text: str, field: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise CustodyError("custody_invalid", f"field {field!r} is not base64") from None
    # Only the standard, padded encoding: one value has one text form.
    if base64.b64encode(raw).decode("ascii") != text:
        raise CustodyError("custody_invalid", f"field {field!r} is not canonical base64")
    return raw


@dataclass(frozen=True)
class Record:
    v: int
    item: str
    sha256: str
    node: str
    seq: int
    prev: str
    event: str
    at: str
    actor: str
    reason: str
    details: dict[str, Any]
    sig: str

    def unsigned(self) -> dict[str, Any]:
        """The record without 'sig': what the node's signature covers."""
        data = self.to_json()
        del data["sig"]
        return data

    def to_json(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in FIELDS} | {"details": dict(self.details)}

    def canonical(self) -> bytes:
        return canonical_bytes(self.to_json())

    @cached_property
    def hash(self) -> str:
        """Hex SHA-256 of the canonical bytes of the whole record (with sig)."""
        return sha256_hex(self.canonical())

    @property
    def at_datetime(self) -> datetime:
        return parse_time(self.at)

    @classmethod
    def from_json(cls, data: Any) -> Record:
        if not isinstance(data, dict):
            raise CustodyError("custody_invalid", "a custody record must be a JSON object")
        _check_fields(data)
        record = cls(**{field: data[field] for field in FIELDS})
        try:
            record.canonical()
        except CanonicalizationError as exc:
            raise CustodyError("custody_invalid", str(exc)) from None
        return record

    def describe(self) -> str:
        return f"{self.node} record seq {self.seq} ({self.event})"

    def signature_ok(self, public_key: bytes) -> bool:
        try:
            VerifyKey(public_key).verify(
                canonical_bytes(self.unsigned()), base64.b64decode(self.sig)
            )
        except (BadSignatureError, ValueError, TypeError):
            return False
        return True


def make_record(
    *,
    item: str,
    sha256: str,
    node: str,
    prev: Record | None,
    event: str,
    at: datetime,
    actor: str,
    reason: str,
    details: dict[str, Any],
    signing_key: SigningKey,
) -> Record:
    """The next record of `node`'s chain for `item` (seq 0 when prev is None),
    signed with the node's key. Raises CustodyError('custody_invalid') for bad
    fields and 'custody_order' when prev belongs to another chain."""
    if prev is not None and (prev.item, prev.node, prev.sha256) != (item, node, sha256):
        raise CustodyError(
            "custody_order",
            f"prev is {prev.node}'s record for {prev.item}, not {node}'s for {item}",
        )
    unsigned: dict[str, Any] = {
        "v": VERSION,
        "item": item,
        "sha256": sha256,
        "node": node,
        "seq": 0 if prev is None else prev.seq + 1,
        "prev": "" if prev is None else prev.hash,
        "event": event,
        "at": format_time(at),
        "actor": actor,
        "reason": reason,
        "details": dict(details),
    }
    _check_fields(unsigned | {"sig": base64.b64encode(bytes(64)).decode("ascii")})
    try:
        message = canonical_bytes(unsigned)
    except CanonicalizationError as exc:
        raise CustodyError("custody_invalid", str(exc)) from None
    signature = signing_key.sign(message).signature
    return Record(**unsigned, sig=base64.b64encode(signature).decode("ascii"))


def verify_chain(
    records: list[Record],
    verify_keys: Mapping[str, bytes | Sequence[bytes]],
    *,
    item: str | None = None,
    sha256: str | None = None,
) -> None:
    """Checks one item's records as they are stored in a bundle: each node's
    chain in seq order, chains sorted by node id. `verify_keys` maps trusted
    node ids to a raw Ed25519 public key or several (a node's current key and
    the ones it had before a rotation: a record verifies under any of them).
    `item`/`sha256` default to the first record's. Raises CustodyError with the
    first problem met, reading in order: untrusted_node, custody_signature,
    custody_item, custody_order."""
    if not records:
        return
    item = records[0].item if item is None else item
    sha256 = records[0].sha256 if sha256 is None else sha256
    last: Record | None = None
    finished: set[str] = set()
    for position, record in enumerate(records):
        where = f"custody record {position + 1} ({record.describe()})"
        keys = verify_keys.get(record.node)
        if keys is None:
            raise CustodyError(
                "untrusted_node", f"{where} is signed by {record.node}, which is not trusted"
            )
        if isinstance(keys, bytes):
            keys = (keys,)
        if not any(record.signature_ok(key) for key in keys):
            raise CustodyError(
                "custody_signature", f"{where}: the signature does not match {record.node}'s key"
            )
        if record.item != item or record.sha256 != sha256:
            raise CustodyError(
                "custody_item", f"{where} is about item {record.item} ({record.sha256[:12]}…)"
            )
        if last is not None and last.node != record.node:
            finished.add(last.node)
            if record.node < last.node:
                raise CustodyError("custody_order", f"{where} is out of order: chains are sorted")
            last = None
        if record.node in finished:
            raise CustodyError("custody_order", f"{where} is out of order")
        expected_seq = 0 if last is None else last.seq + 1
        expected_prev = "" if last is None else last.hash
        if record.seq != expected_seq:
            raise CustodyError(
                "custody_order",
                f"{where} is out of place: expected seq {expected_seq} "
                f"(a record before it is missing or the records are reordered)",
            )
        if record.prev != expected_prev:
            raise CustodyError(
                "custody_order", f"{where} does not follow the record before it (prev differs)"
            )
        last = record


def heads(records: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """Each node's last record: {node: {"seq": int, "hash": hex}}, as a manifest
    lists them so a verifier notices records cut off the end of a chain."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        current = found.get(record.node)
        if current is None or record.seq > current["seq"]:
            found[record.node] = {"seq": record.seq, "hash": record.hash}
    return found


def chain_order(records: Iterable[Record]) -> list[Record]:
    """Records in the order a bundle stores them: by node id, then seq."""
    return sorted(records, key=lambda record: (record.node, record.seq))
