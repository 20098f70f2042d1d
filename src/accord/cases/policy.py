"""Who may do what to a case, now (DESIGN.md, "Three more pieces").

`allowed(user, action, case)` answers from the permission table
(`core/roles.py`: VIEW_CASES to read, EDIT_CASES to change), need-to-know
(`Case.restriction`) and the case's status, and returns a `Refusal` with its
reason and status or None. The services enforce it; the pages and the API ask
it which forms to offer. The central authority and auditors read every case
and change none: the team keeps its case. A user of None is this node's
operator at the shell."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accord.cases.models import Case, CaseStatus
from accord.core.policy import CONFLICT, Refusal
from accord.core.roles import Permission, Role

VIEW = "view"
CREATE = "create"
EDIT = "edit"  # title, categories, confidentiality
STATUS = "status"
TEAM = "team"
OBSERVE = "observe"  # observables and subjects, by hand or imported

ACTIONS = (VIEW, CREATE, EDIT, STATUS, TEAM, OBSERVE)
CHANGES = (CREATE, EDIT, STATUS, TEAM, OBSERVE)

# Who may be put on a case's team: the people who work on cases.
TEAM_ROLES = (Role.INVESTIGATOR, Role.PROSECUTOR, Role.ANALYST)


def allowed(user: Any, action: str, case: Case | None = None) -> Refusal | None:
    """None if `user` may take `action` on `case` now, else why not."""
    if user is not None and not user.has_permission(Permission.VIEW_CASES):
        return Refusal(_("You do not have permission to do this."))
    if action in CHANGES and user is not None and not user.has_permission(Permission.EDIT_CASES):
        return Refusal(_("Cases are read here, not changed: the case's team keeps it."))
    if action == CREATE:
        return None
    if case is None or action not in ACTIONS:
        return Refusal(_("There is no such step: %(a)s.") % {"a": action}, CONFLICT)
    if not sees(user, case):
        return Refusal(_("You are not on this case's team."))
    if action in (EDIT, OBSERVE) and case.status == CaseStatus.CLOSED:
        return Refusal(_("The case is closed: reopen it first."), CONFLICT)
    return None


def sees(user: Any, case: Case) -> bool:
    """Need-to-know: the operator, or a user the restriction lets open it."""
    if user is None:
        return True
    return Case.objects.restrict(user, VIEW).filter(pk=case.pk).exists()


def offered(user: Any, case: Case) -> dict[str, bool]:
    """For pages and the API: each change, whether this user may make it now."""
    return {action: allowed(user, action, case) is None for action in CHANGES if action != CREATE}


__all__ = ["ACTIONS", "TEAM_ROLES", "allowed", "offered", "sees"]
