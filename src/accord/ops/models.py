from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from accord.core.audit import VerifyResult


class AuditVerification(models.Model):
    """The latest walk of the audit chain (`accord audit verify`, the Audit log
    page), one row. A walk that found the chain intact is not written to the
    chain it checked (core.services.verify_audit), so its time is kept here:
    the metrics say when the log was last proven untouched."""

    at = models.DateTimeField()
    ok = models.BooleanField()
    events = models.BigIntegerField()

    def __str__(self) -> str:
        return f"audit verified at {self.at}: {'ok' if self.ok else 'broken'}"


def remember_verification(sender: Any, result: VerifyResult, **kwargs: Any) -> None:
    AuditVerification.objects.update_or_create(
        pk=1, defaults={"at": timezone.now(), "ok": result.ok, "events": result.count}
    )


class ReceiptTally(models.Model):
    """The receipts of one peer's channel counted so far, for the metrics.
    Delivery goes in seq order, so every message up to `through_seq` is
    settled for good: each scrape reads only the messages settled since the
    last one (accord.ops.receipts), never the whole outbox again."""

    peer = models.OneToOneField("federation.Peer", on_delete=models.CASCADE, related_name="+")
    through_seq = models.BigIntegerField(default=0)
    applied = models.BigIntegerField(default=0)
    refused = models.BigIntegerField(default=0)
    # Cumulative counts, one per bound of accord.ops.receipts.LATENCY_BUCKETS.
    latency_buckets = models.JSONField(default=list)
    latency_seconds = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"receipts of {self.peer_id} through #{self.through_seq}"
