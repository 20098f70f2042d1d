"""The clock's cleaning of evidence bytes nothing refers to.

`blobs.commit` puts the ciphertext into the storage before the transaction
that records its Blob row and item commits: a crash in between (the process
killed, the machine down) leaves a stored object no row names, and a Blob row
whose items all went (a purge racing an add) names bytes no live item holds.
Neither is ever read again. After a grace period of
ACCORD_EVIDENCE_ORPHAN_DAYS (long past any transaction still running) the
clock removes them, and the encrypted scratch files (`DATA_DIR/tmp/evidence-*`)
an interrupted encryption left, each removal audited. Abandoned upload
sessions and kept bundles past their time go too
(`resumable.expire`, `exports.expire`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.evidence import blobs
from accord.evidence.models import Blob, EvidenceItem

# blobs.commit names an object <first two hex digits of the hash>/<hash>.
BLOB_FOLDER = re.compile(r"[0-9a-f]{2}")


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Remove what nothing refers to and is older than the grace period."""
    from accord.evidence import exports, resumable

    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EVIDENCE_ORPHAN_DAYS)
    return {
        "rows": unreferenced_rows(cutoff),
        "objects": unnamed_objects(cutoff),
        "scratch": scratch_files(cutoff),
        "uploads": resumable.expire(now),
        "bundles": exports.expire(now),
    }


def unreferenced_rows(cutoff: datetime) -> int:
    """Blob rows no live item holds: row, key and ciphertext go."""
    live = EvidenceItem.objects.filter(purged_at__isnull=True).values("sha256")
    removed = 0
    for sha256 in (
        Blob.objects.filter(created_at__lt=cutoff).exclude(pk__in=live).values_list("pk", flat=True)
    ):
        with transaction.atomic():
            blob = Blob.objects.select_for_update().filter(pk=sha256).first()
            held = EvidenceItem.objects.filter(sha256=sha256, purged_at__isnull=True).exists()
            if blob is None or held:
                continue  # taken up by an item since the query
            name = blob.storage_name
            blob.delete()
            _audit("row", name, sha256=sha256)
            transaction.on_commit(lambda name=name: blobs.storage().delete(name))  # type: ignore[misc]
        removed += 1
    return removed


def unnamed_objects(cutoff: datetime) -> int:
    """Stored objects no Blob row names (a crash between store and commit)."""
    store = blobs.storage()
    try:
        folders, _ = store.listdir("")
    except FileNotFoundError:
        return 0  # nothing stored yet
    removed = 0
    for folder in folders:
        if not BLOB_FOLDER.fullmatch(folder):
            continue  # not a blob's folder: kept bundles (exports.py) have their own clock
        named = set(
            Blob.objects.filter(storage_name__startswith=f"{folder}/").values_list(
                "storage_name", flat=True
            )
        )
        for file in store.listdir(folder)[1]:
            name = f"{folder}/{file}"
            if name in named or store.get_modified_time(name) >= cutoff:
                continue
            store.delete(name)
            _audit("object", name)
            removed += 1
    return removed


def scratch_files(cutoff: datetime) -> int:
    """Encrypted temporary files of an encryption that never finished."""
    removed = 0
    for path in (Path(settings.DATA_DIR) / "tmp").glob("evidence-*"):
        moment = datetime.fromtimestamp(path.stat().st_mtime, tz=cutoff.tzinfo)
        if moment < cutoff:
            path.unlink(missing_ok=True)
            _audit("scratch", path.name)
            removed += 1
    return removed


def _audit(kind: str, name: str, **extra: str) -> None:
    audit.record(
        Actor.system("clock"),
        AuditAction.EVIDENCE_ORPHAN_REMOVED,
        target_type="evidence.blob",
        target_id=name[-64:],
        data={"kind": kind, "name": name[:300], "grace_days": settings.EVIDENCE_ORPHAN_DAYS}
        | extra,
    )


__all__ = ["scratch_files", "sweep", "unnamed_objects", "unreferenced_rows"]
