"""JSON API for hit/no-hit: the same services and queries as the pages and
the CLI, so the same rules and the same audit. Each handler checks the role
first (403, audited) and only then looks the object up (404), so that a
caller who may not act at all learns nothing about what exists."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from accord.cases import queries as cases
from accord.cases.models import Case
from accord.core.apischema import Page
from accord.core.audit import Actor
from accord.core.ijson import Positive, SmallCount
from accord.core.models import User
from accord.core.roles import Permission
from accord.core.services import require
from accord.core.signals import client_ip
from accord.federation.models import Peer
from accord.matching import policy, queries, results, services
from accord.matching.models import PURPOSE, REASON, Direction, Hit, MatchingPolicy, Query
from accord.web.guards import signed_in_user

router = Router(tags=["matching"])


class AskIn(Schema):
    model_config = ConfigDict(extra="forbid")

    peers: list[str] | Literal["all"] = Field(
        description='partner node ids, or "all": every partner the policy allows'
    )
    purpose: str = Field(max_length=PURPOSE)
    observables: list[Positive] | None = Field(
        default=None, max_length=100_000, description="observable ids; null: the whole case"
    )


class DeclineIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=REASON)


class PolicyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    types: list[str] = Field(max_length=100, description="observable type codes")
    max_values: SmallCount
    per_day: SmallCount
    needs_approval: bool = False


class QueryOut(Schema):
    id: UUID
    direction: str
    peer: str
    agency: str
    party: str
    ask: UUID | None
    case: UUID | None
    case_reference: str
    purpose: str
    type: str
    count: int
    values_count: int | None
    status: str
    refusal: str
    limit: int
    asked_again: UUID | None
    hits: int
    created_by: str
    decided_by: str
    created_at: datetime
    answered_at: datetime | None


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


def _username(user: User | None) -> str:
    return user.username if user else ""


def query_out(row: Query) -> dict[str, Any]:
    """A query as the API shows it: never its secret scalar nor the values
    asked. `count` is the points sent or received (with any padding);
    `values_count`, on an outgoing query, the values this node asked (null
    on an incoming one: the answerer cannot know it)."""
    return {
        "id": row.pk,
        "direction": row.direction,
        "peer": row.peer.node_id,
        "agency": row.peer.agency,
        "party": row.peer.party,
        "ask": row.ask,
        "case": row.case_id,
        "case_reference": row.case_reference,
        "purpose": row.purpose,
        "type": row.code,
        "count": row.count,
        "values_count": (row.values_count or row.count) if row.direction == Direction.OUT else None,
        "status": row.status,
        "refusal": row.refusal,
        "limit": row.limit,
        "asked_again": row.asked_again,
        "hits": row.hits,
        "created_by": _username(row.created_by),
        "decided_by": _username(row.decided_by),
        "created_at": row.created_at,
        "answered_at": row.answered_at,
    }


def hit_out(row: Hit, user: User) -> dict[str, Any]:
    observable = row.observable
    return {
        "id": row.pk,
        "reference": row.reference,
        "query": row.query_id,
        "peer": (row.peer or row.query.peer).node_id,
        "agency": (row.peer or row.query.peer).agency,
        "party": (row.peer or row.query.peer).party,
        "type": row.query.code,
        "observable": observable.pk if observable else None,
        "value": observable.display if observable else None,
        "normal": observable.normal if observable else None,
        "created_at": row.created_at,
        "request_details": policy.allowed(user, policy.REQUEST_DETAILS, row) is None,
    }


def policy_out(peer: Peer, row: MatchingPolicy | None) -> dict[str, Any]:
    return {
        "peer": peer.node_id,
        "party": peer.party,
        "agency": peer.agency,
        "policy": None
        if row is None
        else {
            "types": row.types,
            "max_values": row.max_values,
            "per_day": row.per_day,
            "needs_approval": row.needs_approval,
            "updated_by": _username(row.updated_by),
            "updated_at": row.updated_at,
        },
    }


def _open(request: HttpRequest, case_id: UUID, how: str) -> Case:
    try:
        return cases.open_case(_actor(request), case_id, how=how, ip=client_ip(request))
    except Case.DoesNotExist:
        raise Http404 from None


def _peers(node_ids: list[str] | str) -> list[Peer] | None:
    if node_ids == "all":
        return None
    if not node_ids or len(node_ids) > 100:
        raise ValidationError(_("Choose from 1 to 100 partner nodes, or all of them."))
    found = {p.node_id: p for p in Peer.objects.filter(node_id__in=node_ids, active=True)}
    unknown = sorted(set(node_ids) - set(found))
    if unknown:
        raise ValidationError(
            _("Not an active partner node of this node: %(peers)s.") % {"peers": ", ".join(unknown)}
        )
    return [found[node_id] for node_id in dict.fromkeys(node_ids)]


def _incoming(request: HttpRequest, query_id: UUID, what: str) -> Query:
    """An incoming query, for the central authority who decides it."""
    user = signed_in_user(request)
    require(Actor.of(user), Permission.MANAGE_MATCHING, what=what, ip=client_ip(request))
    row = Query.objects.restrict(user, "view").filter(pk=query_id, direction=Direction.IN).first()
    if row is None:
        raise Http404
    return row


@router.post("/matching/cases/{case_id}/queries", response={201: list[QueryOut]})
def ask(request: HttpRequest, case_id: UUID, payload: AskIn) -> Status:
    """Ask partners which of the case's values they hold: one query per
    (partner, observable type); the answers arrive later (GET the case)."""
    actor, ip = _actor(request), client_ip(request)
    require(actor, Permission.RUN_MATCHING, what="matching_ask", ip=ip)
    case = _open(request, case_id, "matching_ask")
    asked = services.ask(
        actor, case, _peers(payload.peers), payload.purpose, payload.observables, ip=ip
    )
    return Status(201, [query_out(row) for row in asked])


@router.get("/matching/cases/{case_id}", response=dict[str, Any])
def case_matching(request: HttpRequest, case_id: UUID) -> dict[str, Any]:
    """A case's queries and hits, for those who may open the case."""
    case = _open(request, case_id, "matching_view")
    user = signed_in_user(request)
    rows = queries.queries_for_case(user, case)
    return {
        "case": case.pk,
        "reference": case.reference,
        "asks": [ask.as_dict() for ask in results.per_agency(rows)],
        "queries": [query_out(row) for row in rows],
        "hits": [hit_out(row, user) for row in queries.hits_for_case(user, case)],
    }


