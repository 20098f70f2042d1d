"""The bundle manifest's shape and the names both the writer (bundle.py) and
the verifier (bundle_verify.py) share. No Django (see bundle.py)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accord.evidence.custody import HEX64, NODE_ID, TIMESTAMP, UUID

FORMAT = "accord-evidence-bundle/1"
CHUNK_BYTES = 1024 * 1024
MANIFEST = "bundle/manifest.json"
SIGNATURE = "bundle/manifest.sig"
COVER = "cover.pdf"
MAX_SAFE_INTEGER = 2**53 - 1
# Every way a bundle can be broken, grouped by the stage of the reading order
# (docs/evidence.md section 4 lists them in this order).
CODES = (
    "not_a_bundle",
    "unsafe_member",
    "manifest_missing",
    "manifest_invalid",
    "manifest_signature",
    "untrusted_node",
    "file_missing",
    "custody_missing",
    "unexpected_member",
    "file_changed",
    "chunk_missing",
    "file_extra",
    "custody_invalid",
    "custody_signature",
    "custody_item",
    "custody_order",
    "custody_head",
)


class BundleError(Exception):
    """A bundle cannot be written or is broken; `code` names the broken thing."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"{code!r} is not a documented bundle error code")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Verdict:
    ok: bool
    code: str
    message: str
    items: int = 0
    records: int = 0
    signer: str = ""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def public_key(text: str) -> bytes:
    """The raw 32-byte key a manifest's base64 signing_key holds, or b''."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return b""
    return raw if len(raw) == 32 and b64(raw) == text else b""


def chunk_count(size: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """How many chunks a file of `size` bytes has (an empty file has none)."""
    return -(-size // chunk_bytes)


def _bad_ref(value: Any) -> bool:
    if value is None:
        return False
    return (
        not isinstance(value, dict)
        or set(value) != {"reference", "title"}
        or not all(isinstance(text, str) for text in value.values())
    )


NODE_FIELDS = {"party", "agency", "signing_key", "previous_signing_keys"}
ITEM_FIELDS = {
    "id",
    "sha256",
    "size",
    "name",
    "content_type",
    "description",
    "case",
    "request",
    "conditions",
    "chunk_bytes",
    "chunks",
    "file",
    "custody",
    "custody_heads",
}


def _check_item(item: Any, nodes: Mapping[str, Any]) -> str:
    if not isinstance(item, dict) or set(item) != ITEM_FIELDS:
        return "an item must be an object with exactly the documented fields"
    if not isinstance(item["id"], str) or not UUID.match(item["id"]):
        return "an item id is not a lower-case UUID"
    label = f"item {item['id']}"
    if not isinstance(item["sha256"], str) or not HEX64.match(item["sha256"]):
        return f"{label}: sha256 is not 64 lower-case hex digits"
    size = item["size"]
    if type(size) is not int or not 0 <= size <= MAX_SAFE_INTEGER:
        return f"{label}: size is not a non-negative integer"
    for text in ("name", "content_type", "description"):
        if not isinstance(item[text], str):
            return f"{label}: {text} is not a string"
    if _bad_ref(item["case"]) or _bad_ref(item["request"]):
        return f"{label}: case and request must be null or {{reference, title}}"
    conditions = item["conditions"]
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        return f"{label}: conditions must be a list of strings"
    if item["chunk_bytes"] != CHUNK_BYTES or type(item["chunk_bytes"]) is not int:
        return f"{label}: chunk_bytes must be {CHUNK_BYTES}"
    chunks = item["chunks"]
    if (
        not isinstance(chunks, list)
        or len(chunks) != chunk_count(size)
        or not all(isinstance(c, str) and HEX64.match(c) for c in chunks)
    ):
        return f"{label}: chunks must list one sha256 per {CHUNK_BYTES} bytes"
    if item["file"] != f"files/{item['sha256']}":
        return f"{label}: file must be files/<sha256>"
    if item["custody"] != f"custody/{item['id']}.jsonl":
        return f"{label}: custody must be custody/<id>.jsonl"
    item_heads = item["custody_heads"]
    if not isinstance(item_heads, dict):
        return f"{label}: custody_heads must be an object"
    for node_id, head in item_heads.items():
        if node_id not in nodes:
            return f"{label}: custody_heads names {node_id}, which is not in nodes"
        if (
            not isinstance(head, dict)
            or set(head) != {"seq", "hash"}
            or type(head["seq"]) is not int
            or head["seq"] < 0
            or not isinstance(head["hash"], str)
            or not HEX64.match(head["hash"])
        ):
            return f"{label}: custody head of {node_id} must be {{seq, hash}}"
    return ""


def check_manifest(manifest: Any) -> str:
    """'' when the manifest has the documented shape, else what is wrong."""
    if not isinstance(manifest, dict):
        return "the manifest is not a JSON object"
    expected = {"format", "created_at", "exported_by", "nodes", "items"}
    if set(manifest) != expected:
        return "the manifest must hold exactly: " + ", ".join(sorted(expected))
    if manifest["format"] != FORMAT:
        return f"the format is {manifest['format']!r}, not {FORMAT!r}"
    if not isinstance(manifest["created_at"], str) or not TIMESTAMP.match(manifest["created_at"]):
        return "created_at must look like 2026-01-31T12:00:00.000000Z"
    nodes = manifest["nodes"]
    if not isinstance(nodes, dict) or not nodes:
        return "nodes must be a non-empty object"
    for node_id, entry in nodes.items():
        if not NODE_ID.match(node_id):
            return f"node id {node_id!r} is not like cn.mps"
        if (
            not isinstance(entry, dict)
            or set(entry) != NODE_FIELDS
            or not all(isinstance(entry[text], str) for text in ("party", "agency", "signing_key"))
            or not isinstance(entry["previous_signing_keys"], list)
        ):
            return f"node {node_id} must be {{{', '.join(sorted(NODE_FIELDS))}}}"
        for key in (entry["signing_key"], *entry["previous_signing_keys"]):
            if not isinstance(key, str) or not public_key(key):
                return f"node {node_id}: {key!r} is not a base64 32-byte key"
    exported = manifest["exported_by"]
    if (
        not isinstance(exported, dict)
        or set(exported) != {"node", "actor"}
        or exported["node"] not in nodes
        or not isinstance(exported["actor"], str)
    ):
        return "exported_by must be {node, actor} with node in nodes"
    items = manifest["items"]
    if not isinstance(items, list):
        return "items must be a list"
    seen: set[str] = set()
    for item in items:
        problem = _check_item(item, nodes)
        if problem:
            return problem
        if item["id"] in seen:
            return f"item {item['id']} is listed twice"
        seen.add(item["id"])
    return ""
