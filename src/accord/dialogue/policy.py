"""Who may change what in the dialogue record, in one place. The permission
table (accord.core.roles) says which role may do an action at all; the
authorship rules say what this node may change: it changes only what it
authors (a round it recorded, an outcome it proposed), signs only for itself
and only a version it has not signed yet, and reports only on a commitment it
owes. A side's own delegation and positions are its own by construction: the
services write them under this node's id.

Services enforce `enforce`; pages and the API ask `allowed` which actions to
offer, so no view or template recomputes a rule."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, NoReturn

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.policy import Refusal, Refused
from accord.core.roles import Permission
from accord.core.services import may, require
from accord.dialogue.models import Commitment, Outcome, OutcomeVersion, Round
from accord.dialogue.signing import signed_by


class NotYours(Refused, PermissionDenied):
    """This node (or this user) does not author what it tries to change. A
    PermissionDenied too, so every caller that handles that handles this."""


class Action(StrEnum):
    """What a user does to the record; the value names it in the audit log."""

    VIEW = "view"
    CREATE_DIALOGUE = "create_dialogue"
    SAVE_ROUND = "save_round"  # on a Dialogue (a new round) or a Round (an edit)
    SET_DELEGATION = "set_delegation"
    PROPOSE_OUTCOME = "propose_outcome"
    AMEND_OUTCOME = "amend_outcome"
    SIGN_OUTCOME = "sign_outcome"  # on an OutcomeVersion
    OPEN_DISAGREEMENT = "open_disagreement"
    STATE_POSITION = "state_position"
    SET_DISAGREEMENT_STATUS = "disagreement_status"
    CREATE_COMMITMENT = "create_commitment"
    REPORT_COMMITMENT = "commitment_status"


PERMISSIONS: dict[Action, Permission] = {
    Action.VIEW: Permission.VIEW_DIALOGUE,
    Action.CREATE_DIALOGUE: Permission.MANAGE_DIALOGUE,
    Action.SAVE_ROUND: Permission.MANAGE_DIALOGUE,
    Action.SET_DELEGATION: Permission.MANAGE_DIALOGUE,
    Action.PROPOSE_OUTCOME: Permission.SIGN_OUTCOMES,
    Action.AMEND_OUTCOME: Permission.SIGN_OUTCOMES,
    Action.SIGN_OUTCOME: Permission.SIGN_OUTCOMES,
    Action.OPEN_DISAGREEMENT: Permission.MANAGE_DIALOGUE,
    Action.STATE_POSITION: Permission.MANAGE_DIALOGUE,
    Action.SET_DISAGREEMENT_STATUS: Permission.MANAGE_DIALOGUE,
    Action.CREATE_COMMITMENT: Permission.MANAGE_DIALOGUE,
    Action.REPORT_COMMITMENT: Permission.MANAGE_DIALOGUE,
}


def _round_rule(target: Any, here: str) -> Refusal | None:
    if isinstance(target, Round) and target.author_node != here:
        return Refusal(_("The other side keeps this round's record."))
    return None


def _amend_rule(outcome: Outcome | None, here: str) -> Refusal | None:
    if outcome is not None and outcome.author_node != here:
        return Refusal(_("The side that proposed an outcome amends it."))
    return None


def _sign_rule(version: OutcomeVersion | None, here: str) -> Refusal | None:
    if version is None:
        return None
    latest = version.outcome.latest()
    if latest is None or latest.version != version.version:
        return Refusal(_("Only the latest version can be signed."))
    if signed_by(version, here):
        return Refusal(_("This node has already signed this version."))
    return None


def _report_rule(commitment: Commitment | None, here: str) -> Refusal | None:
    if commitment is not None and commitment.owner_node != here:
        return Refusal(_("The side that owes a commitment reports on it."))
    return None


# The authorship rules, by action; an action not listed has none beyond its permission.
RULES: dict[Action, Callable[[Any, str], Refusal | None]] = {
    Action.SAVE_ROUND: _round_rule,
    Action.AMEND_OUTCOME: _amend_rule,
    Action.SIGN_OUTCOME: _sign_rule,
    Action.REPORT_COMMITMENT: _report_rule,
}


def check(action: Action, obj: Any = None) -> Refusal | None:
    """The authorship rule alone: may this node do `action` to `obj` now?
    Without an object, the question is whether the action is possible at all."""
    rule = RULES.get(action)
    return rule(obj, this_node().node_id) if rule else None


def allowed(user: User | Actor, action: Action, obj: Any = None) -> Refusal | None:
    """May this user do `action` to `obj` now? None, or the refusal and its reason."""
    actor = user if isinstance(user, Actor) else Actor.of(user)
    if not may(actor, PERMISSIONS[action]):
        return Refusal(_("You do not have permission to do this."))
    return check(action, obj)


def require_permission(actor: Actor, action: Action, *, ip: str = "") -> None:
    """The permission table's answer, enforced: refused (and audited as access
    denied) unless the actor's role may do the action at all."""
    require(actor, PERMISSIONS[action], what=action.value, ip=ip)


def enforce(actor: Actor, action: Action, obj: Any = None, *, ip: str = "") -> None:
    """`allowed`, enforced by a service: a missing permission is audited as
    access denied, a broken authorship rule as a refused change."""
    require_permission(actor, action, ip=ip)
    refusal = check(action, obj)
    if refusal is not None:
        refuse(actor, action, refusal, obj, ip)


def refuse(
    actor: Actor, action: Action, refusal: Refusal, target: Any = None, ip: str = ""
) -> NoReturn:
    """Refuse, audited; the record survives the refusal (`audit.refuse`)."""
    entry = audit.make_entry(
        actor,
        AuditAction.DIALOGUE_REFUSED,
        target,
        target_type="" if target is not None else "dialogue",
        data={"what": action.value, "reason": refusal.reason},
        ip=ip,
    )
    audit.refuse(entry, NotYours.of(refusal))
