"""Who may manage people and read the audit log on this node: the permission
table (roles.ROLE_PERMISSIONS) and the two rules no administrator may break on
their own account. Services enforce `allowed`; pages ask it what to offer.

A user of None is the operator at the node's shell (the system role), as in
every app's policy."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext as _

from accord.core.audit import Actor
from accord.core.models import User
from accord.core.policy import FORBIDDEN, UNPROCESSABLE, Refusal
from accord.core.roles import Permission


class Action(StrEnum):
    """Named as the refusals are audited (`data.what`)."""

    VIEW_USERS = "list_users"
    CREATE_USER = "create_user"
    CHANGE_ROLE = "change_role"
    SET_ACTIVE = "set_active"
    RESET_SECOND_FACTOR = "reset_second_factor"
    VIEW_AUDIT = "audit_events"
    VERIFY_AUDIT = "verify_audit"


PERMISSIONS: dict[Action, Permission] = {
    Action.VIEW_USERS: Permission.MANAGE_USERS,
    Action.CREATE_USER: Permission.MANAGE_USERS,
    Action.CHANGE_ROLE: Permission.MANAGE_USERS,
    Action.SET_ACTIVE: Permission.MANAGE_USERS,
    Action.RESET_SECOND_FACTOR: Permission.MANAGE_USERS,
    Action.VIEW_AUDIT: Permission.VIEW_AUDIT,
    Action.VERIFY_AUDIT: Permission.VIEW_AUDIT,
}


def holds(user: User | None, permission: Permission) -> bool:
    """The operator at the node's shell holds every permission: whoever can read
    the data directory already holds the node's keys."""
    return user is None or user.has_permission(permission)


def may(actor: Actor, permission: Permission) -> bool:
    """`holds` for an actor: one without a user is the operator only if it is the
    system (a peer, say, holds nothing here)."""
    if actor.user is None:
        return actor.label.startswith("system:")
    return actor.user.has_permission(permission)


def as_actor(who: User | Actor) -> Actor:
    return who if isinstance(who, Actor) else Actor.of(who)


def no_permission() -> Refusal:
    return Refusal(_("You do not have permission to do this."), FORBIDDEN)


def allowed(user: User | None, action: Action, obj: User | None = None) -> Refusal | None:
    """May `user` take `action` (on the account `obj`, where it names one)?"""
    if not holds(user, PERMISSIONS[action]):
        return no_permission()
    own = obj is not None and user is not None and user.pk == obj.pk
    # An administrator demoting or locking out themselves could leave the node
    # unmanageable.
    if own and action is Action.CHANGE_ROLE:
        return Refusal(_("You cannot change your own role."), UNPROCESSABLE)
    if own and action is Action.SET_ACTIVE:
        return Refusal(_("You cannot deactivate yourself."), UNPROCESSABLE)
    return None
