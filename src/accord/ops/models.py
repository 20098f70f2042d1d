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
