"""Court bundles: a ZIP of evidence files, their custody chains and a signed
manifest, written streaming and checked offline (docs/evidence.md).

No Django and no database here: `python -m accord.evidence.bundle PACKAGE
--trust NODE=FINGERPRINT` runs on any machine with PyNaCl and rfc8785."""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from nacl.signing import SigningKey

from accord.core.canonical import CanonicalizationError, canonical_bytes
from accord.evidence import bundle_verify
from accord.evidence.bundle_manifest import (
    CHUNK_BYTES,
    CODES,
    COVER,
    FORMAT,
    MANIFEST,
    SIGNATURE,
    BundleError,
    Verdict,
    b64,
    check_manifest,
)
from accord.evidence.custody import (
    HEX64,
    NODE_ID,
    UUID,
    CustodyError,
    Record,
    chain_order,
    format_time,
    heads,
    verify_chain,
)

__all__ = [
    "CHUNK_BYTES",
    "CODES",
    "COVER",
    "FORMAT",
    "MANIFEST",
    "SIGNATURE",
    "BundleError",
    "ItemSource",
    "Verdict",
    "b64",
    "main_verify",
    "verify_bundle",
    "write_bundle",
]


@dataclass
class ItemSource:
    """One item to export: its manifest fields, its plaintext (streamed) and
    its custody records (any order; the bundle stores them by node, seq)."""

    id: str
    sha256: str
    size: int
    name: str
    content_type: str
    description: str
    case: dict[str, str] | None
    request: dict[str, str] | None
    conditions: list[str]
    open: Callable[[], Iterator[bytes]]
    records: list[Record] = field(default_factory=list)


def _zip_info(name: str, created_at: datetime) -> zipfile.ZipInfo:
    # A fixed time and mode: the same export gives the same bytes.
    moment = created_at.astimezone(UTC)
    stamp = (
        max(moment.year, 1980),
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _write_file(archive: zipfile.ZipFile, info: zipfile.ZipInfo, item: ItemSource) -> list[str]:
    """Streams the item's plaintext into the archive, hashing each 1 MiB chunk
    and the whole on the way; the file is never held whole in memory."""
    chunks: list[str] = []
    whole = hashlib.sha256()
    part = hashlib.sha256()
    filled = 0
    size = 0
    with archive.open(info, "w", force_zip64=True) as member:
        for piece in item.open():
            member.write(piece)
            whole.update(piece)
            size += len(piece)
            view = memoryview(piece)
            while view:
                take = min(len(view), CHUNK_BYTES - filled)
                part.update(view[:take])
                filled += take
                view = view[take:]
                if filled == CHUNK_BYTES:
                    chunks.append(part.hexdigest())
                    part, filled = hashlib.sha256(), 0
    if filled:
        chunks.append(part.hexdigest())
    if size != item.size or whole.hexdigest() != item.sha256:
        raise BundleError(
            "file_changed",
            f"item {item.id}: the stored bytes ({size} bytes, sha256 {whole.hexdigest()}) "
            f"are not what was recorded ({item.size} bytes, sha256 {item.sha256})",
        )
    return chunks


def _key_text(key: bytes | str) -> str:
    return b64(bytes(key)) if isinstance(key, bytes | bytearray) else str(key)


def _node_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "party": str(entry["party"]),
        "agency": str(entry["agency"]),
        "signing_key": _key_text(entry["signing_key"]),
        "previous_signing_keys": [_key_text(k) for k in entry.get("previous_signing_keys", [])],
    }


