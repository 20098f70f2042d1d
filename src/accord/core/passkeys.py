"""Passkeys (WebAuthn) as a second factor (issue 14), an alternative to the
authenticator app: django-otp-webauthn's credential, a django-otp device, and
its ceremonies (py_webauthn underneath), with this node as the relying party.

A ceremony has two halves: the options the browser needs (`*_options`, whose
challenge waits in the session) and the browser's answer (`add`, `verify`),
checked against that challenge once and only once. Every enrolment, removal,
verification and failure is audited, as the authenticator's are; the browser's
own failures (cancelled, no authenticator) reach the server as `error` and are
audited too."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.http.request import split_domain_port
from django.utils.translation import gettext as _
from django_otp_webauthn.exceptions import OTPWebAuthnApiError
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.utils import rewrite_exceptions
from webauthn.helpers.exceptions import WebAuthnException

from accord.core import audit, twofactor
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.signals import client_ip
from accord.core.twofactor import new_recovery_codes, required, session_verified

# What a forged, replayed or garbled answer raises (before any of it is kept).
_REFUSED = (OTPWebAuthnApiError, WebAuthnException, IntegrityError, ValueError, KeyError, TypeError)
REGISTER_STATE = "accord_passkey_register"
SIGN_IN_STATE = "accord_passkey_sign_in"
NAME_LENGTH = 64
# What the page's script reports when a ceremony fails on the browser's side
# (DOMException names; "options": the node gave none), kept in the audit as is;
# anything else is recorded as "browser".
BROWSER_ERRORS = frozenset(
    {
        "NotAllowedError",
        "InvalidStateError",
        "SecurityError",
        "AbortError",
        "NotSupportedError",
        "options",
    }
)


def relying_party_id(request: HttpRequest) -> str:
    """ACCORD_WEBAUTHN_RP_ID, else the host name of the first of
    ACCORD_WEBAUTHN_ORIGINS, else the host name this page was asked for (one
    of ACCORD_ALLOWED_HOSTS: Django refuses any other)."""
    if settings.WEBAUTHN_RP_ID:
        return str(settings.WEBAUTHN_RP_ID)
    origins = settings.WEBAUTHN_ORIGINS
    host = origins[0].split("://", 1)[-1] if origins else request.get_host()
    return split_domain_port(host)[0]


def allowed_origins(request: HttpRequest) -> list[str]:
    """ACCORD_WEBAUTHN_ORIGINS, else the origin this page was served from."""
    return list(settings.WEBAUTHN_ORIGINS) or [f"{request.scheme}://{request.get_host()}"]


class Helper(WebAuthnHelper):
    """The library's ceremonies with this node's relying party (settings
    OTP_WEBAUTHN_HELPER_CLASS)."""

    def get_relying_party_domain(self) -> str:
        return relying_party_id(self.request)

    def get_relying_party_name(self) -> str:
        return f"Accord {this_node().node_id}"

    def get_allowed_origins(self) -> list[str]:
        return allowed_origins(self.request)


def passkeys_of(user: User) -> list[WebAuthnCredential]:
    return list(WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("pk"))


def may_add(user: User) -> str | None:
    """Why this session may not add a passkey, or None. A user who already has
    a second factor adds another only from a session that verified one, so a
    stolen password cannot add the thief's passkey."""
    if twofactor.enrolled(user) and not session_verified(user):
        return _("Verify your second factor first; then you can add a passkey.")
    return None


def registration_options(request: HttpRequest, user: User) -> dict[str, Any]:
    """The options for navigator.credentials.create(); the challenge waits in
    the session for `add`."""
    refusal = may_add(user)
    if refusal is not None:
        raise ValidationError(refusal)
    options, state = Helper(request).register_begin(user=user)
    request.session[REGISTER_STATE] = state
    return options


def add(
    request: HttpRequest, user: User, credential: str, name: str, *, error: str = ""
) -> tuple[WebAuthnCredential, list[str]]:
    """Keep the passkey the browser made for `registration_options`' challenge.
    The first second factor of an account comes with recovery codes (returned,
    to show once), as the authenticator's does."""
    ip = client_ip(request)
    state = request.session.pop(REGISTER_STATE, None)
    request.session.save()  # a challenge is used once, whatever happens next
    refusal = may_add(user)
    if refusal is not None:
        _failed(user, "passkey enrolment", "not verified", ip, refusal)
    if error or state is None:
        _failed(user, "passkey enrolment", _reason(error, state), ip)
    first = not twofactor.enrolled(user)
    helper = Helper(request)
    try:
        with transaction.atomic(), rewrite_exceptions():
            device = helper.register_complete(user=user, state=state, data=_parsed(credential))
            device.name = name.strip()[:NAME_LENGTH] or _("Passkey")
            device.save(update_fields=["name"])
            codes = new_recovery_codes(user) if first else []
            audit.record(
                Actor.of(user),
                AuditAction.TWOFACTOR_ENROL,
                user,
                data={"username": user.username, "second_factor": "passkey", "name": device.name},
                ip=ip,
            )
    except _REFUSED as exc:
        _failed(user, "passkey enrolment", _code(exc), ip)
    return device, codes


