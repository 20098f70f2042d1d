"""Failures of requests that proved no identity, counted instead of kept.

A junk envelope, an unknown TAXII token or a sign-in under a name no account
has costs the sender nothing; were each a row and an audit event, anyone could
grow the database and the audit log without bound (issue 14, finding 2). So
each is counted in a FailureTally row per channel, reason, address and window;
the table holds at most ANONYMOUS_MAX_ROWS rows (once full, new addresses share
one row, "*"), rows go after ANONYMOUS_RETENTION_DAYS, and the audit log gets
one summary per window (`summarise`, run by the clock). An address past
ANONYMOUS_LIMIT failures in the current window is told to wait (`over_limit`):
the endpoints answer it 429 without the costly checks, while a request that
proves who it is (a verified signature) is never held back by it."""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import FailureTally

OVERFLOW = "*"
TOP_ADDRESSES = 10


class Channel(models.TextChoices):
    INBOX = "inbox", "federation inbox"
    RECOVERY = "recovery", "federation recovery"
    CHECKPOINTS = "checkpoints", "federation checkpoints"
    TAXII = "taxii", "TAXII"
    SIGNIN = "signin", "sign-in"
    METRICS = "metrics", "metrics endpoint"


def bucket_address(ip: str) -> str:
    """The address failures are counted under: an IPv6 client holds a whole /64,
    so it is counted as one."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64] or "?"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def window_of(moment: datetime) -> datetime:
    seconds = settings.ANONYMOUS_WINDOW_SECONDS
    epoch = int(moment.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, UTC)


def count(
    channel: Channel, reason: str, ip: str, *, detail: str = "", verified_as: str = ""
) -> None:
    """Count one failure in its bucket, in its own transaction (the caller's
    may be rolling back: the count must stay)."""
    now = timezone.now()
    key = {
        "channel": str(channel),
        "reason": reason[:64],
        "address": bucket_address(ip),
        "verified_as": verified_as[:100],
        "window_start": window_of(now),
    }
    changes = {"last_at": now, "last_detail": detail[:200]}
    with transaction.atomic():
        if _bump(key, changes):
            return
        if FailureTally.objects.count() >= settings.ANONYMOUS_MAX_ROWS:
            key["address"] = OVERFLOW
            if _bump(key, changes):
                return
        try:
            with transaction.atomic():
                FailureTally.objects.create(**key, **changes, count=1)
        except IntegrityError:  # another process made the bucket meanwhile
            _bump(key, changes)


def _bump(key: dict, changes: dict) -> bool:
    return FailureTally.objects.filter(**key).update(count=F("count") + 1, **changes) == 1


def failures_from(channel: Channel, ip: str) -> int:
    """Failures without a verified identity from this address, this window."""
    total = FailureTally.objects.filter(
        channel=str(channel),
        address=bucket_address(ip),
        verified_as="",
        window_start=window_of(timezone.now()),
    ).aggregate(total=Sum("count"))["total"]
    return int(total or 0)


def over_limit(channel: Channel, ip: str) -> bool:
    return bucket_address(ip) != OVERFLOW and failures_from(channel, ip) >= settings.ANONYMOUS_LIMIT


def retry_after_seconds() -> int:
    """Until the current window ends, when an address's count starts afresh."""
    now = timezone.now()
    end = window_of(now) + timedelta(seconds=settings.ANONYMOUS_WINDOW_SECONDS)
    return max(1, int((end - now).total_seconds()) + 1)


def summarise() -> int:
    """One audit event per window that has ended: the totals per channel and
    reason, how many addresses, and the busiest ones. Returns how many windows."""
    current = window_of(timezone.now())
    windows = (
        FailureTally.objects.filter(summarised=False, window_start__lt=current)
        .values_list("window_start", flat=True)
        .distinct()
        .order_by("window_start")
    )
    done = 0
    for window in list(windows):
        with transaction.atomic():
            rows = list(
                FailureTally.objects.select_for_update().filter(
                    window_start=window, summarised=False
                )
            )
            if not rows:
                continue
            audit.record(
                Actor.system("clock"),
                AuditAction.ANONYMOUS_FAILURES,
                target_type="core.failuretally",
                target_id=window.isoformat(),
                data=_summary(window, rows),
            )
            FailureTally.objects.filter(pk__in=[row.pk for row in rows]).update(summarised=True)
        done += 1
    return done


def _summary(window: datetime, rows: list[FailureTally]) -> dict:
    by_reason: Counter[str] = Counter()
    by_address: Counter[str] = Counter()
    for row in rows:
        by_reason[f"{row.channel}:{row.reason}"] += row.count
        by_address[row.address] += row.count
    return {
        "window": window.isoformat(),
        "seconds": settings.ANONYMOUS_WINDOW_SECONDS,
        "total": sum(by_reason.values()),
        "by_reason": dict(sorted(by_reason.items())),
        "addresses": len(by_address),
        "busiest": [[address, n] for address, n in by_address.most_common(TOP_ADDRESSES)],
    }


def prune() -> int:
    """Remove counters past their retention, once summarised."""
    cutoff = timezone.now() - timedelta(days=settings.ANONYMOUS_RETENTION_DAYS)
    removed, _ = FailureTally.objects.filter(window_start__lt=cutoff, summarised=True).delete()
    return removed
