"""TAXII accounts: how a partner tool signs in, and how the operator adds,
disables and re-keys its account. A password or token is never stored in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from accord.core import audit, auth, tally
from accord.core.audit import Actor, AuditAction
from accord.core.signals import client_ip
from accord.intel import policy
from accord.intel.models import Account, Collection, Grant, Token
from accord.intel.policy import Action

# Argon2 costs ~0.6 s and 100 MiB per check, far too much for every TAXII
# request of a paging client: a verified (name, password) pair is remembered
# in this process for a few minutes, keyed by a keyed hash, never in clear.
_VERIFIED: dict[str, tuple[int, float]] = {}
VERIFIED_SECONDS = 300


class Throttled(Exception):
    """Too many failed sign-ins at this name from this address, for now."""


def _verified_key(name: str, password: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{name}\x00{password}".encode(), hashlib.sha256
    ).hexdigest()


def authenticate_basic(request: HttpRequest, name: str, password: str) -> Account | None:
    """The active account with this name and password. Failures are audited and
    counted per (name, address) like the web sign-in's (accord.core.auth); an
    address that has used up its failures at a name is refused without checking
    the password, before the remembered pairs are consulted, so no remembered
    password lets a throttled address in. An address past its allowance of
    failures that proved no identity (core.tally) is refused before the costly
    password check; a name no account has is counted there, not audited."""
    ip = client_ip(request)
    if auth.throttled(request, auth.TAXII_PREFIX + name):
        _signin_failed(name, "throttled: too many failed sign-ins from this address", ip)
        raise Throttled
    key = _verified_key(name, password)
    remembered = _VERIFIED.get(key)
    if remembered and remembered[1] > time.monotonic():
        account = Account.objects.filter(pk=remembered[0], active=True).first()
        if account is not None and account.name == name:
            return account
    if tally.over_limit(tally.Channel.TAXII, ip):
        raise Throttled  # before the costly password check
    account = Account.objects.filter(name=name, active=True).first()
    if account is None and not Account.objects.filter(name=name).exists():
        # A name no account has: counted, not audited (a stranger's guesses).
        tally.count(tally.Channel.TAXII, "unknown_account", ip)
        return None
    if account is None or not account.password or not check_password(password, account.password):
        _signin_failed(name, "wrong name or password", ip)
        auth.record_failure(request, auth.TAXII_PREFIX + name)
        return None
    if len(_VERIFIED) > 1000:
        _VERIFIED.clear()
    _VERIFIED[key] = (account.pk, time.monotonic() + VERIFIED_SECONDS)
    return account


def authenticate_token(token: str, ip: str = "") -> Account | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    found = Token.objects.select_related("account").filter(digest=digest).first()
    if found is None:
        # Counted, not audited: anyone can send tokens (nothing of it is kept,
        # a mistyped token being nearly the real one).
        tally.count(tally.Channel.TAXII, "unknown_token", ip)
        return None
    if not found.account.active:
        _signin_failed("token:" + token[:6], "token of a disabled account", ip)
        return None
    return found.account


def _signin_failed(name: str, reason: str, ip: str) -> None:
    audit.record(
        Actor(label="taxii"),
        AuditAction.INTEL_SIGNIN_FAILED,
        target_type="intel.account",
        target_id=name[:150],
        ip=ip,
        data={"reason": reason},
    )


@audit.refusals_kept()
def add_account(
    actor: Actor, name: str, password: str, read: list[str], write: list[str]
) -> Account:
    """A partner tool's account with read and write rights per collection
    (`accord intel account add`)."""
    policy.enforce(actor, Action.MANAGE_ACCOUNTS)
    name = name.strip()
    if not name or len(name) > 150:
        raise ValidationError(_("An account needs a name of 1 to 150 characters."))
    if password and len(password) < 12:
        raise ValidationError(_("Use a password of at least 12 characters."))
    collections = {c.alias: c for c in Collection.objects.all()}
    collections.update({str(c.pk): c for c in collections.values()})
    unknown = sorted({*read, *write} - set(collections))
    if unknown:
        raise ValidationError(_("No collection %(names)s.") % {"names": ", ".join(unknown)})
    with transaction.atomic():
        try:
            account = Account.objects.create(
                name=name, password=make_password(password) if password else ""
            )
        except IntegrityError:
            raise ValidationError(_("An account %(name)s exists.") % {"name": name}) from None
        for key in {*read, *write}:
            Grant.objects.update_or_create(
                account=account,
                collection=collections[key],
                defaults={"can_read": key in read, "can_write": key in write},
            )
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=name,
            data={"read": read, "write": write},
        )
    return account


@audit.refusals_kept()
def issue_token(actor: Actor, account: Account) -> str:
    """A new API token; only its SHA-256 is stored, so it is shown once."""
    policy.enforce(actor, Action.MANAGE_ACCOUNTS)
    token = "acc_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        Token.objects.create(
            account=account, digest=hashlib.sha256(token.encode()).hexdigest(), prefix=token[:10]
        )
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=account.name,
            data={"token": token[:10] + "…"},
        )
    return token


@audit.refusals_kept()
def set_active(actor: Actor, account: Account, active: bool) -> None:
    """Disable (or enable again) an account: a disabled one is refused at once,
    with its password and every token."""
    policy.enforce(actor, Action.MANAGE_ACCOUNTS)
    with transaction.atomic():
        Account.objects.filter(pk=account.pk).update(active=active)
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=account.name,
            data={"active": active},
        )


@audit.refusals_kept()
def revoke_token(actor: Actor, account: Account, prefix: str) -> int:
    """Revoke the one token of the account that starts with `prefix` (as
    `account list` shows it); a prefix that fits several revokes nothing."""
    policy.enforce(actor, Action.MANAGE_ACCOUNTS)
    if len(prefix) < 6:
        raise ValidationError(_("Give at least the first 6 characters of the token."))
    with transaction.atomic():
        doomed = [t for t in account.tokens.all() if t.prefix.startswith(prefix[:10])]
        if not doomed:
            raise ValidationError(_("No token %(prefix)s for this account.") % {"prefix": prefix})
        if len(doomed) > 1:
            raise ValidationError(
                _("%(prefix)s fits %(count)s tokens of this account: give more characters.")
                % {"prefix": prefix, "count": len(doomed)}
            )
        Token.objects.filter(pk__in=[t.pk for t in doomed]).delete()
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=account.name,
            data={"revoked": [t.prefix + "…" for t in doomed]},
        )
    return len(doomed)
