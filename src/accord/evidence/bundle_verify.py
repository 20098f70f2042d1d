"""Checks a court bundle offline and names the first broken thing.

Reading order (docs/evidence.md, "Verifying"): the member list, the manifest,
its signature and the trusted keys, the members the manifest names, then each
item: its file chunk by chunk, its whole hash, its custody chains and heads.

Members are read straight from the archive bytes (stored, never inflated), so
a changed byte is named by its chunk rather than by zipfile's CRC error, and
no declared size can make the verifier read more than the archive holds."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from accord.core import ijson
from accord.core.canonical import CanonicalizationError, canonical_bytes
from accord.evidence.bundle_manifest import (
    CHUNK_BYTES,
    COVER,
    MANIFEST,
    SIGNATURE,
    BundleError,
    Verdict,
    check_manifest,
    public_key,
)
from accord.evidence.custody import CustodyError, Record, heads, verify_chain

MAX_MANIFEST = 64 * 1024 * 1024
MAX_SIGNATURE = 4096
MAX_CUSTODY = 64 * 1024 * 1024
LOCAL_HEADER = struct.Struct("<4s22xHH")
LOCAL_MAGIC = b"PK\x03\x04"
UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\\:]")


def show(text: str) -> str:
    """A user-given text made safe to print: control characters escaped."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def fingerprint(key: bytes) -> str:
    """As accord.core.identity.key_fingerprint: hex SHA-256 of the raw key."""
    return hashlib.sha256(key).hexdigest()


def normal_fingerprint(text: str) -> str:
    """Accepts 'ab12…', 'AB:12…' and 'SHA256:ab12…' for the same key."""
    text = text.strip().lower()
    text = text.removeprefix("sha256:")
    return re.sub(r"[\s:]", "", text)


def _loads(data: bytes) -> Any:
    """I-JSON: duplicate keys refused (two readers could see two values)."""
    return ijson.loads(data.decode("utf-8"))


class Archive:
    """A bundle's ZIP with its member table checked (stored members only,
    declared sizes inside the archive, safe and unique names)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        size = os.fstat(handle.fileno()).st_size
        try:
            infos = zipfile.ZipFile(handle).infolist()
        except Exception as exc:  # zipfile raises many kinds on a damaged table
            raise BundleError("not_a_bundle", f"not a readable ZIP archive ({exc})") from None
        self.members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.orig_filename
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or UNSAFE_NAME.search(name):
                raise BundleError("unsafe_member", f"member '{show(name)}' has an unsafe name")
            if name in self.members:
                raise BundleError("not_a_bundle", f"member '{show(name)}' appears twice")
            if info.compress_type != zipfile.ZIP_STORED:
                raise BundleError("not_a_bundle", f"member '{show(name)}' is compressed")
            if info.file_size != info.compress_size:
                raise BundleError(
                    "not_a_bundle",
                    f"member '{show(name)}' declares {info.file_size} bytes "
                    f"but stores {info.compress_size}",
                )
            total += info.compress_size
            end = info.header_offset + info.compress_size
            if info.header_offset < 0 or end > size or total > size:
                raise BundleError(
                    "not_a_bundle",
                    f"member '{show(name)}' declares more bytes than the archive has",
                )
            self.members[name] = info

    def open(self, name: str) -> Member:
        """The member's stored bytes, checked to start at a local header
        with the member's name."""
        info = self.members[name]
        self.handle.seek(info.header_offset)
        header = self.handle.read(LOCAL_HEADER.size)
        if len(header) != LOCAL_HEADER.size:
            raise BundleError("not_a_bundle", f"member '{show(name)}' has no local header")
        magic, name_length, extra_length = LOCAL_HEADER.unpack(header)
        local_name = self.handle.read(name_length)
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        if magic != LOCAL_MAGIC or local_name.decode(encoding, "replace") != name:
            raise BundleError("not_a_bundle", f"member '{show(name)}' has a damaged local header")
        self.handle.seek(extra_length, os.SEEK_CUR)
        return Member(self.handle, info.compress_size)

    def read(self, name: str, limit: int, code: str) -> bytes:
        size = self.members[name].file_size
        if size > limit:
            raise BundleError(code, f"{name} is larger than {limit} bytes")
        return self.open(name).read(size)


