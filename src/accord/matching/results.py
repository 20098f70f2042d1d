"""The results of a case's hit/no-hit asks, per answering agency: one ask
(an officer's "ask", fanned out to one or several partners) has one query per
partner and observable type; its result for a partner reads as one line —
that agency's node id, agency and party, and hit, no hit, still waiting or
refused. Read from the queries the user may see (`queries.queries_for_case`),
so need-to-know stays where it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils.translation import gettext_lazy as _

from accord.federation import parties
from accord.federation.models import Peer
from accord.matching.models import Query, QueryStatus

HIT = "hit"
NO_HIT = "no_hit"
WAITING = "waiting"
REFUSED = "refused"

OUTCOMES = {
    HIT: _("hit"),
    NO_HIT: _("no hit"),
    WAITING: _("still waiting"),
    REFUSED: _("refused"),
}


@dataclass
class AgencyResult:
    """One partner's answer to one ask, over the types asked."""

    peer: Peer
    queries: list[Query] = field(default_factory=list)

    @property
    def hits(self) -> int:
        return sum(q.hits for q in self.queries if q.status == QueryStatus.ANSWERED)

    @property
    def outcome(self) -> str:
        """A hit is a hit as soon as it is known; else waiting, refused, no hit."""
        statuses = {q.status for q in self.queries}
        if self.hits:
            return HIT
        if statuses - {QueryStatus.ANSWERED, QueryStatus.REFUSED, QueryStatus.DECLINED}:
            return WAITING
        if statuses & {QueryStatus.REFUSED, QueryStatus.DECLINED}:
            return REFUSED
        return NO_HIT

    @property
    def outcome_label(self) -> str:
        return str(OUTCOMES[self.outcome])

    @property
    def label(self) -> str:
        return parties.label(self.peer)

    @property
    def refusal(self) -> str:
        return "; ".join(sorted({q.refusal for q in self.queries if q.refusal}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.peer.node_id,
            "agency": self.peer.agency,
            "party": self.peer.party,
            "label": self.label,
            "result": self.outcome,
            "hits": self.hits,
            "refusal": self.refusal,
            "queries": [str(q.pk) for q in self.queries],
        }


@dataclass
class AskResult:
    """One ask: when, why, and each asked partner's result."""

    id: UUID
    purpose: str
    created_at: datetime
    agencies: list[AgencyResult]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "purpose": self.purpose,
            "created_at": self.created_at,
            "agencies": [agency.as_dict() for agency in self.agencies],
        }


def per_agency(queries: list[Query]) -> list[AskResult]:
    """Group a case's outgoing queries by ask (newest first), then by
    partner (by party, then node id). A query asked before asks were
    recorded is an ask of its own. A query refused for its padding and
    asked again (`Query.asked_again`) gives way to the query that replaced
    it."""
    asks: dict[UUID, AskResult] = {}
    by_peer: dict[tuple[UUID, int], AgencyResult] = {}
    for query in sorted(queries, key=lambda q: q.created_at, reverse=True):
        if query.asked_again:
            continue
        key = query.ask or query.pk
        ask = asks.get(key)
        if ask is None:
            ask = asks[key] = AskResult(key, query.purpose, query.created_at, [])
        agency = by_peer.get((key, query.peer_id))
        if agency is None:
            agency = by_peer[(key, query.peer_id)] = AgencyResult(query.peer)
            ask.agencies.append(agency)
        agency.queries.append(query)
    for ask in asks.values():
        ask.agencies.sort(key=lambda a: (a.peer.party, a.peer.node_id))
        ask.created_at = min(q.created_at for a in ask.agencies for q in a.queries)
    return list(asks.values())


__all__ = ["OUTCOMES", "AgencyResult", "AskResult", "per_agency"]
