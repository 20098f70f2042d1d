"""From STIX 2.1 to observables: which cyber-observable objects and which
indicator patterns stand for a value a case can hold, as (type code, raw
value) pairs for `parse_observable`. Pure: reads dicts, touches no database.

Mapped: ipv4-addr, ipv6-addr, domain-name, url, email-addr, and file hashes
(STIX 2.1 §6), from the objects themselves and from indicators whose pattern
(pattern_type "stix", STIX 2.1 §9) is one comparison `[type:property = 'v']`
or several joined by OR. Anything else (AND, FOLLOWEDBY, qualifiers, other
operators, other pattern languages, other object types) is reported as not
mapped, with the reason, never guessed at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

# STIX object type and property -> observable type code.
PROPERTIES: dict[tuple[str, str], str] = {
    ("ipv4-addr", "value"): "ipv4",
    ("ipv6-addr", "value"): "ipv6",
    ("domain-name", "value"): "domain",
    ("url", "value"): "url",
    ("email-addr", "value"): "email",
}
# STIX hash algorithm names (hash-algorithm-ov) -> observable type code.
HASHES: dict[str, str] = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
# A network address with a prefix length is a range.
RANGES: dict[str, str] = {"ipv4": "cidr", "ipv6": "cidr"}

_COMPARISON = re.compile(
    r"""\s*(?P<type>[a-z0-9-]+):(?P<path>[a-z0-9_]+(?:\.(?:'[^']+'|[A-Za-z0-9_-]+))?)"""
    r"""\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)'\s*"""
)


@dataclass(frozen=True)
class Mapped:
    """What one STIX object gave: values to parse, or why it gave none."""

    stix_id: str
    values: list[tuple[str, str]]
    problem: str = ""


def map_object(obj: dict[str, Any]) -> Mapped:
    stix_id = str(obj.get("id", ""))[:300]
    kind = obj.get("type")
    if kind == "indicator":
        return _indicator(stix_id, obj)
    if kind == "file":
        found = obj.get("hashes")
        hashes: dict[str, Any] = found if isinstance(found, dict) else {}
        values = [(HASHES[k], str(v)) for k, v in hashes.items() if k in HASHES]
        if values:
            return Mapped(stix_id, values)
        return Mapped(stix_id, [], _("A file without an MD5, SHA-1, SHA-256 or SHA-512 hash."))
    code = PROPERTIES.get((str(kind), "value"))
    if code is None:
        return Mapped(
            stix_id, [], _("Objects of type %(t)s carry no observable.") % {"t": str(kind)[:100]}
        )
    value = str(obj.get("value", ""))
    return Mapped(stix_id, [(_ranged(code, value), value)])


def _indicator(stix_id: str, obj: dict[str, Any]) -> Mapped:
    if obj.get("pattern_type", "stix") != "stix":
        return Mapped(stix_id, [], _("Only STIX patterns are read."))
    pattern = str(obj.get("pattern", ""))
    values = parse_pattern(pattern)
    if values is None:
        return Mapped(
            stix_id,
            [],
            _("The pattern is not one comparison of a value (or several joined by OR)."),
        )
    return Mapped(stix_id, values)


def parse_pattern(pattern: str) -> list[tuple[str, str]] | None:
    """`[a:b = 'x'] OR [c:d = 'y']` or `[a:b = 'x' OR c:d = 'y']` -> the
    pairs; None for any other pattern."""
    text = pattern.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    inner = re.sub(r"\]\s+OR\s+\[", " OR ", text[1:-1])
    if "[" in inner or "]" in inner:
        return None
    values = []
    for part in re.split(r"\s+OR\s+", inner):
        match = _COMPARISON.fullmatch(part)
        if match is None:
            return None
        pair = _pair(match["type"], match["path"], _unescape(match["value"]))
        if pair is None:
            return None
        values.append(pair)
    return values


def _pair(kind: str, path: str, value: str) -> tuple[str, str] | None:
    if kind == "file" and path.startswith("hashes."):
        algorithm = path.removeprefix("hashes.").strip("'")
        code = HASHES.get(
            algorithm.upper()
            .replace("SHA256", "SHA-256")
            .replace("SHA1", "SHA-1")
            .replace("SHA512", "SHA-512")
        )
        return (code, value) if code else None
    code = PROPERTIES.get((kind, path))
    return (_ranged(code, value), value) if code else None


def _ranged(code: str, value: str) -> str:
    return RANGES.get(code, code) if "/" in value else code


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
