"""How long an item is kept, and the clock's purge when that time is up.

An item's retention end is the earliest of:

* the day its proceedings closed plus ACCORD_EVIDENCE_RETENTION_DAYS: the
  closing of its case (an item on a request: of the case the request is filed
  under; a request filed under no case: the day the request ended — closed,
  refused, withdrawn…). A case's closing day is read from the audit log (its
  last status change, to closed); a case reopened has no end again;
* the day the provider required deletion (conditions.deletion_required): at
  once.

Until one of them is known the item has no end and is kept. The clock
(`sweep`) purges each item whose end has come through services.purge_item:
bytes and key gone, the item, its custody and a signed 'purged' record kept,
audited. `purged_confirmation` is what to tell the other node."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core.audit import Actor, AuditAction
from accord.core.clockwork import Round
from accord.evidence import conditions
from accord.evidence.models import CustodyRecordRow, EvidenceItem

CLOSURE = "closure"
DELETION = "deletion"


@dataclass(frozen=True)
class RetentionEnd:
    """`on`: the day the item is due for purge (None: not known yet);
    `why`: CLOSURE or DELETION; `closed_on`: the day its proceedings closed."""

    on: date | None
    why: str = ""
    closed_on: date | None = None

    def due(self, today: date) -> bool:
        return self.on is not None and self.on <= today

    def describe(self) -> str:
        if self.on is None:
            return _("Kept until its case (or request) is closed, then for %(n)s days.") % {
                "n": days()
            }
        if self.why == DELETION:
            return _("The provider required deletion on %(d)s: purged at once.") % {
                "d": self.on.isoformat()
            }
        return _("Closed on %(c)s; kept %(n)s days, until %(d)s.") % {
            "c": self.closed_on.isoformat() if self.closed_on else "?",
            "n": days(),
            "d": self.on.isoformat(),
        }


def days() -> int:
    return int(settings.EVIDENCE_RETENTION_DAYS)


def case_closed_on(case: Any) -> date | None:
    """The day a closed case was closed, from its last status change."""
    from accord.cases.models import CaseStatus
    from accord.core.models import AuditEvent

    if case.status != CaseStatus.CLOSED:
        return None
    last = (
        AuditEvent.objects.filter(
            action=str(AuditAction.CASE_STATUS),
            target_type=case._meta.label_lower,
            target_id=str(case.pk),
        )
        .order_by("-seq")
        .first()
    )
    if last is None or last.data.get("to") != CaseStatus.CLOSED:
        return None  # closed without a recorded change: not known, so kept
    return timezone.localdate(last.at)


def closed_on(item: EvidenceItem) -> date | None:
    """The day the item's proceedings closed, if they have."""
    if item.case is not None:
        return case_closed_on(item.case)
    request = item.request
    if request is None:
        return None
    if request.case is not None:
        return case_closed_on(request.case)
    if request.is_final and request.ended_at is not None:
        return timezone.localdate(request.ended_at)
    return None


def end_of(item: EvidenceItem) -> RetentionEnd:
    closed = closed_on(item)
    ends = []
    if closed is not None:
        ends.append(RetentionEnd(closed + timedelta(days=days()), CLOSURE, closed))
    if item.request_id:
        deletion = conditions.deletion_required(item)
        if deletion is not None:
            ends.append(RetentionEnd(deletion, DELETION, closed))
    if not ends:
        return RetentionEnd(None)
    return min(ends, key=lambda end: (end.on or date.max, end.why != DELETION))


def candidates(today: date) -> QuerySet[EvidenceItem]:
    """Items that may be due: their case closed or their request ended with
    no end computed yet, an end computed earlier that has come (`end_of`
    decides again: a case may have been reopened), or a request the provider
    restricted (a deletion request ends retention at once)."""
    from accord.assistance.models import FINAL_STATES
    from accord.cases.models import CaseStatus

    closed = CaseStatus.CLOSED
    ended = (
        Q(case__status=closed)
        | Q(request__case__status=closed)
        | Q(request__case__isnull=True, request__state__in=list(FINAL_STATES))
    )
    maybe = (
        (ended & Q(retention_until__isnull=True))
        | Q(retention_until__lte=today)
        | (Q(request__isnull=False) & ~Q(request__restrictions=[]))
    )
    rows = EvidenceItem.objects.filter(purged_at__isnull=True).filter(maybe)
    return rows.select_related("case", "request", "request__case").order_by("created_at")


def sweep(now: datetime | None = None, work: Round | None = None) -> int:
    """Purge every item whose retention has ended; each on its own (a failure
    is audited and tried again next round). Returns how many were purged."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    own_round = work is None
    work = work or Round()
    purged = 0
    for item in list(candidates(today)):
        end = end_of(item)
        if item.retention_until != end.on:
            EvidenceItem.objects.filter(pk=item.pk).update(retention_until=end.on)
        if not end.due(today):
            continue
        job = functools.partial(_purge, item, today)
        purged += bool(
            work.run(f"evidence-purge:{item.pk}", "evidence_purge", item, item.sha256[:16], job)
        )
    if own_round:
        work.settle()
    return purged


def _purge(item: EvidenceItem, today: date) -> bool:
    from accord.evidence import services

    lock_channel(item)  # the partner's channel before the item, as purge_item takes them
    fresh = EvidenceItem.objects.select_for_update().get(pk=item.pk)
    end = end_of(fresh)
    if fresh.purged or not end.due(today):
        return False  # purged, or reopened, since the round began
    services.purge_item(Actor.system("clock"), fresh, reason_for(end))
    return True


def reason_for(end: RetentionEnd) -> str:
    """The purge's reason, in the node's language: it goes into the signed record."""
    if end.why == DELETION:
        return f"The provider required deletion on {end.on.isoformat() if end.on else '?'}."
    closed = end.closed_on.isoformat() if end.closed_on else "?"
    return f"Retention ended: closed on {closed}, kept {days()} days."


def lock_channel(item: EvidenceItem) -> None:
    from accord.evidence import conditions_wire

    conditions_wire.lock_channel(item)


def confirm_purge(item: EvidenceItem) -> None:
    """Tell the provider its material is purged here (evidence.purged), in the
    purge's transaction. This node's own material is purged silently."""
    from accord.evidence import conditions_wire

    if item.request_id is None or not conditions.from_partner(item):
        return
    body = conditions_wire.PurgedBody(**purged_confirmation(item))
    conditions_wire.send(item, conditions_wire.PURGED_KIND, body)


def purged_confirmation(item: EvidenceItem) -> dict[str, Any]:
    """What to tell the other node once an item is purged (an evidence.purged
    message): the item, its hash, when and why, and this node's signed
    'purged' custody record, which the other side can verify and keep."""
    if not item.purged:
        raise ValueError("the item is not purged")
    from accord.core.identity import this_node

    mine = CustodyRecordRow.objects.filter(item=item, node=this_node().node_id, event="purged")
    record = mine.order_by("-seq").first()
    return {
        "item": str(item.pk),
        "sha256": item.sha256,
        "purged_at": item.purged_at.isoformat() if item.purged_at else "",
        "reason": item.purge_reason,
        "record": record.to_json() if record else None,
    }


__all__ = ["RetentionEnd", "candidates", "end_of", "purged_confirmation", "sweep"]
