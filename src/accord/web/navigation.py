"""The areas of a node, in the order the sidebar shows them. An area whose
`url_name` is None is announced but not yet on this node."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accord.core.roles import Permission


@dataclass(frozen=True)
class Area:
    key: str
    label: Promise
    permission: Permission
    url_name: str | None
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