@router.get("/matching/queries", response=list[QueryOut])
@paginate(Page)
def list_queries(request: HttpRequest, direction: str = Direction.OUT) -> Any:
    """Queries this node asked (out) or was asked (in: the central authority's)."""
    user = signed_in_user(request)
    require(Actor.of(user), Permission.VIEW_CASES, what="matching_list", ip=client_ip(request))
    if direction not in Direction.values:
        raise ValidationError(_("The direction is “in” or “out”."))
    rows = queries.incoming(user) if direction == Direction.IN else queries.outgoing(user)
    return [query_out(row) for row in rows]


@router.post("/matching/queries/{query_id}/approve", response=QueryOut)
def approve(request: HttpRequest, query_id: UUID) -> dict[str, Any]:
    row = _incoming(request, query_id, "matching_approve")
    return query_out(services.approve(_actor(request), row, ip=client_ip(request)))


@router.post("/matching/queries/{query_id}/decline", response=QueryOut)
def decline(request: HttpRequest, query_id: UUID, payload: DeclineIn) -> dict[str, Any]:
    row = _incoming(request, query_id, "matching_decline")
    declined = services.decline(_actor(request), row, payload.reason, ip=client_ip(request))
    return query_out(declined)


@router.get("/matching/policies", response=list[dict[str, Any]])
def list_policies(request: HttpRequest) -> list[dict[str, Any]]:
    """What each partner may ask this node (no policy: nothing)."""
    user = signed_in_user(request)
    require(
        Actor.of(user), Permission.MANAGE_MATCHING, what="matching_policies", ip=client_ip(request)
    )
    return [policy_out(peer, row) for peer, row in queries.policies(user)]


@router.put("/matching/policies/{node_id}", response=dict[str, Any])
def set_policy(request: HttpRequest, node_id: str, payload: PolicyIn) -> dict[str, Any]:
    actor, ip = _actor(request), client_ip(request)
    require(actor, Permission.MANAGE_MATCHING, what="matching_policy", ip=ip)
    peer = Peer.objects.filter(node_id=node_id, active=True).first()
    if peer is None:
        raise Http404
    row = services.set_policy(actor, peer, **payload.model_dump(), ip=ip)
    return policy_out(peer, row)


@router.post("/matching/hits/{hit_id}/request", response={201: dict[str, Any]})
def request_details(request: HttpRequest, hit_id: Positive) -> Status:
    """Prüm's second step: a draft assistance request to the hit's partner,
    pre-filled from the hit; complete and submit it as any request."""
    user = signed_in_user(request)
    actor, ip = Actor.of(user), client_ip(request)
    require(actor, Permission.RUN_MATCHING, what="matching_details", ip=ip)
    require(actor, Permission.VIEW_REQUESTS, what="matching_details", ip=ip)
    hit = Hit.objects.restrict(user, "view").select_related("query__case").filter(pk=hit_id)
    found = hit.first()
    if found is None:
        raise Http404
    draft = services.request_details(actor, found, ip=ip)
    return Status(201, {"id": draft.pk, "reference": draft.reference, "state": draft.state})
