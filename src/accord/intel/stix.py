"""What the store needs to know about a STIX 2.1 object: validity (the OASIS
validator), version, TLP marking and a searchable value."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from stix2validator import ValidationOptions, validate_instance

from accord.intel.models import Tlp

# TLP 2.0 marking definitions (STIX 2.1 extension ids), and TLP 1.0's for STIX 2.1.
TLP_MARKINGS = {
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": Tlp.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": Tlp.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": Tlp.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": Tlp.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": Tlp.RED,
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,  # TLP 1.0 WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}
# The strictest marking wins when an object carries several.
STRICTNESS = [Tlp.NONE, Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED]
TLP_BY_NAME = {t.value: t for t in Tlp}
OPTIONS = ValidationOptions(version="2.1")
_PATTERN_VALUE = re.compile(r"'((?:[^'\\]|\\.)*)'")


def problems_of(obj: Any) -> list[str]:
    """Why an object is not valid STIX 2.1 (empty when it is)."""
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    try:
        # What is stored and served must be strict JSON in UTF-8: Python's
        # parser lets NaN/Infinity and lone surrogates through.
        json.dumps(obj, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, RecursionError) as exc:
        return [f"not valid JSON text: {exc}"[:500]]
    if obj.get("spec_version") not in ("2.1", None) or not obj.get("id") or not obj.get("type"):
        return ["not a STIX 2.1 object (needs type, id and spec_version 2.1)"]
    try:
        result = validate_instance(obj, OPTIONS)
    except Exception as exc:  # the validator raises on shapes it cannot read
        return [f"cannot be validated: {exc}"[:500]]
    if result.is_valid:
        return []
    return [str(error)[:500] for error in result.errors][:10] or ["invalid"]


def version_of(obj: dict[str, Any], added: datetime) -> str:
    """Normalised to microseconds, so versions order as text and compare equal
    whatever precision a producer wrote."""
    stamp = obj.get("modified") or obj.get("created")
    try:
        return timestamp(parse_timestamp(str(stamp))) if stamp else timestamp(added)
    except (ValueError, OverflowError):
        return timestamp(added)


def timestamp(moment: datetime) -> str:
    """TAXII 2.1 timestamps: UTC with microseconds and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a timestamp needs a time zone")
    return moment.astimezone(UTC)


def tlp_of(obj: dict[str, Any]) -> Tlp:
    found = [
        TLP_MARKINGS[ref] for ref in obj.get("object_marking_refs") or [] if ref in TLP_MARKINGS
    ]
    for granular in obj.get("granular_markings") or []:
        if isinstance(granular, dict) and granular.get("marking_ref") in TLP_MARKINGS:
            found.append(TLP_MARKINGS[granular["marking_ref"]])
    if obj.get("type") == "marking-definition" and obj.get("id") in TLP_MARKINGS:
        return Tlp.CLEAR  # the TLP definitions themselves are public
    return max(found, key=STRICTNESS.index) if found else Tlp.NONE


def search_text_of(obj: dict[str, Any]) -> str:
    """The values an analyst searches for: pattern literals, observable values, names."""
    parts = [str(obj.get(key, "")) for key in ("value", "name", "hashes", "pattern")]
    parts += _PATTERN_VALUE.findall(str(obj.get("pattern", "")))
    # No NUL: PostgreSQL text cannot hold it (the body keeps it, escaped).
    return " ".join(p for p in parts if p)[:2000].lower().replace("\x00", "")
