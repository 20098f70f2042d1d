"""What time alone changes on requests: preservation holds lapse when their
time is up, and deadline reminders go out at 50 %, 80 % and 100 %. Each hold,
reminder and e-mail is its own item of work (core.clockwork): one that fails
is audited and tried again next round, and stops nothing else. The clock also
drafts the follow-up of a converted preservation that is still without one
(follow_up.sweep), so that drafting it cannot be lost with a process."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accord.assistance import follow_up
from accord.assistance.machine import (
    TRANSITIONS,
)
from accord.assistance.models import (
    FINAL_STATES,
    AssistanceRequest,
    State,
)
from accord.assistance.services import apply_step, lock_for_step
from accord.core.audit import Actor
from accord.core.clockwork import Round

HOLDING = (State.PRESERVED, State.EXTENDED, State.CONVERTED)


@dataclass
class TickResult:
    lapsed: int = 0
    reminders: int = 0
    emails: int = 0
    follow_ups: int = 0
    failed: int = 0  # items that failed this round; each is tried again next round


def tick(now: datetime | None = None) -> TickResult:
    """What time alone changes: preservation holds lapse when their time is up,
    follow-ups missing after a conversion are drafted, and deadline reminders
    go out at 50 %, 80 % and 100 %."""
    from accord.assistance.reminders import retry_emails, send_reminders

    now = now or timezone.now()
    work = Round()
    result = TickResult()
    for hold in due_holds(now):
        job = functools.partial(_lapse, hold, now)
        result.lapsed += bool(work.run(f"lapse:{hold.pk}", "lapse", hold, hold.reference, job))
    result.follow_ups = follow_up.sweep(work)
    round_started = timezone.now()
    result.reminders = send_reminders(now, work)
    result.emails = retry_emails(round_started, work)
    work.settle()
    result.failed = work.failures
    return result


def undecided_full_requests(preservation: AssistanceRequest | OuterRef) -> QuerySet:
    """The full requests that follow a preservation and are not decided yet."""
    return AssistanceRequest.objects.filter(follows=preservation, decided_at=None).exclude(
        state__in=FINAL_STATES
    )


def due_holds(now: datetime) -> QuerySet:
    """The holds this node keeps whose time is up. A converted hold lasts while
    the full request that follows it is decided (Budapest Art. 29(7)); once it
    is, its expiry applies again."""
    expired = AssistanceRequest.objects.filter(
        outgoing=False, state__in=HOLDING, hold_expires__lte=now
    )
    waiting = Q(state=State.CONVERTED) & Exists(undecided_full_requests(OuterRef("pk")))
    return expired.exclude(waiting).order_by("hold_expires")


def _lapse(hold: AssistanceRequest, now: datetime) -> bool:
    locked = lock_for_step(hold, TRANSITIONS["lapse"])  # the channel first, then the hold
    if not due_holds(now).filter(pk=locked.pk).exists():
        return False  # moved on since the round began
    apply_step(Actor.system("clock"), locked, TRANSITIONS["lapse"], {}, "", at=now)
    return True
