"""The asking side of hit/no-hit (docs/matching.md 2.4 and 5): the answer
arrives part by part, then the set (unless this node holds it); when all is
in, the hits are computed locally, the query's secret key is deleted and the
hits are stored with opaque references.

Everything a peer sends is checked before it is kept: an answer for a query
this node did not ask of that peer, a part not asked or already answered,
the wrong number of points, a bad point, a set that does not match its
digest. A refusal (`kinds.Refusal`) rolls back everything the message would
have written, so nothing of a refused answer is learnt; the inbox audits it."""

from __future__ import annotations

import base64
import binascii

from django.utils import timezone

from accord.cases.models import Observable
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.federation.kinds import Refusal
from accord.federation.models import Peer
from accord.matching import outgoing, psi
from accord.matching.answering import decode, part_size
from accord.matching.models import (
    Direction,
    Hit,
    Part,
    PartKind,
    PeerSet,
    Query,
    QueryStatus,
)
from accord.matching.wire import AnswerBody, RefusedBody, SetBody


def _pending(peer: Peer, query_id: str) -> Query:
    query = (
        Query.objects.select_for_update()
        .filter(pk=query_id, peer=peer, direction=Direction.OUT)
        .first()
    )
    if query is None:
        raise Refusal("unknown_query: this node asked your node no such query")
    if query.status != QueryStatus.ASKED:
        raise Refusal(f"not_pending: this query is {query.status} already")
    return query


def receive_answer(peer: Peer, body: AnswerBody) -> None:
    query = _pending(peer, body.query)
    if body.part >= query.parts:
        raise Refusal(f"unknown_part: the query has {query.parts} parts")
    if query.received_parts.filter(kind=PartKind.ANSWER, index=body.part).exists():
        raise Refusal(f"duplicate_part: part {body.part} was answered already")
    expected = part_size(query.count, query.parts, body.part)
    if len(body.points) != expected:
        raise Refusal(f"count_mismatch: {len(body.points)} points answered for {expected} asked")
    decode(body.points)
    _check_set_named(query, body)
    Part.objects.create(
        query=query,
        kind=PartKind.ANSWER,
        index=body.part,
        points=body.points,
        set_digest=body.set,
        set_size=body.set_size,
        set_parts=body.set_parts,
    )
    finish_if_complete(query)


