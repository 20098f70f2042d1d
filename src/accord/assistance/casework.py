"""A request and the case it belongs to on this node (issue 12). The link is
this node's own: it never travels to the partner, is not part of the shared
view, and each side may file its replica under a case of its own.

Linking needs both sides of need-to-know: the user must be on the request's
team (or otherwise see it) and may change the case (cases.policy, `observe`).
A user sees the link only when they may open the case; a case they may not
open is not named anywhere on the request (its page, the list, the API)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accord.assistance.models import AssistanceRequest
from accord.cases import queries as case_queries
from accord.cases.models import Case, CaseStatus
from accord.core.audit import Actor
from accord.core.roles import Permission


def find_case(actor: Actor, text: str) -> Case:
    """A case named by its reference or id, among those the actor may open;
    a clear error otherwise (the same for a case that does not exist and one
    the actor may not open)."""
    found = (
        case_queries.visible(actor.user)
        .filter(Q(reference=text.strip()) | _id_condition(text))
        .first()
    )
    if found is None:
        raise ValidationError(_("No case %(case)s that you may open.") % {"case": text[:80]})
    return found


def _id_condition(text: str) -> Q:
    try:
        return Q(pk=uuid.UUID(text.strip()))
    except ValueError:
        return Q(pk__in=[])


def case_seen(user: Any, request: AssistanceRequest) -> Case | None:
    """The request's case, when this user may open it."""
    if request.case_id is None:
        return None
    return case_queries.visible(user).filter(pk=request.case_id).first()


def cases_seen(user: Any, requests: list[AssistanceRequest]) -> dict[Any, Case]:
    """For a page of requests: each one's case, when this user may open it
    (one query)."""
    ids = {r.case_id for r in requests if r.case_id}
    if not ids:
        return {}
    return {c.pk: c for c in case_queries.visible(user).filter(pk__in=ids)}


def filed_under(user: Any, rows: QuerySet, case: str) -> QuerySet:
    """The requests filed under a case (reference or id) the user may open;
    none for a case they may not open."""
    matching = case_queries.visible(user).filter(Q(reference=case.strip()) | _id_condition(case))
    return rows.filter(case__in=matching)


def requests_of(user: Any, case: Case) -> list[AssistanceRequest]:
    """The requests filed under a case that this user may see."""
    rows = (
        AssistanceRequest.objects.all()
        if user is None
        else AssistanceRequest.objects.restrict(user, "view").distinct()
    )
    return list(rows.filter(case=case).select_related("peer").order_by("-created_at"))


def may_file(user: Any) -> bool:
    """Whether to offer filing requests under cases at all."""
    return user is None or user.has_permission(Permission.EDIT_CASES)


def cases_to_file_under(user: Any) -> list[Case]:
    """The open cases this user may file a request under."""
    if not may_file(user):
        return []
    rows = case_queries.visible(user).exclude(status=CaseStatus.CLOSED)
    return list(rows.order_by("reference")[:500])
