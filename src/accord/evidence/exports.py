"""Court bundles kept so that their download can resume (docs/evidence.md,
"Resumable downloads").

A bundle is signed and dated when it is made, so making it again gives other
bytes: a download cut off can only resume from the very bundle it began. The
export (services.export_bundle: custody records, audit) is written to an
anonymous scratch file, then kept in the evidence storage encrypted as a blob
is (§5: its own key, sealed), under `exports/<id>`, for
ACCORD_EVIDENCE_RESUME_HOURS. Its ETag is its SHA-256.

Fetching it again is for who exported it only, and goes through the same
checks as the export: each item still visible, exportable (not purged) and
within its conditions of use for the export's purpose. A fetch is audited; it
writes no custody record, since the bundle's 'exported' records already say
who took these bytes. The clock removes bundles past their time."""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.evidence import blobs, policy, ranges, services
from accord.evidence.models import Blob, EvidenceItem, KeptBundle

NAME = "evidence-bundle.zip"


def lifetime() -> timedelta:
    return timedelta(hours=settings.EVIDENCE_RESUME_HOURS)


def keep(
    actor: Actor,
    items: list[EvidenceItem],
    *,
    with_cover: bool = True,
    purpose: str = "",
    ip: str = "",
) -> KeptBundle:
    """Export the items (refusals raised as export_bundle raises them) and
    keep the bundle, encrypted, for resuming its download."""
    scratch = Path(settings.DATA_DIR) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=scratch) as handle:
        services.export_bundle(actor, items, handle, with_cover=with_cover, purpose=purpose, ip=ip)
        handle.seek(0)
        # A bundle holds several items: no one item's limit applies to it.
        pending = blobs.encrypt_stream(handle, limit=2**62)
    bundle_id = uuid.uuid4()
    try:
        saved = blobs.put(pending, f"exports/{bundle_id}")
        now = timezone.now()
        return KeptBundle.objects.create(
            id=bundle_id,
            created_by=actor.user,
            items=sorted(str(item.pk) for item in items),
            purpose=purpose,
            sha256=pending.sha256,
            size=pending.size,
            chunk_bytes=pending.chunk_bytes,
            sealed_key=blobs.seal_key(pending),
            storage_name=saved,
            created_at=now,
            expires_at=now + lifetime(),
        )
    finally:
        pending.discard()


def stored(kept: KeptBundle) -> Blob:
    """The kept bundle as the blob reader knows one (never saved as a row)."""
    return Blob(
        sha256=kept.sha256,
        size=kept.size,
        chunk_bytes=kept.chunk_bytes,
        sealed_key=kept.sealed_key,
        storage_name=kept.storage_name,
    )


@audit.refusals_kept()
def fetch(
    actor: Actor, kept: KeptBundle, *, wanted: ranges.Wanted | None = None, ip: str = ""
) -> blobs.Plaintext:
    """The bundle's bytes (or the range `wanted`), after the export's checks again."""
    with transaction.atomic():
        for item in EvidenceItem.objects.filter(pk__in=kept.items).order_by("pk"):
            locked = services.locked_for(actor, item, policy.EXPORT, ip)
            services.bound_by_conditions(actor, locked, policy.EXPORT, kept.purpose, ip)
        if kept.expires_at <= timezone.now():
            message = _("This bundle is no longer kept: export the items again.")
            services.refuse(actor, None, policy.EXPORT, message, 410, ip, bundle=str(kept.pk))
        try:
            span = ranges.resolve(wanted, kept.size)
        except ranges.Unsatisfiable:
            message = _("The range asked for is not in the bundle (%(n)s bytes).") % {
                "n": kept.size
            }
            services.refuse(actor, None, policy.EXPORT, message, 416, ip, bundle=str(kept.pk))
        try:
            chunks = blobs.read_plaintext(stored(kept), span.start, span.stop)
        except blobs.BlobError as exc:
            services.refuse(actor, None, policy.EXPORT, exc.message, 409, ip, bundle=str(kept.pk))
        data: dict[str, Any] = {"bundle": str(kept.pk), "items": kept.items}
        if not span.whole:
            data["range"] = f"{span.start}-{span.stop - 1}"
        audit.record(
            actor,
            AuditAction.EVIDENCE_EXPORT_FETCH,
            target_type="evidence.keptbundle",
            target_id=str(kept.pk),
            data=data,
            ip=ip,
        )
    return chunks


def expire(now: datetime | None = None) -> int:
    """The clock: bundles past their time go, ciphertext and row."""
    now = now or timezone.now()
    gone = 0
    for kept in KeptBundle.objects.filter(expires_at__lt=now):
        with transaction.atomic():
            name, key = kept.storage_name, str(kept.pk)
            kept.delete()
            audit.record(
                Actor.system("clock"),
                AuditAction.EVIDENCE_ORPHAN_REMOVED,
                target_type="evidence.keptbundle",
                target_id=key,
                data={"kind": "export", "name": name},
            )
            transaction.on_commit(lambda name=name: blobs.storage().delete(name))  # type: ignore[misc]
        gone += 1
    return gone


__all__ = ["expire", "fetch", "keep", "stored"]
