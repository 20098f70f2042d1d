"""Reads of hit/no-hit, restricted by need-to-know in one place
(`Query.restriction`, `Hit.restriction`): a case's queries and hits are
visible exactly to those who may open the case; incoming queries to the
central authority (who decides them) and auditors."""

from __future__ import annotations

from typing import Any

from accord.cases import policy as cases_policy
from accord.cases.models import Case
from accord.core.models import User
from accord.federation.models import Peer
from accord.matching import policy
from accord.matching.models import Direction, Hit, MatchingPolicy, Query


def queries_for_case(user: User, case: Case) -> list[Query]:
    if not cases_policy.sees(user, case):
        return []
    return list(Query.objects.filter(case=case, direction=Direction.OUT).select_related("peer"))


def hits_for_case(user: User, case: Case) -> list[Hit]:
    if not cases_policy.sees(user, case):
        return []
    return list(
        Hit.objects.filter(query__case=case)
        .select_related("query", "query__peer", "peer", "observable")
        .order_by("query__created_at", "pk")
    )


def hits_of_request(user: User, request: Any) -> list[Hit]:
    """The hits an assistance request was drafted from ("Request details"),
    as far as this user may see them: the request page links back to them."""
    return list(
        Hit.objects.restrict(user, "view")
        .filter(request=request)
        .select_related("query", "query__peer", "query__case", "observable")
        .distinct()
    )


def incoming(user: User) -> list[Query]:
    return list(
        Query.objects.restrict(user, "view")
        .filter(direction=Direction.IN)
        .select_related("peer", "decided_by")
        .distinct()
    )


def outgoing(user: User) -> list[Query]:
    return list(
        Query.objects.restrict(user, "view")
        .filter(direction=Direction.OUT)
        .select_related("peer", "case", "created_by")
        .distinct()
    )


def policies(user: User) -> list[tuple[Peer, MatchingPolicy | None]]:
    """Every active peer with its policy (None: it may ask nothing), for those
    the policy lets read them (READ_POLICIES: the central authority)."""
    if policy.allowed(user, policy.READ_POLICIES) is not None:
        return []
    kept = {row.peer_id: row for row in MatchingPolicy.objects.all()}
    return [
        (peer, kept.get(peer.pk)) for peer in Peer.objects.filter(active=True).order_by("node_id")
    ]
