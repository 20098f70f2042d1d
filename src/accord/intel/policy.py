"""Who may do what with the threat-intelligence store: the permission table
(roles.ROLE_PERMISSIONS), the one rule about a collection's origin (what a
partner node shared is not passed on), and the per-collection rights of the
TAXII accounts partner tools sign in with. Services enforce `allowed`; pages
ask it what to offer; the TAXII server asks `reach`.

What an object's markings allow (TLP, expiry, handling codes) is the release
rules' (`release.py`): they decide which audience sees an object, and a
person on this node is the LOCAL audience, who sees every object."""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.policy import CONFLICT, FORBIDDEN, Refusal, Refused
from accord.core.roles import Permission
from accord.core.services import deny
from accord.core.user_policy import as_actor, no_permission
from accord.core.user_policy import may as holds
from accord.intel.models import Account, Collection, Grant, Mirror

NOT_FOUND = 404


class Action(StrEnum):
    """Named as the refusals are audited (`data.what`)."""

    VIEW = "view_intel"  # search the store, read an object and its versions
    IMPORT = "import_objects"  # into a collection: a bundle, the CLI
    EXPORT = "export_bundle"
    DELETE = "delete_object"
    MANAGE_COLLECTIONS = "manage_collections"
    MANAGE_ACCOUNTS = "manage_taxii_accounts"
    SHARE = "share_collection"  # push to a peer node
    UNSHARE = "unshare_collection"
    SUBSCRIBE = "subscribe_collection"  # pull a partner's TAXII collection, or stop


PERMISSIONS: dict[Action, Permission] = {
    Action.VIEW: Permission.VIEW_INTEL,
    Action.IMPORT: Permission.VIEW_INTEL,
    Action.EXPORT: Permission.VIEW_INTEL,
    Action.DELETE: Permission.VIEW_INTEL,
    Action.MANAGE_COLLECTIONS: Permission.VIEW_INTEL,
    # Connecting partner tools and partner nodes is the operator's work, as is
    # reading the accounts (Account.restriction).
    Action.MANAGE_ACCOUNTS: Permission.MANAGE_FEDERATION,
    Action.SHARE: Permission.MANAGE_FEDERATION,
    Action.UNSHARE: Permission.MANAGE_FEDERATION,
    Action.SUBSCRIBE: Permission.MANAGE_FEDERATION,
}


class IntelRefused(Refused):
    """An intel step refused for the state of what it names; nothing changed."""


def is_mirror(collection: Collection) -> bool:
    """Whether a partner node shared this collection with this node."""
    return Mirror.objects.filter(collection=collection).exists()


def allowed(user: User | Actor, action: Action, obj: Collection | None = None) -> Refusal | None:
    """May `user` (or the operator at the shell) take `action`, on the
    collection `obj` where it names one?"""
    if not holds(as_actor(user), PERMISSIONS[action]):
        return no_permission()
    # What a partner gave is not passed on (no onward transfer).
    if action is Action.SHARE and obj is not None and is_mirror(obj):
        return Refusal(_("A partner's collection is not shared onward."), CONFLICT)
    return None


def enforce(actor: Actor, action: Action, obj: Collection | None = None, *, ip: str = "") -> None:
    """The services' door for a person on this node or the shell. A missing
    permission is audited and raised as PermissionDenied, a refusal for the
    collection's state audited too and raised as IntelRefused. Peers (through
    the signed channel), partner tools (through their grants: `reach`) and the
    clock act under their own labels and are let in at their own doors."""
    if actor.user is None and not actor.label.startswith("system:"):
        return
    refusal = allowed(actor, action, obj)
    if refusal is None:
        return
    if refusal.status == FORBIDDEN:
        deny(actor, PERMISSIONS[action], what=action.value, ip=ip)
    refuse(actor, action.value, refusal, obj, ip=ip)


def refuse(
    actor: Actor, what: str, refusal: Refusal, target: Collection | None, *, ip: str = ""
) -> NoReturn:
    """Refuse, audited; the record survives the refusal (`audit.refuse`: the
    services are `refusals_kept` boundaries)."""
    audit.refuse(_refusal_entry(actor, what, refusal, target, ip), IntelRefused.of(refusal))


def note_refused(
    actor: Actor, what: str, refusal: Refusal, target: Collection | None, *, ip: str = ""
) -> None:
    """Audit a refusal answered without raising (the TAXII server's errors)."""
    audit.record_many([_refusal_entry(actor, what, refusal, target, ip)])


def _refusal_entry(
    actor: Actor, what: str, refusal: Refusal, target: Collection | None, ip: str
) -> audit.Entry:
    return audit.make_entry(
        actor,
        AuditAction.INTEL_REFUSED,
        target,
        target_type="" if target is not None else "intel",
        data={"what": what, "reason": refusal.reason, "status": refusal.status},
        ip=ip,
    )


# ---------------------------------------------------------------- TAXII accounts


def rights(account: Account, collection: Collection) -> tuple[bool, bool]:
    """(can read, can write) for the account on the collection."""
    grant = Grant.objects.filter(account=account, collection=collection).first()
    return (grant.can_read, grant.can_write) if grant else (False, False)


def may(account: Account, collection: Collection, write: bool = False) -> bool:
    can_read, can_write = rights(account, collection)
    return can_write if write else can_read


def collections_for(account: Account) -> list[tuple[Collection, bool, bool]]:
    """Every collection the account holds a right on, with (can read, can write)."""
    grants = Grant.objects.filter(account=account).select_related("collection")
    return [(g.collection, g.can_read, g.can_write) for g in grants if g.can_read or g.can_write]


def reach(account: Account, collection: Collection, *, write: bool = False) -> Refusal | None:
    """May the account read (or write) the collection? A collection it holds no
    right on does not exist for it (404); one it may only read or only write
    says which (403). TAXII error text is English, as the spec's examples."""
    can_read, can_write = rights(account, collection)
    if not (can_read or can_write):
        return Refusal("No such collection for this account.", NOT_FOUND)
    if not (can_write if write else can_read):
        verb = "write" if write else "read"
        return Refusal(f"This account may not {verb} this collection.", FORBIDDEN)
    return None
