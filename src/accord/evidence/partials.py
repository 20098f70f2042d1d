"""A failed or abandoned incoming transfer's partial file (the encrypted
chunks or parts received, `inbound.partial_path`): removed once the failure
commits, audited, and, if this node holds the item, accounted for in its
custody with a signed `discarded` record (who removed how many bytes, why).

A bulk transfer whose whole does not check (bulk_inbound.damaged) and one
without a chunk for ACCORD_EVIDENCE_ORPHAN_DAYS (the clock) come here; the
small-item path's failed whole check removes its file in the refusal itself
(inbound.finish_or_discard)."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.evidence import services
from accord.evidence.inbound import partial_path
from accord.evidence.models import EvidenceItem, IncomingTransfer, TransferStatus


def discard_partial(incoming: IncomingTransfer, actor: Actor, reason: str, held: int) -> None:
    """The transfer failed here for good: its partial file (the encrypted
    chunks received) is removed once this transaction commits, audited, and
    accounted for in the item's custody if the item exists here."""
    path = partial_path(incoming)
    size = partial_bytes(path)
    audit.record(
        actor,
        AuditAction.EVIDENCE_ORPHAN_REMOVED,
        target_type="evidence.evidenceitem",
        target_id=str(incoming.item_id),
        data={
            "kind": "partial",
            "peer": incoming.peer.node_id,
            "reason": reason,
            "held": held,
            "bytes": size,
        },
    )
    removal_in_custody(incoming, actor, reason, held, size)
    transaction.on_commit(functools.partial(path.unlink, missing_ok=True))


def partial_bytes(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def removal_in_custody(
    incoming: IncomingTransfer, actor: Actor, reason: str, held: int, size: int
) -> None:
    """A `discarded` record on the item, if this node holds it: who removed
    the partial copy of its bytes, how many bytes, why. Without the item
    here there is no chain to write in (the audit log keeps the removal)."""
    item = EvidenceItem.objects.select_for_update().filter(pk=incoming.item_id).first()
    if item is None:
        return
    services.write_custody(
        item,
        "discarded",
        actor,
        reason=reason[:300],
        details={
            "what": "partial transfer",
            "from": incoming.peer.node_id,
            "bytes_removed": size,
            "chunks": held,
        },
    )


def clean_orphans(cutoff: datetime) -> int:
    """Incoming transfers without a chunk since `cutoff`: their partial files
    are removed and they are marked abandoned (a new offer starts over)."""
    cleaned = 0
    stale = IncomingTransfer.objects.filter(
        status__in=[TransferStatus.ACTIVE, TransferStatus.FAILED], updated_at__lt=cutoff
    )
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            incoming = IncomingTransfer.objects.select_for_update().get(pk=pk)
            if incoming.updated_at >= cutoff or incoming.status == TransferStatus.DONE:
                continue
            path = partial_path(incoming)
            size = partial_bytes(path)
            incoming.status, incoming.custody = TransferStatus.ABANDONED, []
            incoming.reason = f"abandoned: no chunk for {settings.EVIDENCE_ORPHAN_DAYS} days"
            incoming.finished_at = timezone.now()
            incoming.save()
            clock = Actor.system("clock")
            audit.record(
                clock,
                AuditAction.EVIDENCE_ABANDONED,
                target_type="evidence.evidenceitem",
                target_id=str(incoming.item_id),
                data={
                    "peer": incoming.peer.node_id,
                    "direction": "in",
                    "chunks": incoming.received,
                    "bytes": size,
                },
            )
            removal_in_custody(incoming, clock, incoming.reason, incoming.received, size)
            transaction.on_commit(functools.partial(path.unlink, missing_ok=True))
        cleaned += 1
    return cleaned
