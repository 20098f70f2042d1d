"""Response files stored before they were evidence items: each kept file
(`DATA_DIR/assistance-files/<sha256>`, whole, in clear) becomes an evidence
item of its request, encrypted in the evidence storage, with a first custody
record that says how it came: 'collected' on the node that sent it (the
provider's production), 'received' on the node it was sent to. The clear
copy is removed once the item is committed. Run once, by the data migration
assistance 0005; a file whose bytes no longer match their hash stays where it
is and is named in the result."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accord.assistance.models import ResponseFile
from accord.core.audit import Actor
from accord.evidence import blobs
from accord.evidence import services as evidence
from accord.evidence.models import EvidenceItem

FOLDER = "assistance-files"
LEGACY_COLUMNS = (
    "id",
    "name",
    "sha256",
    "content_type",
    "version",
    "request__id",
    "request__reference",
    "request__outgoing",
    "request__peer__id",
    "request__peer__node_id",
)


def adopt_all() -> dict[str, list[str]]:
    folder = Path(settings.DATA_DIR) / FOLDER
    found: dict[str, list[str]] = {"adopted": [], "missing": [], "damaged": []}
    # Only the columns this reads: it runs inside migration assistance 0005,
    # before later migrations add columns to the request's and the peer's tables.
    rows = (
        ResponseFile.objects.filter(deleted=False)
        .select_related("request", "request__peer")
        .only(*LEGACY_COLUMNS)
    )
    for row in rows.order_by("pk"):
        path = folder / row.sha256
        label = f"{row.request.reference}: {row.name} ({row.sha256})"
        if EvidenceItem.objects.filter(request=row.request, sha256=row.sha256).exists():
            continue
        if not path.exists():
            found["missing"].append(label)
            continue
        if adopt(row, path):
            found["adopted"].append(label)
        else:
            found["damaged"].append(label)
    return found


def adopt(row: ResponseFile, path: Path) -> bool:
    node = Actor.system("migration")
    request = row.request
    with path.open("rb") as stream:
        pending = blobs.encrypt_stream(stream, limit=max(path.stat().st_size, 0))
    if pending.sha256 != row.sha256:
        pending.discard()
        return False
    with transaction.atomic():
        blob, _ = blobs.commit(pending)
        item = EvidenceItem.objects.create(
            id=uuid.uuid4(),
            sha256=blob.sha256,
            size=blob.size,
            name=evidence.clean_text(row.name) or row.sha256,
            content_type=evidence.clean_content_type(row.content_type),
            description=f"{request.reference}: response file (version {row.version})",
            request=request,
            collected_how="production" if not request.outgoing else "",
            created_at=timezone.now(),
        )
        if request.outgoing:
            details = {"from": request.peer.node_id, "how": "response file"}
            evidence.write_custody(item, "received", node, details=details)
        else:
            details = {"how": "production", "where": "", "by": "", "legal_basis": "", "when": ""}
            evidence.write_custody(item, "collected", node, details=details)
        transaction.on_commit(functools.partial(path.unlink, missing_ok=True))
    return True
