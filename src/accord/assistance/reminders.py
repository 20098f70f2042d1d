"""Deadline reminders at 50 %, 80 % and 100 % of every deadline (DOMAIN.md),
to the officers who answer for it on this node: in the app, and by e-mail when
an SMTP server is configured."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accord.assistance.deadlines import THRESHOLDS, Deadline, deadlines_of
from accord.assistance.models import FINAL_STATES, AssistanceRequest, Reminder
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.clockwork import Round
from accord.core.models import User
from accord.core.roles import Role


def responsible(request: AssistanceRequest) -> list[User]:
    """The central authority and the request's team on this node."""
    people = {u.pk: u for u in User.objects.filter(is_active=True, role=Role.CENTRAL_AUTHORITY)}
    people.update({u.pk: u for u in request.team.filter(is_active=True)})
    return list(people.values())


def due_thresholds(deadline: Deadline, now: datetime) -> list[int]:
    if deadline.met_at is not None:
        return []
    used = deadline.fraction_used(now) * 100
    return [t for t in THRESHOLDS if used >= t]


# A reminder whose e-mail failed (the mail server down) is tried again by
# each round of the clock for this long, unless its user has read it in the app.
EMAIL_RETRY = timedelta(days=1)


def retry_emails(made_before: datetime, work: Round) -> int:
    """E-mail again the recent reminders made before `made_before` (real time:
    not those of this round, whose e-mails are on their way) whose e-mail
    failed, each on its own; returns how many went out this time."""
    if not settings.EMAIL_REMINDERS:
        return 0
    # created_at is the real time a reminder was made, whatever time the
    # clock runs as (accord requests tick --at).
    since = timezone.now() - EMAIL_RETRY
    pending = Reminder.objects.filter(
        emailed=False, read_at=None, created_at__gte=since, created_at__lt=made_before
    )
    pending = pending.exclude(user__email="").order_by("created_at", "pk")
    return sum(bool(_email(work, r)) for r in pending.select_related("user", "request")[:200])


def send_reminders(now: datetime, work: Round) -> int:
    """Every reminder due, each (request, deadline, threshold) on its own."""
    sent = 0
    # Submitted requests, and drafts whose emergency awaits its written confirmation.
    open_requests = AssistanceRequest.objects.exclude(state__in=FINAL_STATES).filter(
        Q(submitted_at__isnull=False) | Q(confirmation_due__isnull=False)
    )
    for request in open_requests.iterator():
        due = work.run(
            f"remind:{request.pk}",
            "reminder",
            request,
            request.reference,
            functools.partial(_due, request, now),
        )
        for deadline, threshold in due or []:
            made = work.run(
                f"remind:{request.pk}:{deadline.key}:{threshold}",
                "reminder",
                request,
                request.reference,
                functools.partial(_remind, request, deadline, threshold, work),
            )
            sent += made or 0
    return sent


def _due(request: AssistanceRequest, now: datetime) -> list[tuple[Deadline, int]]:
    """The thresholds passed of the deadlines this node's side answers for."""
    side = "requesting" if request.outgoing else "requested"
    return [
        (deadline, threshold)
        for deadline in deadlines_of(request)
        if deadline.owner == side
        for threshold in due_thresholds(deadline, now)
    ]


def _remind(request: AssistanceRequest, deadline: Deadline, threshold: int, work: Round) -> int:
    """Runs in its own transaction (Round.run); the e-mails leave after it commits."""
    created = []
    for user in responsible(request):
        reminder, new = Reminder.objects.get_or_create(
            request=request,
            user=user,
            deadline=deadline.key,
            threshold=threshold,
            due_at=deadline.due_at,
        )
        if new:
            created.append(reminder)
    if created:
        audit.record(
            Actor.system("clock"),
            AuditAction.REMINDER_SEND,
            request,
            data={
                "reference": request.reference,
                "deadline": deadline.key,
                "threshold": threshold,
                "users": [r.user.username for r in created],
            },
        )
    if settings.EMAIL_REMINDERS:
        for reminder in created:
            transaction.on_commit(functools.partial(_email, work, reminder))
    return len(created)


def mark_read(user: User, request: AssistanceRequest) -> int:
    """Opening a request is reading its reminders."""
    return Reminder.objects.filter(user=user, request=request, read_at=None).update(
        read_at=timezone.now()
    )


def text_of(reminder: Reminder) -> str:
    with translation.override(reminder.user.language or "en"):
        if reminder.threshold >= 100:
            return _("%(ref)s: the deadline “%(what)s” has passed (%(due)s UTC).") % _fields(
                reminder
            )
        return _("%(ref)s: %(pct)s%% of the time to “%(what)s” is used; due %(due)s UTC.") % (
            _fields(reminder)
        )


def _fields(reminder: Reminder) -> dict[str, str]:
    labels = {d.key: str(d.label) for d in deadlines_of(reminder.request)}
    return {
        "ref": reminder.request.reference,
        "what": labels.get(reminder.deadline, reminder.deadline),
        "due": reminder.due_at.strftime("%Y-%m-%d %H:%M"),
        "pct": str(reminder.threshold),
    }


def _email(work: Round, reminder: Reminder) -> bool | None:
    request = reminder.request
    return work.run(
        f"email:{reminder.pk}",
        "email",
        request,
        request.reference,
        functools.partial(email, reminder),
    )


def email(reminder: Reminder) -> bool:
    """One e-mail per reminder; True if it went out, False if the officer has
    no address. A mail failure raises: the clock records it (never lost
    silently), the reminder stays in the app either way, and the next round
    tries the e-mail again (retry_emails)."""
    if not reminder.user.email:
        return False
    text = text_of(reminder)
    send_mail(f"[Accord] {text[:120]}", text, None, [reminder.user.email])
    Reminder.objects.filter(pk=reminder.pk).update(emailed=True)
    return True
