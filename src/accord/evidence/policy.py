"""Who may do what to evidence, now (DESIGN.md, "Three more pieces").

Evidence needs VIEW_EVIDENCE, and need-to-know follows the item's case or
request: whoever may open the one may see the other's items
(`cases.policy.sees`, `AssistanceRequest.restriction`). Auditors read
evidence and change none; evidence on a case is added or purged only by those
who may change cases (the central authority reads cases, the team keeps
them). A purged item is still shown, with its custody, but its bytes are gone.
A user of None is this node's operator at the shell."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accord.cases import policy as case_policy
from accord.core.policy import CONFLICT, Refusal
from accord.core.roles import Permission, Role

VIEW = "view"
ADD = "add"
DOWNLOAD = "download"
EXPORT = "export"
PURGE = "purge"
SEND = "send"  # to the partner of the item's request (transfer.py)

ACTIONS = (VIEW, ADD, DOWNLOAD, EXPORT, PURGE, SEND)
CHANGES = (ADD, PURGE, SEND)
NEEDS_BYTES = (DOWNLOAD, EXPORT, PURGE, SEND)


def sees_request(user: Any, request: Any) -> bool:
    from accord.assistance.models import AssistanceRequest

    if user is None:
        return True
    return AssistanceRequest.objects.restrict(user, "view").filter(pk=request.pk).exists()


def sees_container(user: Any, case: Any = None, request: Any = None) -> bool:
    if case is not None:
        return case_policy.sees(user, case)
    if request is not None:
        return sees_request(user, request)
    return False


def allowed(
    user: Any, action: str, item: Any = None, *, case: Any = None, request: Any = None
) -> Refusal | None:
    """None if `user` may take `action` on `item` (or, to add, on the case or
    request given) now, else why not."""
    if action not in ACTIONS:
        return Refusal(_("There is no such step: %(a)s.") % {"a": action}, CONFLICT)
    if user is not None and not user.has_permission(Permission.VIEW_EVIDENCE):
        return Refusal(_("You do not have permission to do this."))
    if item is not None:
        case, request = item.case, item.request
    if case is None and request is None:
        return Refusal(_("Evidence belongs to a case or a request: name one."), 422)
    if not sees_container(user, case, request):
        return Refusal(_("You are not on the team of this item's case or request."))
    if action in CHANGES and user is not None:
        if user.role == Role.AUDITOR:
            return Refusal(_("Auditors read evidence; they do not change it."))
        if case is not None and not user.has_permission(Permission.EDIT_CASES):
            return Refusal(_("Cases are read here, not changed: the case's team keeps it."))
    if action == SEND and item is not None and item.request is None:
        return Refusal(_("Only evidence on a request goes to a partner."), CONFLICT)
    if item is not None and item.purged and action in NEEDS_BYTES:
        return Refusal(_("This item was purged: its bytes are gone."), CONFLICT)
    return None


def offered(user: Any, item: Any) -> dict[str, bool]:
    """For pages and the API: each action on the item, whether it is offered now."""
    return {action: allowed(user, action, item) is None for action in NEEDS_BYTES}


__all__ = ["ACTIONS", "allowed", "offered", "sees_container"]
