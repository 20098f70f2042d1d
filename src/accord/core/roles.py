"""Roles, permissions and who holds which: enums, not loose strings."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    INVESTIGATOR = "investigator", _("Investigator")
    PROSECUTOR = "prosecutor", _("Validating prosecutor or judge")
    CENTRAL_AUTHORITY = "central_authority", _("Central-authority officer")
    ANALYST = "analyst", _("Analyst")
    AUDITOR = "auditor", _("Auditor")
    NODE_ADMIN = "node_admin", _("Node administrator")


class Permission(models.TextChoices):
    VIEW_DASHBOARD = "core.view_dashboard", _("See the dashboard")
    MANAGE_USERS = "core.manage_users", _("Create users and change their roles")
    VIEW_AUDIT = "core.view_audit", _("Read and verify the audit log")
    VIEW_METRICS = "core.view_metrics", _("Read the node's operational metrics")
    VIEW_REQUESTS = "assistance.view", _("Work on mutual-assistance requests")
    VIEW_CASES = "cases.view", _("Work on cases and observables")
    EDIT_CASES = "cases.edit", _("Open cases and record their subjects and observables")
    RUN_MATCHING = "matching.run", _("Run hit/no-hit checks")
    MANAGE_MATCHING = (
        "matching.manage",
        _("Decide what partners may ask in hit/no-hit checks, and approve their queries"),
    )
    VIEW_INTEL = "intel.view", _("Work with threat intelligence")
    VIEW_EVIDENCE = "evidence.view", _("Handle evidence")
    VIEW_DIALOGUE = "dialogue.view", _("Follow the dialogue and its commitments")
    MANAGE_DIALOGUE = (
        "dialogue.manage",
        _("Prepare the dialogue: rounds, delegations, positions, commitments"),
    )
    SIGN_OUTCOMES = "dialogue.sign", _("Propose and sign outcomes for this node")
    MANAGE_FEDERATION = "federation.manage", _("Manage peers and the federation channel")
    EXCHANGE_NOTES = "federation.notes", _("Send and read notes to and from partner nodes")


_EVERYONE = {Permission.VIEW_DASHBOARD, Permission.VIEW_DIALOGUE}
# Officers who correspond with partner agencies (auditors only read the record).
_CORRESPONDENTS = {Permission.EXCHANGE_NOTES}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.INVESTIGATOR: frozenset(
        _EVERYONE
        | _CORRESPONDENTS
        | {
            Permission.VIEW_REQUESTS,
            Permission.VIEW_CASES,
            Permission.EDIT_CASES,
            Permission.RUN_MATCHING,
            Permission.VIEW_INTEL,
            Permission.VIEW_EVIDENCE,
        }
    ),
    Role.PROSECUTOR: frozenset(
        _EVERYONE
        | _CORRESPONDENTS
        | {
            Permission.VIEW_REQUESTS,
            Permission.VIEW_CASES,
            Permission.EDIT_CASES,
            Permission.VIEW_EVIDENCE,
        }
    ),
    Role.CENTRAL_AUTHORITY: frozenset(
        _EVERYONE
        | _CORRESPONDENTS
        | {
            Permission.VIEW_REQUESTS,
            # Need-to-know on every case, to read (the team changes it).
            Permission.VIEW_CASES,
            Permission.RUN_MATCHING,
            Permission.MANAGE_MATCHING,
            Permission.VIEW_EVIDENCE,
            Permission.MANAGE_DIALOGUE,
            Permission.SIGN_OUTCOMES,
        }
    ),
    Role.ANALYST: frozenset(
        _EVERYONE
        | _CORRESPONDENTS
        | {
            Permission.VIEW_CASES,
            Permission.EDIT_CASES,
            Permission.RUN_MATCHING,
            Permission.VIEW_INTEL,
        }
    ),
    Role.AUDITOR: frozenset(
        _EVERYONE
        | {
            Permission.VIEW_AUDIT,
            Permission.VIEW_METRICS,
            Permission.VIEW_REQUESTS,
            # Auditors read cases, never change them (cases.policy).
            Permission.VIEW_CASES,
            Permission.VIEW_EVIDENCE,
        }
    ),
    Role.NODE_ADMIN: frozenset(
        _EVERYONE
        | _CORRESPONDENTS
        | {
            Permission.MANAGE_USERS,
            Permission.VIEW_AUDIT,
            Permission.VIEW_METRICS,
            Permission.MANAGE_FEDERATION,
        }
    ),
}


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)


# Roles that cannot use the node before a second factor verifies the sign-in:
# an administrator holds every account, a central-authority officer sends and
# signs for the whole node (issue 14). Everyone else may enrol.
SECOND_FACTOR_ROLES = frozenset({Role.NODE_ADMIN, Role.CENTRAL_AUTHORITY})
