"""The areas of a node, in the order the sidebar shows them: only areas that
exist on this node (issue 15: no "soon" items)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accord.core.roles import ROLE_PERMISSIONS, Permission, Role


@dataclass(frozen=True)
class Area:
    key: str
    label: Promise
    permission: Permission
    url_name: str
    description: Promise


AREAS: tuple[Area, ...] = (
    Area(
        "dashboard",
        _("Dashboard"),
        Permission.VIEW_DASHBOARD,
        "web:dashboard",
        _("Your work at a glance"),
    ),
    Area(
        "requests",
        _("Assistance requests"),
        Permission.VIEW_REQUESTS,
        "assistance:list",
        _("Mutual-assistance requests, both directions, with deadlines"),
    ),
    Area(
        "cases",
        _("Cases"),
        Permission.VIEW_CASES,
        "cases:list",
        _("Cases, subjects and observables, correlated"),
    ),
    Area(
        "matching",
        _("Hit/no-hit"),
        # The central authority, who alone holds MANAGE_MATCHING, runs checks too.
        Permission.RUN_MATCHING,
        "matching:home",
        _("Privacy-preserving checks against partner nodes"),
    ),
    Area(
        "intel",
        _("Threat intelligence"),
        Permission.VIEW_INTEL,
        "intel:home",
        _("STIX 2.1 objects and TAXII 2.1 collections"),
    ),
    Area(
        "evidence",
        _("Evidence"),
        Permission.VIEW_EVIDENCE,
        "evidence:list",
        _("Encrypted evidence with its chain of custody"),
    ),
    Area(
        "dialogue",
        _("Dialogue"),
        Permission.VIEW_DIALOGUE,
        "dialogue:home",
        _("Rounds, agreed outcomes and commitments"),
    ),
    Area(
        "notes",
        _("Notes"),
        Permission.EXCHANGE_NOTES,
        "federation:notes",
        _("Signed notes to and from officers of partner nodes"),
    ),
    Area(
        "federation",
        _("Federation"),
        Permission.MANAGE_FEDERATION,
        "federation:channel",
        _("Peers and the signed channel between nodes"),
    ),
    Area(
        "users",
        _("Users"),
        Permission.MANAGE_USERS,
        "web:users",
        _("People on this node and their roles"),
    ),
    Area(
        "audit",
        _("Audit log"),
        Permission.VIEW_AUDIT,
        "web:audit",
        _("Every action on this node, hash-chained"),
    ),
)


def areas_for(user: object) -> list[Area]:
    has = getattr(user, "has_permission", None)
    if has is None:
        return []
    return [area for area in AREAS if has(area.permission)]


# What a role that only reads an area is told it can do there: the
# permission's own label says "work on", which a reader does not.
READING: dict[Permission, Promise] = {
    Permission.VIEW_REQUESTS: _("Read mutual-assistance requests and their timelines"),
    Permission.VIEW_CASES: _("Read cases, their subjects and observables"),
    Permission.VIEW_EVIDENCE: _("Read evidence records and check their chain of custody"),
}


def _acts_in(role: Role, permission: Permission) -> bool:
    """Whether the role does more than read in the permission's area: a step
    of the request state machine, editing cases, handling evidence (an
    auditor only reads it: evidence.policy)."""
    if permission == Permission.VIEW_REQUESTS:
        from accord.assistance.machine import TRANSITIONS

        return any(role in step.roles for step in TRANSITIONS.values())
    if permission == Permission.VIEW_CASES:
        return Permission.EDIT_CASES in ROLE_PERMISSIONS[role]
    if permission == Permission.VIEW_EVIDENCE:
        return role != Role.AUDITOR
    return True


def abilities_for(role: Role) -> list[str]:
    """The dashboard's "what you can do": what the role holds, said as it
    applies to the role (the dashboard itself is not an ability)."""
    held = ROLE_PERMISSIONS[role]
    return [
        str(permission.label if _acts_in(role, permission) else READING[permission])
        for permission in Permission
        if permission in held and permission != Permission.VIEW_DASHBOARD
    ]
