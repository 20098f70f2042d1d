"""Who may do what on the federation channel: the permission table
(roles.ROLE_PERMISSIONS) and the channel's one state rule (a removed peer is not
removed again). Services enforce `allowed`; pages and the API ask it what to
offer. A user of None is the operator at the node's shell (the system role)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.policy import CONFLICT, Refusal, Refused
from accord.core.roles import Permission
from accord.core.services import deny
from accord.core.user_policy import holds, may, no_permission
from accord.federation.models import Peer


class Action(StrEnum):
    """Named as the refusals are audited (`data.what`)."""

    VIEW_CHANNEL = "view_channel"
    ADD_PEER = "add_peer"
    REMOVE_PEER = "remove_peer"
    RETRY = "retry_outbox"
    ROTATE_KEYS = "rotate_keys"
    SEND_PINGS = "send_pings"
    VIEW_NOTES = "view_notes"
    SEND_NOTE = "send_note"
    RECONCILE = "reconcile"
    CHECKPOINT = "checkpoint_audit"


PERMISSIONS: dict[Action, Permission] = {
    Action.VIEW_CHANNEL: Permission.MANAGE_FEDERATION,
    Action.ADD_PEER: Permission.MANAGE_FEDERATION,
    Action.REMOVE_PEER: Permission.MANAGE_FEDERATION,
    Action.RETRY: Permission.MANAGE_FEDERATION,
    Action.ROTATE_KEYS: Permission.MANAGE_FEDERATION,
    # A channel test is the operator's tool, not correspondence.
    Action.SEND_PINGS: Permission.MANAGE_FEDERATION,
    Action.VIEW_NOTES: Permission.EXCHANGE_NOTES,
    Action.SEND_NOTE: Permission.EXCHANGE_NOTES,
    # Comparing replicas with a peer: the operator's tool, as the channel test.
    Action.RECONCILE: Permission.MANAGE_FEDERATION,
    # Anchoring the audit log in the peers (federation.anchoring).
    Action.CHECKPOINT: Permission.VIEW_AUDIT,
}


class ChannelRefused(Refused):
    """A federation step refused for the state of the channel; nothing changed."""


def allowed(user: User | None, action: Action, obj: Peer | None = None) -> Refusal | None:
    """May `user` take `action`, on the peer `obj` where it names one?"""
    if not holds(user, PERMISSIONS[action]):
        return no_permission()
    if action in (Action.REMOVE_PEER, Action.RECONCILE) and obj is not None and not obj.active:
        return Refusal(_("%(node)s is no longer a peer.") % {"node": obj.node_id}, CONFLICT)
    return None


def enforce(
    actor: Actor, action: Action, obj: Peer | None = None, *, what: str = "", ip: str = ""
) -> None:
    """The services' door: a missing permission is audited and raised as
    PermissionDenied, a refusal for the channel's state as ChannelRefused; the
    record survives the refusal (`audit.refuse`)."""
    if not may(actor, PERMISSIONS[action]):
        deny(actor, PERMISSIONS[action], what=what or action.value, ip=ip)
    refusal = allowed(actor.user, action, obj)
    if refusal is None:
        return
    entry = audit.make_entry(
        actor,
        AuditAction.ACCESS_DENIED,
        obj,
        data={"what": what or action.value, "reason": refusal.reason},
        ip=ip,
    )
    audit.refuse(entry, ChannelRefused.of(refusal))
