"""The answering side of hit/no-hit (docs/matching.md sections 2 and 5): a
peer's query arrives part by part; the policy decides on the first part;
each accepted part is answered with this node's key, and the blinded set is
sent once per query unless the asker holds it already.

What this node keeps of a query: its size, type, purpose and case reference
(all stated by the asker), and the blinded points only while a query waits
for approval. Never a value of the asker: it never has one."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from accord.cases.models import Observable
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.federation import services as federation
from accord.federation.kinds import Refusal
from accord.federation.models import Peer
from accord.matching import psi
from accord.matching.models import (
    AnswererSet,
    Direction,
    MatchingPolicy,
    Part,
    PartKind,
    Query,
    QueryStatus,
)
from accord.matching.wire import (
    ANSWER_KIND,
    REFUSED_KIND,
    SET_KIND,
    AnswerBody,
    QueryBody,
    RefusedBody,
    SetBody,
)

DAY = timedelta(hours=24)


def part_size(count: int, parts: int, index: int) -> int:
    """How many points part `index` of a query of `count` points holds
    (docs/matching.md 2.1: every part but the last holds exactly 16,000)."""
    full = psi.MAX_POINTS_PER_MESSAGE
    return full if index < parts - 1 else count - full * (parts - 1)


def check_shape(body: QueryBody) -> None:
    full = psi.MAX_POINTS_PER_MESSAGE
    if body.parts != -(-body.count // full):
        raise Refusal(f"bad_part: {body.count} points come in {-(-body.count // full)} parts")
    if body.part >= body.parts:
        raise Refusal(f"bad_part: part {body.part} of {body.parts}")
    expected = part_size(body.count, body.parts, body.part)
    if len(body.points) != expected:
        raise Refusal(f"count_mismatch: part {body.part} must hold {expected} points")


def decode(points: list[str]) -> list[bytes]:
    try:
        return psi.points_from_wire(points)
    except psi.PsiError as exc:
        raise Refusal(str(exc)) from None


def receive_query(peer: Peer, body: QueryBody) -> None:
    """One part of a peer's query."""
    check_shape(body)
    points = decode(body.points)
    query = Query.objects.select_for_update().filter(pk=body.query).first()
    if query is None:
        query = _open(peer, body)
    elif query.peer_id != peer.pk or query.direction != Direction.IN:
        raise Refusal("unknown_query: this id belongs to another query")
    else:
        _check_same(query, body)
    if query.status in (QueryStatus.REFUSED, QueryStatus.DECLINED):
        return  # the asker was told once, on the first part
    if query.received_parts.filter(kind=PartKind.QUERY, index=body.part).exists():
        raise Refusal(f"duplicate_part: part {body.part} of this query arrived already")
    if query.status == QueryStatus.AWAITING_APPROVAL:
        Part.objects.create(query=query, kind=PartKind.QUERY, index=body.part, points=body.points)
        return
    answer_part(query, body.part, points)


def _check_same(query: Query, body: QueryBody) -> None:
    same = (
        query.count == body.count
        and query.parts == body.parts
        and query.code == body.type
        and query.purpose == body.purpose
        and query.case_reference == body.case
        and query.held_set == body.held_set
    )
    if not same:
        raise Refusal("inconsistent_part: the parts of one query must agree")


def _open(peer: Peer, body: QueryBody) -> Query:
    """The first part of a query: record it and apply the policy."""
    reason = policy_refusal(peer, body)
    query = Query.objects.create(
        id=body.query,
        direction=Direction.IN,
        peer=peer,
        case_reference=body.case,
        purpose=body.purpose,
        code=body.type,
        count=body.count,
        parts=body.parts,
        held_set=body.held_set,
        status=QueryStatus.REFUSED if reason else QueryStatus.ANSWERED,
        refusal=reason,
        created_at=timezone.now(),
    )
    actor = Actor(label=f"peer:{peer.node_id}")
    facts = describe(query)
    if reason:
        federation.publish(
            actor,
            peer,
            REFUSED_KIND,
            RefusedBody(query=str(query.pk), reason=reason),
            action=AuditAction.MATCHING_QUERY_REFUSED,
            target=query,
            data={**facts, "reason": reason},
        )
        return query
    policy = MatchingPolicy.objects.get(peer=peer)
    if policy.needs_approval:
        query.status = QueryStatus.AWAITING_APPROVAL
        query.save(update_fields=["status"])
    audit.record(actor, AuditAction.MATCHING_RECEIVE, query, data={**facts, "status": query.status})
    return query


def describe(query: Query) -> dict[str, object]:
    """What the audit says of a query: never a value (the answerer has none)."""
    return {
        "query": str(query.pk),
        "peer": query.peer.node_id,
        "type": query.code,
        "count": query.count,
        "case": query.case_reference,
        "purpose": query.purpose,
    }


