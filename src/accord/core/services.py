"""The rules for users and roles. Every state change here checks the actor's
permission, changes state and writes its audit event in one transaction; every
refusal is audited too, and the record survives the refusal (`audit.refuse`)."""

from __future__ import annotations

from typing import NoReturn

from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.roles import Permission, Role
from accord.core.user_policy import PERMISSIONS, Action, allowed, may

USERNAME_MAX = 150
LANGUAGE_CODES = ("en", "zh-hans")


def require(actor: Actor, permission: Permission, *, what: str, ip: str = "") -> None:
    """Refuse, and audit the refusal, unless the actor holds the permission."""
    if not may(actor, permission):
        deny(actor, permission, what=what, ip=ip)


def deny(actor: Actor, permission: Permission, *, what: str, ip: str = "") -> NoReturn:
    """Audit a missing permission and refuse: the one way every app says no to
    someone who may not act at all (a policy's 403)."""
    entry = audit.make_entry(
        actor,
        AuditAction.ACCESS_DENIED,
        target_type="permission",
        target_id=str(permission),
        data={"what": what},
        ip=ip,
    )
    audit.refuse(entry, PermissionDenied(_("You do not have permission to do this.")))


def enforce(actor: Actor, action: Action, obj: User | None = None, *, ip: str = "") -> None:
    """Apply the user policy: a missing permission is audited and refused; a
    rule about the account itself is a validation error on what was asked."""
    if not may(actor, PERMISSIONS[action]):
        deny(actor, PERMISSIONS[action], what=action.value, ip=ip)
    refusal = allowed(actor.user, action, obj)
    if refusal is not None:
        raise ValidationError(refusal.reason)


def _validate_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(Role.values)
        raise ValidationError(
            _("Unknown role %(role)s; choose one of %(choices)s.")
            % {"role": role, "choices": choices}
        ) from None


def create_user(
    actor: Actor,
    username: str,
    role: str,
    password: str,
    *,
    email: str = "",
    full_name: str = "",
    ip: str = "",
) -> User:
    enforce(actor, Action.CREATE_USER, ip=ip)
    username = username.strip()
    validated_role = _validate_role(role)
    candidate = User(username=username, email=email.strip(), role=validated_role)
    candidate.first_name = full_name.strip()[:150]
    try:
        User.username_validator(username)
    except ValidationError:
        raise ValidationError(
            _("A username may hold only letters, digits and @ . + - _ characters.")
        ) from None
    if not username or len(username) > USERNAME_MAX:
        raise ValidationError(_("A username must be 1 to 150 characters."))
    password_validation.validate_password(password, user=candidate)
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            audit.record(
                actor,
                AuditAction.USER_CREATE,
                candidate,
                data={"username": username, "role": str(validated_role)},
                ip=ip,
            )
    except IntegrityError:
        if not User.objects.filter(username=username).exists():
            raise  # some other constraint: a bug to see, not a message to mask it
        raise ValidationError(
            _("A user named %(username)s already exists.") % {"username": username}
        ) from None
    return candidate


def change_role(actor: Actor, user: User, role: str, *, ip: str = "") -> User:
    enforce(actor, Action.CHANGE_ROLE, ip=ip)  # may change roles at all
    new_role = _validate_role(role)
    enforce(actor, Action.CHANGE_ROLE, user, ip=ip)  # and this account's
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        old_role = locked.role
        if old_role == new_role:
            return locked
        locked.role = new_role
        locked.save(update_fields=["role"])
        audit.record(
            actor,
            AuditAction.USER_ROLE_CHANGE,
            locked,
            data={"username": locked.username, "from": old_role, "to": str(new_role)},
            ip=ip,
        )
    return locked


def set_active(actor: Actor, user: User, active: bool, *, ip: str = "") -> User:
    enforce(actor, Action.SET_ACTIVE, user, ip=ip)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        action = AuditAction.USER_ACTIVATE if active else AuditAction.USER_DEACTIVATE
        audit.record(actor, action, locked, data={"username": locked.username}, ip=ip)
    return locked


def set_language(user: User, language: str, *, ip: str = "") -> User:
    """A user chooses their own interface language; it follows them to any browser."""
    if language not in LANGUAGE_CODES:
        raise ValidationError(_("Unknown language."))
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.language == language:
            return locked
        old = locked.language
        locked.language = language
        locked.save(update_fields=["language"])
        audit.record(
            Actor.of(locked),
            AuditAction.USER_LANGUAGE_CHANGE,
            locked,
            data={"from": old, "to": language},
            ip=ip,
        )
    user.language = language
    return locked


def change_password(user: User, old_password: str, new_password: str, *, ip: str = "") -> None:
    if not user.check_password(old_password):
        entry = audit.make_entry(
            Actor.of(user),
            AuditAction.ACCESS_DENIED,
            user,
            data={"what": "change_password", "reason": "wrong current password"},
            ip=ip,
        )
        audit.refuse(entry, ValidationError(_("Your current password is not correct.")))
    password_validation.validate_password(new_password, user=user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record(Actor.of(user), AuditAction.USER_PASSWORD_CHANGE, user, ip=ip)


# Sent after every walk of the chain with `result` (accord.ops keeps the time
# of the latest for the metrics: a check that passed is not in the chain).
audit_verified = Signal()


def verify_audit(actor: Actor, *, ip: str = "") -> audit.VerifyResult:
    enforce(actor, Action.VERIFY_AUDIT, ip=ip)
    result = audit.verify()
    audit_verified.send(sender=verify_audit, result=result)
    # Recording the check itself would extend the chain it just verified; only
    # a failed check is worth a new link (and the operator needs it on file).
    if not result.ok:
        audit.record(
            actor,
            AuditAction.AUDIT_VERIFY,
            data={"ok": False, "problem": result.problem, "seq": result.seq},
            ip=ip,
        )
    return result
