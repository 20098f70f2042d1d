"""Logins, logouts and failed logins go into the audit log."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accord.core import audit, tally, twofactor
from accord.core.audit import Actor, AuditAction
from accord.core.middleware import ENROLLED_AT_SIGN_IN
from accord.core.models import User


def client_ip(request: HttpRequest | None) -> str:
    """The client's address: REMOTE_ADDR, unless that is one of the trusted
    proxies (settings.TRUSTED_PROXIES): then the nearest X-Forwarded-For hop
    that is not a trusted proxy. Hops further out were written by whoever
    sent the request and are not believed; a hop that is not an address
    leaves the proxy's own address."""
    if request is None:
        return ""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if not _trusted_proxy(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _is_address(hop):
            return remote
        if not _trusted_proxy(hop):
            return hop
    return remote


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _trusted_proxy(text: str) -> bool:
    if not settings.TRUSTED_PROXIES or not _is_address(text):
        return False
    address = ipaddress.ip_address(text)
    return any(address in network for network in settings.TRUSTED_PROXIES)


@receiver(user_logged_in)
def audit_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """A sign-in that still needs a code is audited as a password accepted, and
    as logged in only once the code is (web/twofactor.py, `signed_in_fully`)."""
    required = twofactor.required(user)
    if not required:
        # Someone who chose to enrol is asked for a code at sign-in too.
        request.session[ENROLLED_AT_SIGN_IN] = twofactor.enrolled(user)
    code_needed = required or twofactor.enrolled(user)
    action = AuditAction.PASSWORD_ACCEPTED if code_needed else AuditAction.LOGIN
    audit.record(Actor.of(user), action, user, ip=client_ip(request))


def signed_in_fully(request: HttpRequest, user: User, second_factor: str) -> None:
    """The code step of a sign-in passed: now the user is logged in."""
    data = {"second_factor": second_factor}
    audit.record(Actor.of(user), AuditAction.LOGIN, user, data=data, ip=client_ip(request))


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