def _check_set_named(query: Query, body: AnswerBody) -> None:
    other = query.received_parts.filter(kind=PartKind.ANSWER).first()
    if other is not None and (other.set_digest, other.set_size, other.set_parts) != (
        body.set,
        body.set_size,
        body.set_parts,
    ):
        raise Refusal("bad_set: the parts of the answer name different sets")
    if body.set_parts == 0:
        if body.set != query.held_set or not _held(query, body.set):
            raise Refusal("bad_set: the answer names a set this node does not hold")
    elif body.set_parts != max(1, -(-body.set_size // psi.MAX_TAGS_PER_MESSAGE)):
        raise Refusal("bad_set: the set's size and its number of parts disagree")


def _held(query: Query, digest: str) -> PeerSet | None:
    return PeerSet.objects.filter(peer=query.peer, code=query.code, digest=digest).first()


def receive_set(peer: Peer, body: SetBody) -> None:
    query = _pending(peer, body.query)
    answer = query.received_parts.filter(kind=PartKind.ANSWER).first()
    if answer is None or body.set != answer.set_digest:
        raise Refusal("bad_set: a set that no answer part names")
    if body.part >= answer.set_parts:
        raise Refusal(f"bad_set: the answer announced {answer.set_parts} set parts")
    if query.received_parts.filter(kind=PartKind.SET, index=body.part).exists():
        raise Refusal(f"duplicate_part: set part {body.part} arrived already")
    try:
        raw = base64.b64decode(body.tags, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal("bad_set: the tags are not base64") from None
    full = psi.MAX_TAGS_PER_MESSAGE * psi.TAG_BYTES
    last = body.part == answer.set_parts - 1
    if len(raw) % psi.TAG_BYTES or len(raw) > full or (not last and len(raw) != full):
        raise Refusal("bad_set: a set part holds whole tags, 65,536 in all but the last")
    Part.objects.create(query=query, kind=PartKind.SET, index=body.part, tags=raw)
    finish_if_complete(query)


def finish_if_complete(query: Query) -> None:
    """Once every answer part (and set part) is in: the hits, then forget the key."""
    answers = list(query.received_parts.filter(kind=PartKind.ANSWER).order_by("index"))
    if len(answers) < query.parts:
        return
    first = answers[0]
    sets = list(query.received_parts.filter(kind=PartKind.SET).order_by("index"))
    if len(sets) < first.set_parts:
        return
    blinded = _the_set(query, first, sets)
    reblinded = [point for part in answers for point in decode(part.points)]
    key = psi.Key(bytes.fromhex(query.secret))
    asked = psi.Query.resume([value.encode() for value in query.values], key, query.count)
    try:
        held = asked.matches(reblinded, blinded)
    except psi.PsiError as exc:
        raise Refusal(str(exc)) from None
    _record_hits(query, blinded.digest, {value.decode(): tag for value, tag in held.items()})
    if first.set_parts:  # a new version: keep it; the version held is not written again
        PeerSet.objects.update_or_create(
            peer=query.peer,
            code=query.code,
            defaults={"digest": blinded.digest, "tags": blinded.to_bytes()},
        )
    query.received_parts.all().delete()
    query.status, query.hits, query.secret, query.values = QueryStatus.ANSWERED, len(held), "", []
    query.answered_at = timezone.now()
    query.save(update_fields=["status", "hits", "secret", "values", "answered_at"])
    audit.record(
        Actor(label=f"peer:{query.peer.node_id}"),
        AuditAction.MATCHING_RESULT,
        query,
        data={
            "query": str(query.pk),
            "peer": query.peer.node_id,
            "agency": query.peer.agency,
            "type": query.code,
            "count": query.count,
            "hits": len(held),
            "case": query.case_reference,
        },
    )


def _record_hits(query: Query, digest: str, held: dict[str, int]) -> None:
    """One Hit per value held, with the case's observable: two queries
    whatever the number of hits (a 100,000-value query may have thousands).
    Every value asked is `<code>:<normal>` of this query's type."""
    observables = dict(
        Observable.objects.filter(case=query.case, code=query.code).values_list("normal", "pk")
    )
    Hit.objects.bulk_create(
        Hit(
            query=query,
            peer=query.peer,
            observable_id=observables.get(value.partition(":")[2]),
            reference=f"{query.peer.node_id}/{digest[:16]}/{tag:016x}",
        )
        for value, tag in held.items()
    )


def _the_set(query: Query, first: Part, sets: list[Part]) -> psi.BlindedSet:
    if first.set_parts:
        data = b"".join(bytes(part.tags) for part in sets)
    else:
        held = _held(query, first.set_digest)
        data = bytes(held.tags) if held else b""
    try:
        blinded = psi.BlindedSet.from_bytes(data)
    except psi.PsiError as exc:
        raise Refusal(str(exc)) from None
    if len(blinded) != first.set_size or blinded.digest != first.set_digest:
        raise Refusal("bad_set: the set does not match its size or digest")
    return blinded


def receive_refused(peer: Peer, body: RefusedBody) -> None:
    """The peer's policy refused the query, or its central authority declined
    it. Refused for its padding alone (the values fit in the `limit` the
    peer gave), the same values are asked again at once with the padding
    cut to that limit (`outgoing.ask_again`, audited after the refusal); the
    refused query points to the new one and leaves the ask's results."""
    query = _pending(peer, body.query)
    query.received_parts.all().delete()
    query.status, query.refusal, query.secret = QueryStatus.REFUSED, body.reason, ""
    query.limit = body.limit
    query.save(update_fields=["status", "refusal", "secret", "limit"])
    again = outgoing.may_ask_again(query, body.limit)
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.MATCHING_QUERY_REFUSED,
        query,
        data={
            "query": str(query.pk),
            "peer": peer.node_id,
            "type": query.code,
            "case": query.case_reference,
            "count": query.count,
            "values": query.values_count,
            "reason": body.reason,
            "limit": body.limit,
            "ask_again": again,
        },
    )
    if again:
        query.asked_again = outgoing.ask_again(query, body.limit).pk
    query.values = []  # the key is gone, and so are the values asked (docs/matching.md 4)
    query.save(update_fields=["asked_again", "values"])
