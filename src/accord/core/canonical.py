"""RFC 8785 canonical JSON: the bytes every hash and signature in Accord covers.

Most of what Accord signs (envelopes, receipts, audit events) holds only
strings, integers, booleans, null, lists and objects with ASCII keys. For those
the JCS output is exactly what the standard library's JSON encoder writes with
sorted keys and no whitespace, which is many times faster than the pure-Python
`rfc8785` encoder; anything else (floats, non-ASCII keys) goes to `rfc8785`.
tests/core/test_canonical.py checks the two agree."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """The value has no RFC 8785 form (e.g. a lone surrogate, a huge integer)."""


def _simple(value: Any) -> bool:
    """True when the standard encoder's output is already canonical. Exact type
    checks (no subclasses) keep this cheap and leave odd values to rfc8785."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            item_kind = type(item)
            if item_kind is str or item is None or item_kind is bool:
                continue
            if not _simple(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_simple(item) for item in value)
    return False


def canonical_bytes(value: Any) -> bytes:
    if _simple(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            raise CanonicalizationError("a string holds a lone surrogate") from None
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError(str(exc)) from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any) -> str:
    return sha256_hex(canonical_bytes(value))
