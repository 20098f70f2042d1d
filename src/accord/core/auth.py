"""Sign-in throttling (issue 14, finding 1), by django-axes keyed on the pair
(user name, address): repeated failures slow down the guesses of that one
address at that one name for a cool-off, and nobody else's, so a stranger
cannot lock an officer out by guessing from elsewhere. The web sign-in and
TAXII Basic sign-ins share the mechanism; TAXII account names are kept apart
from user names by a prefix.

A burst (the limit reached) is audited once, and the account's user and the
node administrators see it on their dashboard for a week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import forms
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent, User
from accord.core.roles import Permission

TAXII_PREFIX = "taxii:"
NOTICE_DAYS = 7
NOTICE_LIMIT = 20


def throttled(request: HttpRequest, username: str) -> bool:
    """Whether this address has used up its failures at this name for now."""
    return not AxesProxyHandler.is_allowed(request, {"username": username[:200]})


def record_failure(request: HttpRequest, username: str) -> None:
    """Count a failed sign-in that did not go through Django's `authenticate`
    (TAXII Basic); the web sign-in is counted by axes' own signal receiver."""
    AxesProxyHandler.user_login_failed(
        sender=__name__, credentials={"username": username[:200]}, request=request
    )


def throttled_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the page or API answer as it was (it says why),
    as 429 Too Many Requests."""
    response = original_response or HttpResponse(str(_("Too many failed sign-ins.")))
    response.status_code = 429
    response["Retry-After"] = str(settings.LOGIN_LOCK_MINUTES * 60)
    return response


@receiver(user_locked_out)
def audit_burst(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    # Axes signals again on every refusal during the cool-off; only the
    # failure that reached the limit has a count, and that one is the burst.
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None or not username:
        return
    taxii = username.startswith(TAXII_PREFIX)
    audit.record(
        Actor(label="anonymous"),
        AuditAction.SIGNIN_THROTTLED,
        target_type="intel.account" if taxii else "core.user",
        target_id=username.removeprefix(TAXII_PREFIX)[:150],
        ip=ip_address or "",
        data={"failures": failures, "minutes": settings.LOGIN_LOCK_MINUTES},
    )


@dataclass(frozen=True)
class Burst:
    at: datetime
    target_type: str
    name: str
    ip: str
    failures: int


def recent_bursts(user: User) -> list[Burst]:
    """The bursts of failed sign-ins this user should hear of: at their own
    account, and for node administrators at every account and TAXII account."""
    events = AuditEvent.objects.filter(
        action=AuditAction.SIGNIN_THROTTLED, at__gte=timezone.now() - timedelta(days=NOTICE_DAYS)
    )
    if not user.has_permission(Permission.MANAGE_USERS):
        events = events.filter(target_type="core.user", target_id=user.username)
    return [
        Burst(e.at, e.target_type, e.target_id, e.ip, int(e.data.get("failures", 0)))
        for e in events.order_by("-seq")[:NOTICE_LIMIT]
    ]


class SignInForm(forms.AuthenticationForm):
    error_messages = {
        **forms.AuthenticationForm.error_messages,
        "throttled": _(
            "Too many failed sign-ins for this account from your address. "
            "Try again in %(minutes)s minutes."
        ),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username and self.request is not None and throttled(self.request, username):
            try:
                super().clean()  # axes refuses it; Django audits the attempt
            except ValidationError:
                pass
            raise ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": settings.LOGIN_LOCK_MINUTES},
            )
        return super().clean()
