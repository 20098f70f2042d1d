"""The answering side of hit/no-hit (docs/matching.md sections 2 and 5): a
peer's query arrives part by part; the policy decides on the first part;
each accepted part is answered with this node's key, and the blinded set is
sent once per query unless the asker holds it already.

What this node keeps of a query: its size, type, purpose and case reference
(all stated by the asker; the size is the number of points, which the asker
pads to a bucket by default, so not the number of values asked), and the
blinded points only while a query waits for approval. Never a value of the
asker: it never has one."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django_tasks import task

from accord.core import audit, tasks
from accord.core.audit import Actor, AuditAction
from accord.federation import services as federation
from accord.federation.kinds import Refusal
from accord.federation.models import Peer
from accord.matching import psi, sets
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
    if query.status == QueryStatus.ANSWERED and _answers_now(query, body.part):
        answer_part(query, body.part, points)
        return
    Part.objects.create(query=query, kind=PartKind.QUERY, index=body.part, points=body.points)
    if query.status == QueryStatus.ANSWERED:
        answer_later(query)


def _answers_now(query: Query, index: int) -> bool:
    """Whether part `index` is answered in this transaction: it is the next
    part to answer (parts are answered in order, so part 0 fixes the set
    version and sends the set), no earlier part waits, and the set is at
    hand or cheap to build."""
    if index != answered_parts(query) or waiting_parts(query).exists():
        return False
    return _set_at_hand(query)


def _set_at_hand(query: Query) -> bool:
    return bool(query.answer_key) or sets.kept(query.code) is not None or sets.small(query.code)


def answer_waiting(query: Query) -> None:
    """Answer the parts that wait (after an approval), in order: now when the
    set is at hand, else through the task worker."""
    if not waiting_parts(query).exists():
        return
    if not _set_at_hand(query):
        answer_later(query)
        return
    for part in waiting_parts(query):
        if part.index != answered_parts(query):
            break  # an earlier part has not arrived; it brings the rest along
        answer_part(query, part.index, decode(part.points))


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
    reason, limit = policy_refusal(peer, body)
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
            RefusedBody(query=str(query.pk), reason=reason, limit=limit),
            action=AuditAction.MATCHING_QUERY_REFUSED,
            target=query,
            data={**facts, "reason": reason, "limit": limit},
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


def policy_refusal(peer: Peer, body: QueryBody) -> tuple[str, int]:
    """Why this node's policy refuses the query, or "", and the most points
    it would take for it now (docs/matching.md 3; 0 when no number would do).
    A padded query's `count` includes its padding, and this node cannot tell
    padding from values: it counts and names points."""
    policy = MatchingPolicy.objects.filter(peer=peer).first()
    if policy is None:
        return "no_policy: this node answers no hit/no-hit queries from your node", 0
    if body.type not in policy.types:
        allowed = ", ".join(policy.types) or "none"
        return f"type_not_allowed: {body.type} may not be asked (allowed: {allowed})", 0
    if body.count > policy.max_values:
        return (
            f"too_many_values: {body.count} points asked (values and any padding), "
            f"at most {policy.max_values} per query",
            policy.max_values,
        )
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
            f"rate_limited: {used} points asked in the last 24 hours, "
            f"{body.count} more would pass the limit of {policy.per_day}",
            max(0, policy.per_day - used),
        )
    return "", 0


def answer_part(query: Query, index: int, points: list[bytes]) -> None:
    """Reblind one part with the key of the query's set version, fixed by its
    first part from the current set (built here when it is not current)."""
    if not query.answer_key:
        _fix_version(query, sets.current_set(query.code))
    send_answer(query, index, reblind(query.answer_key, points))


def reblind(key: str, points: list[bytes]) -> list[bytes]:
    try:
        return psi.reblind(psi.Key(bytes.fromhex(key)), points)
    except psi.PsiError as exc:
        raise Refusal(str(exc)) from None


def _fix_version(query: Query, row: AnswererSet) -> None:
    query.answer_key, query.answered_set, query.answered_size = row.key, row.digest, row.size


def send_answer(query: Query, index: int, reblinded: list[bytes]) -> None:
    """Send part `index`'s answer; with part 0, the set unless the asker holds
    this version of it (then the set is not even read from the database: a
    repeat query costs the same whatever its size). Marks the part answered,
    and forgets the version's key once every part is."""
    set_parts = 0
    if query.held_set != query.answered_set:
        set_parts = max(1, -(-query.answered_size // psi.MAX_TAGS_PER_MESSAGE))
    body = AnswerBody(
        query=str(query.pk),
        part=index,
        set=query.answered_set,
        set_size=query.answered_size,
        set_parts=set_parts,
        points=psi.points_to_wire(reblinded),
    )
    federation.enqueue(query.peer, ANSWER_KIND, body)
    if index == 0 and set_parts:
        tags = (
            AnswererSet.objects.filter(code=query.code, digest=query.answered_set)
            .values_list("tags", flat=True)
            .get()
        )
        for number, chunk in enumerate(_set_chunks(bytes(tags))[:set_parts]):
            piece = SetBody(query=str(query.pk), set=query.answered_set, part=number, tags=chunk)
            federation.enqueue(query.peer, SET_KIND, piece)
    Part.objects.update_or_create(
        query=query, kind=PartKind.QUERY, index=index, defaults={"points": []}
    )
    if answered_parts(query) == query.parts:
        query.answer_key = ""
    query.status, query.answered_at = QueryStatus.ANSWERED, timezone.now()
    query.save(
        update_fields=["status", "answered_set", "answered_size", "answer_key", "answered_at"]
    )
    audit.record(
        Actor(label=f"peer:{query.peer.node_id}"),
        AuditAction.MATCHING_ANSWER,
        query,
        data={**describe(query), "part": index, "set": query.answered_set, "set_parts": set_parts},
    )


def answered_parts(query: Query) -> int:
    return query.received_parts.filter(kind=PartKind.QUERY, points=[]).count()


def waiting_parts(query: Query) -> QuerySet[Part]:
    """The parts received and not answered yet, in order."""
    return query.received_parts.filter(kind=PartKind.QUERY).exclude(points=[]).order_by("index")


def _set_chunks(data: bytes) -> list[str]:
    step = psi.MAX_TAGS_PER_MESSAGE * psi.TAG_BYTES
    pieces = [data[start : start + step] for start in range(0, len(data), step)] or [b""]
    return [base64.b64encode(piece).decode("ascii") for piece in pieces]


def answer_later(query: Query) -> None:
    """Hand the waiting parts to the task worker. Enqueued in this
    transaction: the worker sees the task exactly when the parts exist."""
    query.task = str(answer_in_background.enqueue(str(query.pk)).id)
    query.save(update_fields=["task"])


@task()
def answer_in_background(query_id: str) -> str:
    """The worker's entry point; returns how far it got."""
    return answer_waiting_parts(uuid.UUID(query_id))


def answer_waiting_parts(query_id: uuid.UUID) -> str:
    """Answer a query's waiting parts in order, computing outside any
    transaction: the set (when it is not current) and each part's reblinding.
    Each answer is then sent in a short transaction that checks nothing
    changed meanwhile (a set built again, a part answered by another worker)
    and otherwise goes round again. Bounded: what is left after that many
    rounds waits for the clock to enqueue the query again."""
    query = Query.objects.select_related("peer").get(pk=query_id)
    for _round in range(query.parts + sets.PREPARE_ATTEMPTS):
        query.refresh_from_db()
        part = waiting_parts(query).first()
        if query.status != QueryStatus.ANSWERED or part is None:
            return "done"
        if part.index != answered_parts(query):
            return "waiting"  # an earlier part has not arrived; it enqueues the rest
        row = None if query.answer_key else sets.prepare(query.code)
        key = query.answer_key if row is None else row.key
        reblinded = reblind(key, decode(part.points))
        with transaction.atomic():
            federation.lock_peer(query.peer)
            locked = Query.objects.select_for_update().get(pk=query_id)
            if locked.status != QueryStatus.ANSWERED or locked.answer_key != query.answer_key:
                continue
            if not waiting_parts(locked).filter(index=part.index).exists():
                continue
            if row is not None:
                current = sets.kept(locked.code)
                if current is None or current.digest != row.digest:
                    continue  # the values changed while the set was built: build again
                _fix_version(locked, current)
            send_answer(locked, part.index, reblinded)
    return "unfinished"


def resume_stalled() -> int:
    """Enqueue again each query whose next part waits while no task is
    waiting or running for it (its worker stopped, or the task gave up).
    Run by the clock; returns how many."""
    resumed = 0
    waiting = Query.objects.filter(
        direction=Direction.IN,
        status=QueryStatus.ANSWERED,
        received_parts__kind=PartKind.QUERY,
    ).exclude(received_parts__points=[])
    for query in waiting.distinct():
        if tasks.still_waiting(query.task):
            continue
        first = waiting_parts(query).first()
        if first is None or first.index != answered_parts(query):
            continue
        with transaction.atomic():
            locked = Query.objects.select_for_update().get(pk=query.pk)
            if locked.task != query.task:
                continue  # enqueued again meanwhile
            answer_later(locked)
        resumed += 1
    return resumed