class Member:
    """Reads one member's stored bytes, never past its declared size; one
    member at a time (they share the archive's file handle)."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.remaining = size

    def read(self, wanted: int) -> bytes:
        """Up to `wanted` bytes; fewer only where the member or the archive ends."""
        parts = []
        wanted = min(wanted, self.remaining)
        while wanted > 0:
            data = self.handle.read(wanted)
            if not data:
                self.remaining = 0
                break
            parts.append(data)
            wanted -= len(data)
            self.remaining -= len(data)
        return b"".join(parts) if len(parts) != 1 else parts[0]


def _manifest(archive: Archive) -> tuple[dict[str, Any], bytes]:
    for name in (MANIFEST, SIGNATURE):
        if name not in archive.members:
            raise BundleError("manifest_missing", f"the bundle has no {name}")
    data = archive.read(MANIFEST, MAX_MANIFEST, "manifest_invalid")
    try:
        manifest = _loads(data)
        canonical = canonical_bytes(manifest)
    except (ValueError, RecursionError, CanonicalizationError) as exc:
        raise BundleError("manifest_invalid", f"the manifest is not JSON ({exc})") from None
    if canonical != data:
        raise BundleError("manifest_invalid", "the manifest is not in RFC 8785 canonical form")
    problem = check_manifest(manifest)
    if problem:
        raise BundleError("manifest_invalid", problem)
    return manifest, data


def _check_signature(archive: Archive, manifest: dict[str, Any], data: bytes) -> str:
    """Returns the signer; the signer must be the exporter."""
    try:
        signature = _loads(archive.read(SIGNATURE, MAX_SIGNATURE, "manifest_signature"))
        signer, sig = signature["node"], signature["sig"]
        raw_sig = base64.b64decode(sig, validate=True)
        if base64.b64encode(raw_sig).decode("ascii") != sig:
            raise ValueError("the signature is not canonical base64")
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise BundleError("manifest_signature", f"{SIGNATURE} is unreadable ({exc})") from None
    exporter = manifest["exported_by"]["node"]
    if signer != exporter:
        raise BundleError(
            "manifest_signature", f"the manifest is signed by {show(str(signer))}, not {exporter}"
        )
    key = public_key(manifest["nodes"][exporter]["signing_key"])
    try:
        VerifyKey(key).verify(data, raw_sig)
    except (BadSignatureError, ValueError, TypeError):
        raise BundleError(
            "manifest_signature", f"the manifest signature does not match {exporter}'s key"
        ) from None
    return exporter


def _trusted_keys(manifest: dict[str, Any], trust: Mapping[str, str]) -> dict[str, list[bytes]]:
    """The keys of the manifest's nodes that --trust names with a matching
    fingerprint; a named node with another key is broken, not just untrusted."""
    exporter = manifest["exported_by"]["node"]
    if exporter not in trust:
        raise BundleError(
            "untrusted_node",
            f"the bundle is signed by {exporter}, which is not trusted "
            f"(name it with --trust {exporter}=FINGERPRINT)",
        )
    keys: dict[str, list[bytes]] = {}
    for node_id, entry in sorted(manifest["nodes"].items()):
        key = public_key(entry["signing_key"])
        if node_id not in trust:
            continue
        if fingerprint(key) != normal_fingerprint(trust[node_id]):
            raise BundleError(
                "untrusted_node",
                f"the manifest gives {node_id} the key {fingerprint(key)}, "
                f"not the trusted {normal_fingerprint(trust[node_id])}",
            )
        # Records written before a key rotation verify under the previous
        # keys the (trusted, signed) manifest lists for the node.
        keys[node_id] = [key, *(public_key(k) for k in entry["previous_signing_keys"])]
    return keys


def _label(item: Mapping[str, Any]) -> str:
    return f"item {item['id']} ('{show(item['name'])}')"


def _check_members(archive: Archive, manifest: dict[str, Any]) -> None:
    expected = {MANIFEST, SIGNATURE, COVER}
    for item in manifest["items"]:
        if item["file"] not in archive.members:
            raise BundleError("file_missing", f"{_label(item)}: {item['file']} is missing")
        if item["custody"] not in archive.members:
            raise BundleError("custody_missing", f"{_label(item)}: {item['custody']} is missing")
        expected |= {item["file"], item["custody"]}
    unexpected = sorted(set(archive.members) - expected)
    if unexpected:
        names = ", ".join(show(name) for name in unexpected)
        raise BundleError(
            "unexpected_member", f"the bundle holds members it does not list: {names}"
        )


def _check_file(archive: Archive, item: Mapping[str, Any]) -> None:
    size, chunks = item["size"], item["chunks"]
    member = archive.open(item["file"])
    whole = hashlib.sha256()
    for index, expected in enumerate(chunks):
        want = min(CHUNK_BYTES, size - index * CHUNK_BYTES)
        chunk = member.read(want)
        start = index * CHUNK_BYTES
        if len(chunk) < want:
            raise BundleError(
                "chunk_missing",
                f"{_label(item)}: the file ends at byte {start + len(chunk)} of {size}: "
                f"chunk {index} of {len(chunks)} (bytes {start}–{start + want - 1}) "
                f"is {'incomplete' if chunk else 'missing'}",
            )
        if hashlib.sha256(chunk).hexdigest() != expected:
            raise BundleError(
                "file_changed",
                f"{_label(item)}: chunk {index} (bytes {start}–{start + want - 1}) changed",
            )
        whole.update(chunk)
    if member.read(1):
        raise BundleError(
            "file_extra", f"{_label(item)}: the file holds more than its {size} bytes"
        )
    if whole.hexdigest() != item["sha256"]:
        raise BundleError("file_changed", f"{_label(item)}: the whole file's sha256 differs")


def _records(archive: Archive, item: Mapping[str, Any]) -> list[Record]:
    data = archive.read(item["custody"], MAX_CUSTODY, "custody_invalid")
    lines = data.split(b"\n")
    if lines[-1] != b"":
        raise BundleError(
            "custody_invalid", f"{_label(item)}: the custody file must end in a newline"
        )
    records = []
    for number, line in enumerate(lines[:-1], start=1):
        where = f"{_label(item)}: custody record {number}"
        try:
            record = Record.from_json(_loads(line))
        except CustodyError as exc:
            raise BundleError(exc.code, f"{where}: {exc.message}") from None
        except (ValueError, RecursionError) as exc:
            raise BundleError("custody_invalid", f"{where} is not JSON ({exc})") from None
        if record.canonical() != line:
            raise BundleError("custody_invalid", f"{where} is not in canonical form")
        records.append(record)
    return records


def _check_custody(
    archive: Archive, item: Mapping[str, Any], keys: Mapping[str, list[bytes]]
) -> int:
    records = _records(archive, item)
    try:
        verify_chain(records, keys, item=item["id"], sha256=item["sha256"])
    except CustodyError as exc:
        raise BundleError(exc.code, f"{_label(item)}: {exc.message}") from None
    found, listed = heads(records), item["custody_heads"]
    for node_id in sorted(set(found) | set(listed)):
        have, want = found.get(node_id), listed.get(node_id)
        where = f"{_label(item)}: {node_id}'s custody chain"
        if want is None:
            raise BundleError("custody_head", f"{where} is not listed in the manifest")
        if have is None or have["seq"] < want["seq"]:
            ends = "is missing" if have is None else f"ends at seq {have['seq']}"
            raise BundleError(
                "custody_head",
                f"{where} {ends}, but the manifest lists seq {want['seq']} as its last record "
                f"(records were removed from its end)",
            )
        if have["seq"] > want["seq"]:
            raise BundleError(
                "custody_head", f"{where} goes on past seq {want['seq']}, its last listed record"
            )
        if have["hash"] != want["hash"]:
            raise BundleError(
                "custody_head", f"{where}: the last record is not the one the manifest lists"
            )
    return len(records)


def verify(path: Path, trust: Mapping[str, str]) -> Verdict:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BundleError("not_a_bundle", f"cannot open {path}: {exc.strerror}") from None
    with handle:
        archive = Archive(handle)
        manifest, data = _manifest(archive)
        signer = _check_signature(archive, manifest, data)
        keys = _trusted_keys(manifest, trust)
        _check_members(archive, manifest)
        records = 0
        for item in manifest["items"]:
            _check_file(archive, item)
            records += _check_custody(archive, item, keys)
    items = len(manifest["items"])
    return Verdict(
        True,
        "ok",
        f"{items} item{'' if items == 1 else 's'}, {records} custody "
        f"record{'' if records == 1 else 's'}, signed by {signer}",
        items=items,
        records=records,
        signer=signer,
    )
