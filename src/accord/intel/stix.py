"""What the store needs to know about a STIX 2.1 object: its version, TLP
marking and a searchable value (validity: accord.intel.validation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from accord.intel.models import HandlingCode, Tlp

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
_PATTERN_VALUE = re.compile(r"'((?:[^'\\]|\\.)*)'")


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


def marking_refs(obj: dict[str, Any]) -> list[str]:
    refs = [ref for ref in obj.get("object_marking_refs") or [] if isinstance(ref, str)]
    for granular in obj.get("granular_markings") or []:
        if isinstance(granular, dict) and isinstance(granular.get("marking_ref"), str):
            refs.append(granular["marking_ref"])
    return refs


def tlp_of(obj: dict[str, Any], custom: dict[str, Tlp] | None = None) -> Tlp:
    """The strictest TLP among the object's markings: the standard TLP
    definitions, and any other marking definition that says it is a TLP level
    (`custom`, from `custom_tlp`), so a look-alike TLP:RED is honoured too."""
    if obj.get("type") == "marking-definition" and obj.get("id") in TLP_MARKINGS:
        return Tlp.CLEAR  # the TLP definitions themselves are public
    known = {**(custom or {}), **TLP_MARKINGS}
    found = [known[ref] for ref in marking_refs(obj) if ref in known]
    return max(found, key=STRICTNESS.index) if found else Tlp.NONE


_TLP_WORDS = {
    "white": Tlp.CLEAR,
    "clear": Tlp.CLEAR,
    "green": Tlp.GREEN,
    "amber": Tlp.AMBER,
    "amber+strict": Tlp.AMBER_STRICT,
    "red": Tlp.RED,
}


def custom_tlp(obj: Any) -> Tlp | None:
    """The TLP level a marking definition other than the standard ones states:
    STIX 2.0-style `definition_type: tlp`, a TLP 2.0 extension, or a name such
    as "TLP:RED". None if it is not a TLP marking."""
    if not isinstance(obj, dict) or obj.get("type") != "marking-definition":
        return None
    if obj.get("id") in TLP_MARKINGS:
        return None
    words: list[Any] = []
    definition = obj.get("definition")
    if isinstance(definition, dict):
        words.append(definition.get("tlp"))
    for extension in (obj.get("extensions") or {}).values():
        if isinstance(extension, dict):
            words += [extension.get("tlp_2_0"), extension.get("tlp")]
    name = str(obj.get("name") or "").strip().lower()
    if name.startswith("tlp:"):
        words.append(name[4:].strip())
    levels = [
        _TLP_WORDS[w.strip().lower()]
        for w in words
        if isinstance(w, str) and w.strip().lower() in _TLP_WORDS
    ]
    return max(levels, key=STRICTNESS.index) if levels else None


def search_text_of(obj: dict[str, Any]) -> str:
    """The values an analyst searches for: pattern literals, observable values, names."""
    parts = [str(obj.get(key, "")) for key in ("value", "name", "hashes", "pattern")]
    parts += _PATTERN_VALUE.findall(str(obj.get("pattern", "")))
    # No NUL: PostgreSQL text cannot hold it (the body keeps it, escaped).
    return " ".join(p for p in parts if p)[:2000].lower().replace("\x00", "")


# ---------------------------------------------------------------- handling conditions

# The originator's release conditions (../shared/DOMAIN.md, "Release
# conditions"), carried on the object itself as a STIX 2.1 property extension
# and honoured by every node but the originator's (docs/intel.md).
HANDLING_EXTENSION = "extension-definition--4da54d41-2884-4772-ad2c-4d22b1f12193"
ACCORD_IDENTITY = "identity--ea812784-d707-4ff1-a86b-e0341e5b07c9"


RELIABILITY = {
    "A": _("A: completely reliable"),
    "B": _("B: usually reliable"),
    "C": _("C: fairly reliable"),
    "D": _("D: not usually reliable"),
    "E": _("E: unreliable"),
    "F": _("F: reliability cannot be judged"),
}
ACCURACY = {
    1: _("1: confirmed by other sources"),
    2: _("2: probably true"),
    3: _("3: possibly true"),
    4: _("4: doubtful"),
    5: _("5: improbable"),
    6: _("6: truth cannot be judged"),
}
HANDLING_FIELDS = {
    "extension_type",
    "handling_code",
    "source_reliability",
    "information_accuracy",
    "purpose",
    "expires",
    "originator",
}


@dataclass(frozen=True)
class Handling:
    code: str
    originator: str = ""
    reliability: str = ""
    accuracy: int | None = None
    purpose: str = ""
    expires: datetime | None = None

    def binds(self, node_id: str) -> bool:
        """Conditions bind every holder but the node that set them."""
        return self.originator != node_id

    def extension(self) -> dict[str, Any]:
        body: dict[str, Any] = {"extension_type": "property-extension", "handling_code": self.code}
        if self.originator:
            body["originator"] = self.originator
        if self.reliability:
            body["source_reliability"] = self.reliability
        if self.accuracy is not None:
            body["information_accuracy"] = self.accuracy
        if self.purpose:
            body["purpose"] = self.purpose
        if self.expires is not None:
            body["expires"] = timestamp(self.expires)
        return body


def handling_of(obj: dict[str, Any]) -> Handling | None:
    """The object's handling conditions, None if it has none; ValueError (with
    a reason a sender can act on) if the extension is malformed."""
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict) or HANDLING_EXTENSION not in extensions:
        return None
    data = extensions[HANDLING_EXTENSION]
    if not isinstance(data, dict) or data.get("extension_type") != "property-extension":
        raise ValueError("handling conditions: a property-extension object is expected")
    unknown = sorted(set(data) - HANDLING_FIELDS)
    if unknown:
        raise ValueError(f"handling conditions: unknown field {unknown[0]!r}")
    code = data.get("handling_code")
    if code not in HandlingCode.values:
        raise ValueError(
            f"handling conditions: handling_code must be one of {', '.join(HandlingCode.values)}"
        )
    reliability = data.get("source_reliability", "")
    if reliability not in ("", *RELIABILITY):
        raise ValueError("handling conditions: source_reliability must be A to F")
    accuracy = data.get("information_accuracy")
    if accuracy is not None and (type(accuracy) is not int or accuracy not in ACCURACY):
        raise ValueError("handling conditions: information_accuracy must be 1 to 6")
    purpose, originator = data.get("purpose", ""), data.get("originator", "")
    if not isinstance(purpose, str) or len(purpose) > 1000:
        raise ValueError("handling conditions: purpose must be text of at most 1,000 characters")
    if not isinstance(originator, str) or len(originator) > 200:
        raise ValueError("handling conditions: originator must be text of at most 200 characters")
    expires = None
    if data.get("expires") is not None:
        try:
            expires = parse_timestamp(str(data["expires"]))
        except (ValueError, OverflowError):
            raise ValueError("handling conditions: expires must be a timestamp") from None
    return Handling(
        code=code,
        originator=originator,
        reliability=reliability,
        accuracy=accuracy,
        purpose=purpose,
        expires=expires,
    )


def with_handling(obj: dict[str, Any], handling: Handling) -> dict[str, Any]:
    """The object with these conditions, unless it carries its own already."""
    if HANDLING_EXTENSION in (obj.get("extensions") or {}):
        return obj
    return {
        **obj,
        "extensions": {**(obj.get("extensions") or {}), HANDLING_EXTENSION: handling.extension()},
    }


def handling_definitions() -> list[dict[str, Any]]:
    """The extension's definition (and its author), for bundles that use it, so
    any STIX consumer can read what the properties mean."""
    created = "2026-11-27T00:00:00.000Z"
    return [
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": ACCORD_IDENTITY,
            "created": created,
            "modified": created,
            "name": "Accord",
            "identity_class": "system",
        },
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": HANDLING_EXTENSION,
            "created_by_ref": ACCORD_IDENTITY,
            "created": created,
            "modified": created,
            "name": "Accord handling conditions",
            "description": "The originator's release conditions: handling code for onward "
            "sharing (national-authorities, originator-permission, receiving-agency, "
            "no-further-sharing), source reliability A-F, information accuracy 1-6, purpose "
            "and expiry. Binding on every holder except the originator node.",
            "schema": "https://accord.invalid/docs/intel.md#handling-conditions",
            "version": "1.0.0",
            "extension_types": ["property-extension"],
        },
    ]
