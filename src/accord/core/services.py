"""The rules for users and roles. Every state change here checks the actor's
permission, changes state and writes its audit event in one transaction; every
refusal is audited too (outside that transaction, so it survives the refusal)."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.roles import Permission, Role

USERNAME_MAX = 150
LANGUAGE_CODES = ("en", "zh-hans")


def may(actor: Actor, permission: Permission) -> bool:
    """The operator at the node's shell holds every permission: whoever can read
    the data directory already holds the node's keys."""
    if actor.user is None:
        return actor.label.startswith("system:")
    return actor.user.has_permission(permission)


def require(actor: Actor, permission: Permission, *, what: str, ip: str = "") -> None:
    """Refuse, and audit the refusal, unless the actor holds the permission."""
    if may(actor, permission):
        return
    audit.record(
        actor,
        AuditAction.ACCESS_DENIED,
        target_type="permission",
        target_id=str(permission),
        data={"what": what},
        ip=ip,
    )
    raise PermissionDenied(_("You do not have permission to do this."))


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
    require(actor, Permission.MANAGE_USERS, what="create_user", ip=ip)
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
    require(actor, Permission.MANAGE_USERS, what="change_role", ip=ip)
    new_role = _validate_role(role)
    if actor.user is not None and actor.user.pk == user.pk:
        # An administrator demoting themselves could leave the node unmanageable.
        raise ValidationError(_("You cannot change your own role."))
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
    require(actor, Permission.MANAGE_USERS, what="set_active", ip=ip)
    if actor.user is not None and actor.user.pk == user.pk:
        raise ValidationError(_("You cannot deactivate yourself."))
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
        audit.record(
            Actor.of(user),
            AuditAction.ACCESS_DENIED,
            user,
            data={"what": "change_password", "reason": "wrong current password"},
            ip=ip,
        )
        raise ValidationError(_("Your current password is not correct."))
    password_validation.validate_password(new_password, user=user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record(Actor.of(user), AuditAction.USER_PASSWORD_CHANGE, user, ip=ip)


def verify_audit(actor: Actor, *, ip: str = "") -> audit.VerifyResult:
    require(actor, Permission.VIEW_AUDIT, what="verify_audit", ip=ip)
    result = audit.verify()
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
