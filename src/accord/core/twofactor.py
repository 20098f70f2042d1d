"""The second factor (issue 14): a TOTP authenticator (RFC 6238, django-otp's
TOTP plugin), passkeys (WebAuthn, django-otp-webauthn: accord.core.passkeys)
and single-use recovery codes (django-otp's static plugin).

Node administrators and central-authority officers must verify one before
they can use the node (`roles.SECOND_FACTOR_ROLES`); anyone else may enrol,
and is then asked for a code at every sign-in too. Every enrolment, failed
code, recovery-code use and reset is audited."""

from __future__ import annotations

import binascii
from base64 import b32decode, b32encode
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import quote, urlencode

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.roles import SECOND_FACTOR_ROLES, Role
from accord.core.services import enforce
from accord.core.user_policy import Action

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR = "authenticator"
RECOVERY = "recovery codes"


@dataclass(frozen=True)
class Enrolment:
    """A confirmed authenticator and the recovery codes to show once."""

    device: TOTPDevice
    recovery_codes: list[str]


def required(user: User) -> bool:
    return bool(user.role) and Role(user.role) in SECOND_FACTOR_ROLES


def session_verified(user: User) -> bool:
    """Whether this request's sign-in was verified by a device (django-otp's
    OTPMiddleware installs `is_verified` on the request's user)."""
    check = getattr(user, "is_verified", None)
    return bool(check is not None and check())


def has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def enrolled(user: User) -> bool:
    """Whether the user has a second factor: an authenticator or a passkey."""
    return (
        has_authenticator(user)
        or WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
    )


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def secret_of(device: TOTPDevice) -> str:
    """The key as authenticator apps take it when typed in: base32, no padding."""
    return b32encode(device.bin_key).decode().rstrip("=")


def provisioning_uri(device: TOTPDevice) -> str:
    """The otpauth:// URI an authenticator app scans (Key Uri Format), labelled
    with this node, so an officer of two nodes can tell their codes apart."""
    issuer = f"Accord {this_node().node_id}"
    label = quote(f"{issuer}:{device.user.get_username()}")
    query = urlencode(
        {
            "secret": secret_of(device),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": device.digits,
            "period": device.step,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def pending_authenticator(user: User) -> TOTPDevice:
    """The authenticator being set up: made once, kept unconfirmed until a code
    from it proves the user copied the secret (the page may be reloaded)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def confirm_authenticator(user: User, token: str, *, ip: str = "") -> Enrolment:
    """Confirm the pending authenticator with a code from it: it replaces any
    earlier one, and a fresh set of recovery codes comes with it."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is not None and device.verify_token(token.strip()):
            return _enrol(Actor.of(user), user, device, ip=ip)
    # Outside the transaction: django-otp's count of failures must stick.
    _failed(user, "enrolment", ip)


def enrol_with_secret(  # nosec B107 ("" means draw a fresh secret; not a password)
    actor: Actor, user: User, secret: str = "", *, ip: str = ""
) -> Enrolment:
    """Enrol for someone at the node's shell (`accord createuser --totp`, the demo):
    with the given base32 secret, or a new random one."""
    device = TOTPDevice(user=user, name=AUTHENTICATOR, confirmed=False)
    if secret:
        device.key = _hex_key(secret)
    with transaction.atomic():
        device.save()
        return _enrol(actor, user, device, ip=ip)


def _hex_key(secret: str) -> str:
    text = secret.strip().replace(" ", "").upper()
    try:
        key = b32decode(text + "=" * (-len(text) % 8))
    except binascii.Error:
        raise ValidationError(
            _("The secret must be base32 (letters A-Z and digits 2-7).")
        ) from None
    if not 10 <= len(key) <= 40:
        raise ValidationError(_("The secret must hold 10 to 40 bytes (16 to 64 characters)."))
    return key.hex()


def _enrol(actor: Actor, user: User, device: TOTPDevice, *, ip: str) -> Enrolment:
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save()
    codes = new_recovery_codes(user)
    audit.record(actor, AuditAction.TWOFACTOR_ENROL, user, data={"username": user.username}, ip=ip)
    return Enrolment(device, codes)


def new_recovery_codes(user: User) -> list[str]:
    """A fresh set of recovery codes (the caller audits); the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def regenerate_recovery_codes(user: User, *, ip: str = "") -> list[str]:
    """New codes for an enrolled user; the old ones stop working."""
    with transaction.atomic():
        if not enrolled(user):
            raise ValidationError(_("Set up an authenticator or a passkey first."))
        codes = new_recovery_codes(user)
        audit.record(Actor.of(user), AuditAction.TWOFACTOR_RECOVERY_NEW, user, ip=ip)
    return codes


def verify(user: User, token: str, *, ip: str = "") -> TOTPDevice | StaticDevice:
    """The device a sign-in's code matches: the authenticator, else one recovery
    code (used up by this). django-otp refuses a code already used and slows down
    guessing after each failure (its throttling)."""
    token = token.strip().replace(" ", "")
    with transaction.atomic():
        # Locked, so one code cannot verify two sign-ins that race.
        authenticator = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        for device in authenticator:
            if device.verify_token(token):
                audit.record(Actor.of(user), AuditAction.TWOFACTOR_VERIFIED, user, ip=ip)
                return device
        recovery = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
        for static in recovery:
            if static.verify_token(token.lower()):
                audit.record(
                    Actor.of(user),
                    AuditAction.TWOFACTOR_RECOVERY_USED,
                    user,
                    data={"left": static.token_set.count()},
                    ip=ip,
                )
                return static
    _failed(user, "sign-in", ip)


def _failed(user: User, step: str, ip: str) -> NoReturn:
    entry = audit.make_entry(
        Actor.of(user),
        AuditAction.TWOFACTOR_FAILED,
        target_type="core.user",
        target_id=str(user.pk),
        data={"username": user.username, "step": step},
        ip=ip,
    )
    audit.refuse(entry, ValidationError(_("That code is not valid. Try the current one.")))


def reset(actor: Actor, user: User, *, ip: str = "") -> None:
    """Remove someone's authenticator, passkeys and recovery codes (a lost phone): they
    enrol again at their next sign-in, as a new officer would."""
    enforce(actor, Action.RESET_SECOND_FACTOR, ip=ip)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        WebAuthnCredential.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit.record(
            actor, AuditAction.TWOFACTOR_RESET, user, data={"username": user.username}, ip=ip
        )
