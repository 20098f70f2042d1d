"""The receipts a peer returned, counted incrementally for the metrics.

Counting them afresh at every scrape reads the whole outbox (a second per
200,000 messages on PostgreSQL under load). Instead a ReceiptTally per peer
remembers the seq up to which the channel is settled; delivery goes in seq
order and a receipted message never changes again, so the next scrape adds
only what was settled since, from the (peer, seq) index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, Sum

from accord.federation.models import MessageStatus, OutboxMessage
from accord.ops.models import ReceiptTally

# Receipt latency buckets, in seconds: from a quiet loopback channel (well under
# a second) to a peer that was down for a day.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)
# The widest range of seqs one scrape adds, so the first scrape of a long
# history stays short; the counters catch up over the next scrapes.
SCAN_LIMIT = 100_000


@dataclass(frozen=True)
class Pending:
    count: int
    first_seq: int | None


def settled(peer_pk: int, pending: Pending) -> ReceiptTally:
    """The peer's tally, brought up to the first message still waiting: one
    aggregate over the next range of the peer's seqs."""
    _ensure(peer_pk)
    with transaction.atomic():
        tally = ReceiptTally.objects.select_for_update().get(peer_id=peer_pk)
        rows = OutboxMessage.objects.filter(
            peer_id=peer_pk,
            seq__gt=tally.through_seq,
            seq__lte=tally.through_seq + SCAN_LIMIT,
            delivered_at__isnull=False,
        ).exclude(status=MessageStatus.PENDING)
        if pending.first_seq is not None:
            rows = rows.filter(seq__lt=pending.first_seq)
        found = rows.alias(latency=LATENCY).aggregate(**SUMS)
        if not found["through"]:
            return tally
        buckets = tally.latency_buckets or [0] * len(LATENCY_BUCKETS)
        tally.latency_buckets = [old + found[f"le{i}"] for i, old in enumerate(buckets)]
        tally.applied += found["applied"]
        tally.refused += found["refused"]
        tally.latency_seconds += found["seconds"].total_seconds() if found["seconds"] else 0.0
        tally.through_seq = found["through"]
        tally.save()
    return tally


LATENCY = ExpressionWrapper(F("delivered_at") - F("created_at"), output_field=DurationField())
SUMS = {
    "through": Max("seq"),
    "applied": Count("pk", filter=Q(status=MessageStatus.APPLIED)),
    "refused": Count("pk", filter=Q(status=MessageStatus.REFUSED)),
    "seconds": Sum(LATENCY),
    **{
        f"le{i}": Count("pk", filter=Q(latency__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(LATENCY_BUCKETS)
    },
}


def _ensure(peer_pk: int) -> None:
    if ReceiptTally.objects.filter(peer_id=peer_pk).exists():
        return
    try:
        with transaction.atomic():
            ReceiptTally.objects.create(peer_id=peer_pk)
    except IntegrityError:  # another scrape made it meanwhile
        pass
