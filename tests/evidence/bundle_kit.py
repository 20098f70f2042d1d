"""Builders for the pure-format tests: two nodes with fixed keys, items with
custody chains on both, bundles written to disk, and ways to rewrite a bundle
the way a tamperer would (a consistent ZIP with one thing changed)."""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nacl.signing import SigningKey

from accord.core.canonical import canonical_bytes
from accord.evidence import bundle, custody
from accord.evidence.custody import Record

CN = SigningKey(bytes([1]) * 32)
US = SigningKey(bytes([2]) * 32)
KEYS = {"cn.mps": CN, "us.doj": US}
PUBLIC = {node: bytes(key.verify_key) for node, key in KEYS.items()}
NODES = {
    "cn.mps": {"party": "中国", "agency": "公安部", "signing_key": PUBLIC["cn.mps"]},
    "us.doj": {"party": "United States", "agency": "DOJ", "signing_key": PUBLIC["us.doj"]},
}
TRUST = {node: hashlib.sha256(key).hexdigest() for node, key in PUBLIC.items()}
START = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
MiB = 1024 * 1024


def chain(item: str, data: bytes, node: str, events: list[str]) -> list[Record]:
    records: list[Record] = []
    for number, event in enumerate(events):
        records.append(
            custody.make_record(
                item=item,
                sha256=hashlib.sha256(data).hexdigest(),
                node=node,
                prev=records[-1] if records else None,
                event=event,
                at=START + timedelta(minutes=number),
                actor="li.wei" if node == "cn.mps" else "operator",
                reason="" if number else "seized under warrant 7",
                details={"how": "seizure", "count": number} if event == "collected" else {},
                signing_key=KEYS.get(node, SigningKey(bytes([9]) * 32)),
            )
        )
    return records


def source(
    data: bytes, *, name: str = "phone dump.bin", records: list[Record] | None = None, **extra
) -> bundle.ItemSource:
    item = extra.pop("id", None) or str(uuid.uuid4())
    if records is None:
        records = chain(item, data, "cn.mps", ["collected", "viewed", "exported"])
        records += chain(item, data, "us.doj", ["received", "viewed"])
    piece = 100_003  # odd-sized pieces: chunking must not depend on the caller's

    def open_() -> object:
        return (data[start : start + piece] for start in range(0, len(data), piece))

    fields = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "name": name,
        "content_type": "application/octet-stream",
        "description": "extraction of the seized phone",
        "case": {"reference": "C-2026-0001", "title": "Fraud ring"},
        "request": None,
        "conditions": ["speciality: fraud proceedings only"],
    } | extra
    return bundle.ItemSource(id=item, open=open_, records=records, **fields)  # type: ignore[arg-type]


def write(path: Path, items: list[bundle.ItemSource], **options) -> dict:
    with path.open("wb") as out:
        return bundle.write_bundle(
            out,
            items=items,
            nodes=options.pop("nodes", NODES),
            exporter=options.pop("exporter", "cn.mps"),
            actor="li.wei",
            signing_key=options.pop("signing_key", CN),
            created_at=START + timedelta(days=1),
            **options,
        )


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rewrite(
    source_path: Path,
    target: Path,
    change: Callable[[dict[str, bytes]], dict[str, bytes]],
    compress: dict[str, int] | None = None,
) -> Path:
    """A consistent ZIP holding change(members) (insertion order kept)."""
    contents = change(members(source_path))
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        for name, data in contents.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 2, 0, 0, 0))
            info.compress_type = (compress or {}).get(name, zipfile.ZIP_STORED)
            archive.writestr(info, data)
    return target


def resign(contents: dict[str, bytes], manifest: dict, key: SigningKey = CN) -> dict[str, bytes]:
    data = canonical_bytes(manifest)
    signature = {
        "node": manifest["exported_by"]["node"],
        "sig": bundle.b64(key.sign(data).signature),
    }
    return contents | {bundle.MANIFEST: data, bundle.SIGNATURE: canonical_bytes(signature)}


def record_lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def lines_bytes(records: list[dict]) -> bytes:
    return b"".join(canonical_bytes(record) + b"\n" for record in records)