def sign_in_options(request: HttpRequest, user: User) -> dict[str, Any]:
    """The options for navigator.credentials.get(): this user's passkeys only."""
    if not passkeys_of(user):
        raise ValidationError(_("You have no passkey."))
    options, state = Helper(request).authenticate_begin(user=user, require_user_verification=False)
    request.session[SIGN_IN_STATE] = state
    return options


def verify(request: HttpRequest, user: User, credential: str, *, error: str = "") -> Any:
    """The passkey that signed `sign_in_options`' challenge, for this user."""
    ip = client_ip(request)
    state = request.session.pop(SIGN_IN_STATE, None)
    request.session.save()
    if error or state is None:
        _failed(user, "sign-in", _reason(error, state), ip)
    try:
        with transaction.atomic(), rewrite_exceptions():
            device = Helper(request).authenticate_complete(
                user=user, state=state, data=_parsed(credential)
            )
            _usable(device)
            audit.record(
                Actor.of(user),
                AuditAction.TWOFACTOR_VERIFIED,
                user,
                data={"second_factor": "passkey", "name": device.name},
                ip=ip,
            )
    except _REFUSED as exc:
        _failed(user, "sign-in", _code(exc), ip)
    return device


def _usable(device: WebAuthnCredential) -> None:
    """The library's rule for a credential that may sign in (its view's
    check_device_usable): confirmed, and its user active."""
    if not device.confirmed or not device.user.is_active:
        raise ValueError("passkey disabled")


def remove(user: User, passkey_id: int, *, ip: str = "") -> WebAuthnCredential:
    """Remove one of the user's passkeys. The last second factor of a role that
    requires one stays: the refusal is audited. When no second factor is left,
    the recovery codes go too (nothing is left for them to stand in for)."""
    with transaction.atomic():
        # Locked, so two removals that race cannot both see another factor left.
        mine = list(WebAuthnCredential.objects.select_for_update().filter(user=user))
        device = next((d for d in mine if d.pk == passkey_id and d.confirmed), None)
        if device is None:
            raise ValidationError(_("No such passkey."))
        others = [d for d in mine if d.confirmed and d.pk != device.pk]
        if required(user) and not others and not twofactor.has_authenticator(user):
            entry = audit.make_entry(
                Actor.of(user),
                AuditAction.TWOFACTOR_REMOVE_REFUSED,
                target_type="core.user",
                target_id=str(user.pk),
                data={"username": user.username, "name": device.name},
                ip=ip,
            )
            message = _(
                "This passkey is your last second factor, and your role requires one. "
                "Add another passkey or set up an authenticator app first, then remove it."
            )
        else:
            device.delete()
            if not twofactor.enrolled(user):
                twofactor.StaticDevice.objects.filter(user=user).delete()
            audit.record(
                Actor.of(user),
                AuditAction.TWOFACTOR_REMOVE,
                user,
                data={"username": user.username, "second_factor": "passkey", "name": device.name},
                ip=ip,
            )
            return device
    audit.refuse(entry, ValidationError(message))


def _parsed(credential: str) -> dict[str, Any]:
    data = json.loads(credential)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _reason(error: str, state: object) -> str:
    if error:
        return error if error in BROWSER_ERRORS else "browser"
    return "no challenge" if state is None else "unknown"


def _code(exc: Exception) -> str:
    return getattr(exc, "code", "") or "invalid_credential"


def _failed(user: User, step: str, reason: str, ip: str, message: str = "") -> NoReturn:
    entry = audit.make_entry(
        Actor.of(user),
        AuditAction.TWOFACTOR_FAILED,
        target_type="core.user",
        target_id=str(user.pk),
        data={
            "username": user.username,
            "step": step,
            "second_factor": "passkey",
            "reason": reason[:100],
        },
        ip=ip,
    )
    audit.refuse(entry, ValidationError(message or _("The passkey was not accepted. Try again.")))