def policy_refusal(peer: Peer, body: QueryBody) -> str:
    """Why this node's policy refuses the query, or "" (docs/matching.md 3)."""
    policy = MatchingPolicy.objects.filter(peer=peer).first()
    if policy is None:
        return "no_policy: this node answers no hit/no-hit queries from your node"
    if body.type not in policy.types:
        allowed = ", ".join(policy.types) or "none"
        return f"type_not_allowed: {body.type} may not be asked (allowed: {allowed})"
    if body.count > policy.max_values:
        return f"too_many_values: {body.count} values asked, at most {policy.max_values}"
    used = (
        Query.objects.filter(
            peer=peer, direction=Direction.IN, created_at__gte=timezone.now() - DAY
        )
        .exclude(status__in=[QueryStatus.REFUSED, QueryStatus.DECLINED])
        .aggregate(total=Sum("count"))["total"]
        or 0
    )
    if used + body.count > policy.per_day:
        return (
            f"rate_limited: {used} values asked in the last 24 hours, "
            f"{body.count} more would pass the limit of {policy.per_day}"
        )
    return ""


def answer_part(query: Query, index: int, points: list[bytes]) -> None:
    """Reblind one part with this node's key; after part 0, send the set
    unless the asker holds this version of it (then the set is not even read
    from the database: a repeat query costs the same whatever its size)."""
    current = current_set(query.code)
    try:
        reblinded = psi.reblind(psi.Key(bytes.fromhex(current.key)), points)
    except psi.PsiError as exc:
        raise Refusal(str(exc)) from None
    set_parts = 0
    if query.held_set != current.digest:
        set_parts = max(1, -(-current.size // psi.MAX_TAGS_PER_MESSAGE))
    body = AnswerBody(
        query=str(query.pk),
        part=index,
        set=current.digest,
        set_size=current.size,
        set_parts=set_parts,
        points=psi.points_to_wire(reblinded),
    )
    federation.enqueue(query.peer, ANSWER_KIND, body)
    if index == 0 and set_parts:
        for number, tags in enumerate(_set_chunks(bytes(current.tags))[:set_parts]):
            chunk = SetBody(query=str(query.pk), set=current.digest, part=number, tags=tags)
            federation.enqueue(query.peer, SET_KIND, chunk)
    Part.objects.update_or_create(
        query=query, kind=PartKind.QUERY, index=index, defaults={"points": []}
    )
    query.status, query.answered_set = QueryStatus.ANSWERED, current.digest
    query.answered_at = timezone.now()
    query.save(update_fields=["status", "answered_set", "answered_at"])
    audit.record(
        Actor(label=f"peer:{query.peer.node_id}"),
        AuditAction.MATCHING_ANSWER,
        query,
        data={**describe(query), "part": index, "set": current.digest, "set_parts": set_parts},
    )


def _set_chunks(data: bytes) -> list[str]:
    step = psi.MAX_TAGS_PER_MESSAGE * psi.TAG_BYTES
    pieces = [data[start : start + step] for start in range(0, len(data), step)] or [b""]
    return [base64.b64encode(piece).decode("ascii") for piece in pieces]


def fingerprint(code: str) -> str:
    """Changes whenever an observable of this type is added: ids only grow
    (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so the newest id of
    the type names the last addition. One index probe per query, where
    counting and summing the type's ids scanned them all (0.2 to 0.5 s at
    1,000,000 on PostgreSQL, half a repeat query's budget). A removal is
    caught by `forget_on_removal`."""
    newest = (
        Observable.objects.filter(code=code).order_by("-pk").values_list("pk", flat=True).first()
    )
    return f"newest:{newest or 0}"


@receiver(post_delete, sender=Observable)
def forget_on_removal(sender: type[Observable], instance: Observable, **kwargs: Any) -> None:
    """A value removed from the node must leave its blinded set: the next
    query builds the set again (under a new key), in this same transaction
    the removal's. Every removal through the ORM sends this signal, a case's
    cascade too."""
    AnswererSet.objects.filter(code=instance.code).update(fingerprint="")


def current_set(code: str) -> AnswererSet:
    """This node's blinded set for `code`, built again under a fresh key when
    the node's values of that type changed (docs/matching.md 1.8: every
    version of the set has its own key, so an asker cannot re-check old
    answers against a new version). A kept set's tags (8 MB for 1,000,000
    values) are read only when they are sent."""
    mark = fingerprint(code)
    kept = AnswererSet.objects.select_for_update().defer("tags").filter(code=code).first()
    if kept is not None and kept.fingerprint == mark:
        return kept
    normals = Observable.objects.filter(code=code).values_list("normal", flat=True).distinct()
    key = psi.Key.generate()
    built = psi.BlindedSet.build(key, [f"{code}:{n}".encode() for n in normals], pad=True)
    fields = {
        "key": key.scalar.hex(),
        "tags": built.to_bytes(),
        "digest": built.digest,
        "size": len(built),
        "fingerprint": mark,
    }
    row, _created = AnswererSet.objects.update_or_create(code=code, defaults=fields)
    return row
