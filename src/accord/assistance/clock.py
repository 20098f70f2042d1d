"""What time alone changes on requests: preservation holds lapse when their
time is up, and deadline reminders go out at 50 %, 80 % and 100 %."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accord.assistance.machine import (
    TRANSITIONS,
)
from accord.assistance.models import (
    AssistanceRequest,
    State,
)
from accord.assistance.services import apply_step
from accord.core.audit import Actor


@dataclass
class TickResult:
    lapsed: int = 0
    reminders: int = 0


def tick(now: datetime | None = None) -> TickResult:
    """What time alone changes: preservation holds lapse when their time is up,
    and deadline reminders go out at 50 %, 80 % and 100 %."""
    from accord.assistance.reminders import retry_emails, send_reminders

    now = now or timezone.now()
    result = TickResult()
    holding = (State.PRESERVED, State.EXTENDED, State.CONVERTED)
    expired = AssistanceRequest.objects.filter(
        outgoing=False, state__in=holding, hold_expires__lte=now
    )
    for request in expired:
        with transaction.atomic():
            locked = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
            if locked.state not in holding:
                continue
            if locked.hold_expires is None or locked.hold_expires > now:
                continue
            apply_step(Actor.system("clock"), locked, TRANSITIONS["lapse"], {}, "", at=now)
            result.lapsed += 1
    round_started = timezone.now()
    result.reminders = send_reminders(now)
    retry_emails(round_started)
    return result
