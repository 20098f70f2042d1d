"""Sending one query (docs/matching.md 1.7, 2.1, 3.2): the values of one type
blinded under a fresh key and, by default (`MATCHING_PAD_QUERIES`), padded
with random points to a bucket, so the answerer learns the bucket and not
the number of values. The padding counts against the answerer's limits like
any point; so that padding alone never gets a query refused, it is cut to
the most points the answerer said it takes (`limit` of its last
`too_many_values` refusal), and a query refused for its padding when its
values alone would fit is asked again once, cut to the limit the refusal
gave (`ask_again`, called by `asking.receive_refused`).

Used by `services.ask` (an officer asks) and `asking` (the node asks again)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from uuid6 import uuid7

from accord.cases.models import Case
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.federation import services as federation
from accord.federation.models import Peer
from accord.matching import psi
from accord.matching.models import Direction, PeerSet, Query, QueryStatus
from accord.matching.wire import QUERY_KIND, QueryBody

TOO_MANY = "too_many_values"


def known_limit(peer: Peer) -> int:
    """The most points per query `peer` said it takes: the `limit` of its
    latest `too_many_values` refusal to this node (0: none known)."""
    row = (
        Query.objects.filter(
            peer=peer, direction=Direction.OUT, limit__gt=0, refusal__startswith=TOO_MANY
        )
        .order_by("-created_at")
        .values_list("limit", flat=True)
        .first()
    )
    return row or 0


def blind(values: list[str], cap: int) -> psi.Query:
    encoded = [value.encode() for value in values]
    if not settings.MATCHING_PAD_QUERIES:
        return psi.Query(encoded)
    return psi.Query.padded(encoded, cap=cap)


def send(
    actor: Actor,
    case: Case,
    peer: Peer,
    code: str,
    values: list[str],
    purpose: str,
    *,
    fan_out: Any,
    ip: str = "",
    cap: int | None = None,
    again_of: Query | None = None,
) -> Query:
    """Create the query, queue its parts and audit it, in the caller's
    transaction. `cap`: the most points to send when the values fit (None:
    the peer's `known_limit`)."""
    asked = blind(values, known_limit(peer) if cap is None else cap)
    held = PeerSet.objects.filter(peer=peer, code=code).values_list("digest", flat=True).first()
    chunks = psi.chunked(psi.points_to_wire(asked.points), psi.MAX_POINTS_PER_MESSAGE)
    query = Query.objects.create(
        id=uuid7(),
        direction=Direction.OUT,
        peer=peer,
        case=case,
        case_reference=case.reference,
        ask=fan_out,
        purpose=purpose,
        code=code,
        count=len(asked.points),
        values_count=len(asked.unique),
        parts=len(chunks),
        held_set=held or "",
        status=QueryStatus.ASKED,
        # The secret scalar until the answer is in (asking.finish_if_complete deletes it).
        secret=asked.key.scalar.hex(),
        values=[value.decode() for value in asked.unique],
        created_by=again_of.created_by if again_of else actor.user,
        created_at=timezone.now(),
    )
    for index, points in enumerate(chunks):
        body = QueryBody(
            query=str(query.pk),
            part=index,
            parts=len(chunks),
            count=query.count,
            type=code,
            purpose=purpose,
            case=case.reference,
            held_set=query.held_set,
            points=list(points),
        )
        federation.enqueue(peer, QUERY_KIND, body)
    data = {
        "query": str(query.pk),
        "peer": peer.node_id,
        "agency": peer.agency,
        "party": peer.party,
        "ask": str(fan_out),
        "type": code,
        "count": query.count,
        "values": query.values_count,
        "case": case.reference,
        "purpose": purpose,
    }
    if again_of is not None:
        data["again_of"] = str(again_of.pk)
    audit.record(actor, AuditAction.MATCHING_ASK, query, data=data, ip=ip)
    return query


def may_ask_again(query: Query, limit: int) -> bool:
    """Whether a refused query was refused for its padding alone: the
    answerer takes `limit` points, fewer than were sent but no fewer than the
    values. Each new ask sends fewer points, so this ends."""
    return (
        query.case is not None
        and query.values_count > 0
        and query.values_count <= limit < query.count
    )


def ask_again(query: Query, limit: int) -> Query:
    """The same values of the same case, to the same peer, under the same
    ask, with a fresh key and the padding cut to `limit` (the node acts:
    audited as `system:matching`, on behalf of the query's asker)."""
    assert query.case is not None  # may_ask_again
    return send(
        Actor.system("matching"),
        query.case,
        query.peer,
        query.code,
        list(query.values),
        query.purpose,
        fan_out=query.ask or query.pk,
        cap=limit,
        again_of=query,
    )
