"""The evidence.* kinds of conditions and retention (docs/protocol.md):

* `evidence.use-question`: providing node -> receiving node, the provider asks
  how its material was used (usage.ask_use);
* `evidence.use-answer`: back, the answer (usage.answer_use);
* `evidence.purged`: the node that purged the partner's material -> the
  partner: the item, its hash, when and why, and the signed 'purged' custody
  record (retention.purged_confirmation).

The conditions themselves need no kind of their own: they are part of the
shared request (its conditions and restrictions travel with every
assistance.* step), so both nodes read the same ones. Each receiver trusts a
peer only about items on requests it shares with that peer."""

from __future__ import annotations

import base64
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from pydantic import Field

from accord.assistance.wire import Timestamp
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.evidence import custody
from accord.evidence.models import CustodyRecordRow, EvidenceItem, UseQuestion
from accord.federation import kinds, outbox
from accord.federation.kinds import StrictBody

USE_QUESTION_KIND = "evidence.use-question"
USE_ANSWER_KIND = "evidence.use-answer"
PURGED_KIND = "evidence.purged"

ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SHA256 = r"^[0-9a-f]{64}$"
TEXT = 5000


class UseQuestionBody(StrictBody):
    question_id: str = Field(pattern=ID)
    item_id: str = Field(pattern=ID)
    sha256: str = Field(pattern=SHA256)
    question: str = Field(min_length=1, max_length=TEXT)
    asked_by: str = Field(max_length=200)
    asked_at: Timestamp


class UseAnswerBody(StrictBody):
    question_id: str = Field(pattern=ID)
    item_id: str = Field(pattern=ID)
    answer: str = Field(min_length=1, max_length=TEXT)
    answered_by: str = Field(max_length=200)
    answered_at: Timestamp


class PurgedBody(StrictBody):
    item: str = Field(pattern=ID)
    sha256: str = Field(pattern=SHA256)
    purged_at: Timestamp
    reason: str = Field(max_length=10_000)
    record: dict[str, Any]


# ---------------------------------------------------------------- sending


def send(item: EvidenceItem, kind: str, body: StrictBody) -> None:
    """Queue the message to the partner the item's request is shared with, in
    the caller's transaction. An inactive partner gets nothing (it would be
    refused); the local record stands either way."""
    request = item.request
    if request is None or not request.peer.active:
        return
    try:
        outbox.enqueue(request.peer, kind, body)
    except ValidationError:  # deactivated since: nothing to send it to
        return


def lock_channel(item: EvidenceItem) -> None:
    """Take the partner's channel before the item (outbox.lock_peer's order)."""
    if item.request is not None:
        outbox.lock_peer(item.request.peer)


# ---------------------------------------------------------------- receiving


def _shared(peer: Any, item_id: str, sha256: str | None = None) -> EvidenceItem:
    found = EvidenceItem.objects.select_related("request__peer").filter(pk=item_id)
    if sha256 is not None:
        found = found.filter(sha256=sha256)
    item = found.first()
    if item is None or item.request is None or item.request.peer_id != peer.pk:
        raise kinds.Refusal(f"unknown_item: {item_id} is not on a request shared with you")
    return item


def receive_question(peer: Any, body: UseQuestionBody) -> None:
    from accord.evidence import usage

    _shared(peer, body.item_id, body.sha256)
    try:
        usage.receive_question(peer.node_id, body.model_dump())
    except ValueError as exc:
        raise kinds.Refusal(f"not_provided: {exc}") from None


def receive_answer(peer: Any, body: UseAnswerBody) -> None:
    from accord.evidence import usage

    _shared(peer, body.item_id)
    try:
        usage.receive_answer(peer.node_id, body.model_dump())
    except (UseQuestion.DoesNotExist, ValueError):
        raise kinds.Refusal(f"unknown_question: {body.question_id}") from None


def receive_purged(peer: Any, body: PurgedBody) -> None:
    """The partner purged its copy: check its signed record and keep it in the
    item's chain for that node when it follows the records held here (else
    the audit keeps it: the chain's earlier records have not arrived)."""
    item = _shared(peer, body.item, body.sha256)
    try:
        record = custody.Record.from_json(body.record)
    except custody.CustodyError as exc:
        raise kinds.Refusal(f"bad_record: {exc.message}") from None
    if (record.node, record.event, record.item, record.sha256) != (
        peer.node_id,
        "purged",
        str(item.pk),
        item.sha256,
    ):
        raise kinds.Refusal("bad_record: not this peer's purge of this item")
    if not record.signature_ok(base64.b64decode(peer.signing_key)):
        raise kinds.Refusal("bad_record: the signature does not verify")
    with transaction.atomic():
        EvidenceItem.objects.select_for_update().filter(pk=item.pk).first()
        held = CustodyRecordRow.objects.filter(item=item, node=peer.node_id)
        if held.filter(seq=record.seq, hash=record.hash).exists():
            return  # already kept
        last = held.order_by("-seq").first()
        follows = (last is None and record.seq == 0) or (
            last is not None and record.seq == last.seq + 1 and record.prev == last.hash
        )
        if follows:
            CustodyRecordRow.of(item, record).save(force_insert=True)
        audit.record(
            Actor(label=f"peer:{peer.node_id}"),
            AuditAction.EVIDENCE_PURGE_CONFIRMED,
            item,
            data={
                "node": peer.node_id,
                "seq": record.seq,
                "hash": record.hash,
                "reason": record.reason[:300],
                "in_chain": follows,
            },
        )


kinds.register(USE_QUESTION_KIND, UseQuestionBody)(kinds.peer_handler(receive_question))
kinds.register(USE_ANSWER_KIND, UseAnswerBody)(kinds.peer_handler(receive_answer))
kinds.register(PURGED_KIND, PurgedBody)(kinds.peer_handler(receive_purged))