def write_bundle(
    out: BinaryIO,
    *,
    items: list[ItemSource],
    nodes: dict[str, dict],
    exporter: str,
    actor: str,
    signing_key: SigningKey,
    created_at: datetime,
    cover_pdf: bytes | None = None,
) -> dict:
    """Writes a bundle to `out` and returns its manifest. `nodes` maps node id
    to {"party", "agency", "signing_key"} and optionally "previous_signing_keys"
    (keys as raw bytes or base64; the previous ones verify records signed
    before a key rotation) and must hold every node that signed a custody
    record and the exporter, whose key must be `signing_key`. Raises
    BundleError: file_changed when an item's bytes differ from its recorded
    hash, custody_* when its chain does not verify. On error `out` holds a
    partial archive: the caller discards it."""
    node_table = {node_id: _node_entry(entry) for node_id, entry in nodes.items()}
    public = b64(bytes(signing_key.verify_key))
    if node_table.get(exporter, {}).get("signing_key") != public:
        raise BundleError("manifest_signature", f"the exporter {exporter} must list its own key")
    keys = {
        node_id: [
            base64.b64decode(key) for key in (entry["signing_key"], *entry["previous_signing_keys"])
        ]
        for node_id, entry in node_table.items()
    }
    entries: list[dict[str, Any]] = []
    written: dict[str, list[str]] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        if cover_pdf is not None:
            archive.writestr(_zip_info(COVER, created_at), cover_pdf)
        for item in items:
            # The id and hash become member names: check them before use.
            if not UUID.match(item.id) or not HEX64.match(item.sha256):
                raise BundleError("manifest_invalid", f"item {item.id!r}: bad id or sha256")
            records = chain_order(item.records)
            try:
                verify_chain(records, keys, item=item.id, sha256=item.sha256)
            except CustodyError as exc:
                raise BundleError(exc.code, f"item {item.id}: {exc.message}") from None
            file_name = f"files/{item.sha256}"
            if file_name not in written:
                written[file_name] = _write_file(archive, _zip_info(file_name, created_at), item)
            custody_name = f"custody/{item.id}.jsonl"
            lines = b"".join(record.canonical() + b"\n" for record in records)
            archive.writestr(_zip_info(custody_name, created_at), lines)
            entries.append(
                {
                    "id": item.id,
                    "sha256": item.sha256,
                    "size": item.size,
                    "name": item.name,
                    "content_type": item.content_type,
                    "description": item.description,
                    "case": item.case,
                    "request": item.request,
                    "conditions": list(item.conditions),
                    "chunk_bytes": CHUNK_BYTES,
                    "chunks": written[file_name],
                    "file": file_name,
                    "custody": custody_name,
                    "custody_heads": heads(records),
                }
            )
        manifest = {
            "format": FORMAT,
            "created_at": format_time(created_at),
            "exported_by": {"node": exporter, "actor": actor},
            "nodes": node_table,
            "items": entries,
        }
        problem = check_manifest(manifest)
        if problem:
            raise BundleError("manifest_invalid", problem)
        try:
            manifest_bytes = canonical_bytes(manifest)
        except CanonicalizationError as exc:
            raise BundleError("manifest_invalid", str(exc)) from None
        signature = {"node": exporter, "sig": b64(signing_key.sign(manifest_bytes).signature)}
        archive.writestr(_zip_info(MANIFEST, created_at), manifest_bytes)
        archive.writestr(_zip_info(SIGNATURE, created_at), canonical_bytes(signature))
    return manifest


def verify_bundle(path: str | Path, trust: dict[str, str]) -> Verdict:
    """Checks a bundle offline and names the first broken thing (the reading
    order and codes are in docs/evidence.md). `trust` maps node id to the
    fingerprint accord.core.identity.key_fingerprint prints (hex SHA-256 of
    the raw public key)."""
    try:
        return bundle_verify.verify(Path(path), trust)
    except BundleError as exc:
        return Verdict(False, exc.code, exc.message)


def _trust_pair(text: str) -> tuple[str, str]:
    node_id, sep, fingerprint = text.partition("=")
    if not sep or not NODE_ID.match(node_id.strip()) or not fingerprint.strip():
        raise argparse.ArgumentTypeError(f"expected NODE=FINGERPRINT, got {text!r}")
    return node_id.strip(), fingerprint.strip()


def main_verify(argv: Sequence[str] | None = None, stdout: IO[str] | None = None) -> int:
    """`accord evidence verify PACKAGE --trust NODE=FINGERPRINT ...`: 0 when the
    bundle verifies, 1 when it is broken, 2 for a usage error."""
    out = stdout or sys.stdout
    parser = argparse.ArgumentParser(
        prog="accord evidence verify",
        description="Check an Accord evidence bundle offline and name the first broken thing.",
    )
    parser.add_argument("package", metavar="PACKAGE", help="the bundle (.zip) to check")
    parser.add_argument(
        "--trust",
        metavar="NODE=FINGERPRINT",
        action="append",
        type=_trust_pair,
        default=[],
        help="a node whose key you trust, with its key fingerprint (repeatable)",
    )
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if not args.trust:
        parser.print_usage(sys.stderr)
        print(
            "accord evidence verify: error: name at least one --trust NODE=FINGERPRINT",
            file=sys.stderr,
        )
        return 2
    if not Path(args.package).is_file():
        print(f"accord evidence verify: error: no such file: {args.package}", file=sys.stderr)
        return 2
    verdict = verify_bundle(args.package, dict(args.trust))
    if verdict.ok:
        print(f"OK: {verdict.message}", file=out)
        return 0
    print(f"BROKEN: {verdict.code}: {verdict.message}", file=out)
    return 1


if __name__ == "__main__":
    sys.exit(main_verify())
