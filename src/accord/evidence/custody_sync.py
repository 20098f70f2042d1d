"""Both nodes hold the whole custody chain of an item they share (docs/evidence.md,
"Transfer"): the offer carries the sender's records, the receipt the
receiver's, and every record either node writes afterwards follows to the
other as `evidence.custody`, right after it commits (`record_written`) or, if
that failed, from the clock (`behind`)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.signals import post_save
from django.dispatch import receiver

from accord.core.identity import this_node
from accord.evidence.models import CustodyRecordRow, IncomingTransfer, Transfer, TransferStatus
from accord.evidence.wire import CUSTODY_KIND, MAX_RECORDS, CustodyBody
from accord.federation import services as federation
from accord.federation.models import Peer

log = logging.getLogger(__name__)


def links(item_id: Any) -> list[Transfer | IncomingTransfer]:
    """The peers that hold this item with this node: it was sent to them or came from them."""
    done = TransferStatus.DONE
    # Asked first with exists(), which reads no column: migration assistance
    # 0005 writes custody for adopted files (no transfers yet) before later
    # migrations add columns to these tables.
    found: list[Transfer | IncomingTransfer] = []
    for model in (Transfer, IncomingTransfer):
        rows = model.objects.filter(item_id=item_id, status=done)
        if rows.exists():
            found += list(rows)
    return found


def sync_custody(item_id: Any, only: Peer | None = None) -> int:
    """Send each peer that shares the item (or `only` that one) the records of
    this node's chain it has not been sent yet. Takes the channel's lock
    before the link's."""
    sent = 0
    node = this_node().node_id
    for link in links(item_id):
        if only is not None and link.peer_id != only.pk:
            continue
        peer = federation.lock_peer(link.peer)
        if not peer.active:
            continue
        link = type(link).objects.select_for_update().get(pk=link.pk)
        rows = CustodyRecordRow.objects.filter(
            item_id=item_id, node=node, seq__gte=link.records_sent
        ).order_by("seq")
        records = [row.to_json() for row in rows]
        for start in range(0, len(records), MAX_RECORDS):
            batch = records[start : start + MAX_RECORDS]
            federation.enqueue(peer, CUSTODY_KIND, CustodyBody(item_id=str(item_id), records=batch))
            sent += len(batch)
        if records:
            link.records_sent += len(records)
            link.save(update_fields=["records_sent"])
    return sent


@receiver(post_save, sender=CustodyRecordRow)
def record_written(sender: Any, instance: CustodyRecordRow, created: bool, **_: Any) -> None:
    """A record this node wrote (viewed, downloaded, exported, purged...) goes
    to the peers sharing the item once its transaction commits: the writer
    holds the item's lock, and the channel's lock comes first."""
    if created and instance.node == this_node().node_id:
        item_id = instance.item_id
        if links(item_id):
            transaction.on_commit(lambda: _sync_later(item_id))


def _sync_later(item_id: Any) -> None:
    try:
        with transaction.atomic():
            sync_custody(item_id)
    except Exception:
        # The clock sends what is left (tick): nothing is lost.
        log.exception("custody of %s not sent now; the clock tries again", item_id)


def behind() -> set[Any]:
    """Items shared with a peer that has not been sent all of this node's records."""
    node = this_node().node_id
    found: set[Any] = set()
    for model in (Transfer, IncomingTransfer):
        own = (
            CustodyRecordRow.objects.filter(item_id=OuterRef("item_id"), node=node)
            .values("item_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        rows = model.objects.filter(status=TransferStatus.DONE).annotate(own=Subquery(own))
        found |= set(rows.filter(own__gt=F("records_sent")).values_list("item_id", flat=True))
    return found
