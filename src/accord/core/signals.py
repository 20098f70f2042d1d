"""Logins, logouts and failed logins go into the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accord.core import audit, tally, twofactor
from accord.core.audit import Actor, AuditAction
from accord.core.middleware import ENROLLED_AT_SIGN_IN
from accord.core.models import User


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


@receiver(user_logged_in)
def audit_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    audit.record(Actor.of(user), AuditAction.LOGIN, user, ip=client_ip(request))
    if not twofactor.required(user):
        # Someone who chose to enrol is asked for a code at sign-in too.
        request.session[ENROLLED_AT_SIGN_IN] = twofactor.enrolled(user)


@receiver(user_logged_out)
def audit_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record(Actor.of(user), AuditAction.LOGOUT, user, ip=client_ip(request))


@receiver(user_login_failed)
def audit_login_failed(
    sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; keep only the name.
    attempted = str(credentials.get("username", ""))[:150]
    if not User.objects.filter(username=attempted).exists():
        # A name no account has: counted, not audited, so a stranger's guesses
        # cannot grow the audit log (core.tally).
        tally.count(tally.Channel.SIGNIN, "unknown_account", client_ip(request))
        return
    audit.record(
        Actor(label="anonymous"),
        AuditAction.LOGIN_FAILED,
        target_type="core.user",
        target_id=attempted,
        data={"username": attempted},
        ip=client_ip(request),
    )
