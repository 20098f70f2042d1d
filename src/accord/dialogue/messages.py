"""The dialogue.* message kinds. A node accepts from its partner only what the
partner authors: its own dialogues, rounds, delegation, outcome proposals,
signatures (checked against the partner's pinned key), positions, and the
status of what it owes. Anything else is refused with a reason."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.dialogue import services as s
from accord.dialogue.models import (
    Commitment,
    Dialogue,
    Disagreement,
    DisagreementEvent,
    Outcome,
    OutcomeSignature,
    OutcomeVersion,
    Round,
)
from accord.federation import kinds
from accord.federation.models import Peer


def _mine(context: kinds.InboundContext, node: str, what: str) -> None:
    if node != context.peer.node_id:
        raise kinds.Refusal(f"not_author: {what} is written by {node}, not by the sender")


def _record(peer: Peer, target: Any, what: str) -> None:
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.DIALOGUE_RECEIVE,
        target,
        data={"what": what},
    )


def _dialogue(peer: Peer, dialogue_id: str) -> Dialogue:
    found = Dialogue.objects.filter(pk=dialogue_id, peer=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_dialogue: no such dialogue with this peer")
    return found


def _round(peer: Peer, round_id: str) -> Round:
    found = Round.objects.filter(pk=round_id, dialogue__peer=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_round: no such round with this peer")
    return found


def _check_signature(peer: Peer, block: s.SignatureBlock, sha256: str) -> None:
    pinned = {peer.signing_key, peer.previous_signing_key} - {""}
    if block.public_key not in pinned:
        raise kinds.Refusal("bad_signature: not signed with the key pinned for this peer")
    if not s.verify_signature(block.model_dump(), sha256):
        raise kinds.Refusal("bad_signature: the signature does not verify")


@kinds.register(s.DIALOGUE_KIND, s.DialogueBody)  # type: ignore[arg-type]
def receive_dialogue(context: kinds.InboundContext, body: s.DialogueBody) -> None:
    _mine(context, body.author_node, "a dialogue")
    found = Dialogue.objects.filter(pk=body.id).first()
    if found is not None and (found.author_node != body.author_node or found.peer != context.peer):
        raise kinds.Refusal("not_author: this dialogue belongs to another node")
    dialogue, _ = Dialogue.objects.update_or_create(
        id=uuid.UUID(body.id),
        defaults={
            "track": body.track,
            "title_en": body.title_en,
            "title_zh": body.title_zh,
            "peer": context.peer,
            "author_node": body.author_node,
            "created_at": datetime.fromisoformat(body.created_at),
        },
    )
    _record(context.peer, dialogue, "dialogue")


@kinds.register(s.ROUND_KIND, s.RoundBody)  # type: ignore[arg-type]
def receive_round(context: kinds.InboundContext, body: s.RoundBody) -> None:
    dialogue = _dialogue(context.peer, body.dialogue_id)
    found = Round.objects.filter(pk=body.id).first()
    if found is not None and found.author_node != context.peer.node_id:
        raise kinds.Refusal("not_author: this node keeps that round's record")
    clash = Round.objects.filter(dialogue=dialogue, number=body.number).exclude(pk=body.id)
    if clash.exists():
        raise kinds.Refusal(f"round_exists: round {body.number} is already recorded")
    round_, _ = Round.objects.update_or_create(
        id=uuid.UUID(body.id),
        defaults={
            "dialogue": dialogue,
            "number": body.number,
            "date": date.fromisoformat(body.date),
            "venue_en": body.venue_en,
            "venue_zh": body.venue_zh,
            "topics": [str(t) for t in body.topics],
            "documents": body.documents,
            "author_node": context.peer.node_id,
        },
    )
    _record(context.peer, round_, "round")


@kinds.register(s.DELEGATION_KIND, s.DelegationBody)  # type: ignore[arg-type]
def receive_delegation(context: kinds.InboundContext, body: s.DelegationBody) -> None:
    _mine(context, body.node, "a delegation")
    round_ = _round(context.peer, body.round_id)
    people = [
        {
            "role": str(p.get("role", "member"))[:16],
            "name": str(p.get("name", ""))[:300],
            "title": str(p.get("title", ""))[:300],
            "position": int(p.get("position", 0)),
        }
        for p in body.people
    ]
    s._replace_delegation(round_, body.node, people)
    _record(context.peer, round_, "delegation")


@kinds.register(s.OUTCOME_KIND, s.OutcomeBody)  # type: ignore[arg-type]
def receive_outcome(context: kinds.InboundContext, body: s.OutcomeBody) -> None:
    _mine(context, body.author_node, "an outcome")
    _mine(context, body.signature.node, "the proposer's signature")
    round_ = _round(context.peer, body.round_id)
    outcome = Outcome.objects.filter(pk=body.id).first()
    if outcome is None:
        outcome = Outcome.objects.create(
            id=uuid.UUID(body.id),
            round=round_,
            topic=body.topic,
            author_node=body.author_node,
            created_at=datetime.fromisoformat(body.created_at),
        )
    elif outcome.author_node != body.author_node or outcome.round_id != round_.pk:
        raise kinds.Refusal("not_author: this outcome was proposed by another node")
    latest = outcome.latest()
    if body.version != (latest.version + 1 if latest else 1):
        raise kinds.Refusal(
            f"version_conflict: expected version "
            f"{latest.version + 1 if latest else 1}, got {body.version}"
        )
    content = s.outcome_content(outcome, body.version, body.text_en, body.text_zh)
    if s.content_hash(content) != body.content_sha256:
        raise kinds.Refusal("content_mismatch: the text does not match its SHA-256")
    _check_signature(context.peer, body.signature, body.content_sha256)
    version = OutcomeVersion.objects.create(
        outcome=outcome,
        version=body.version,
        text_en=body.text_en,
        text_zh=body.text_zh,
        content_sha256=body.content_sha256,
        created_at=datetime.fromisoformat(body.created_at),
    )
    OutcomeSignature.objects.create(version=version, **body.signature.model_dump())
    _record(context.peer, outcome, f"outcome v{body.version}")


@kinds.register(s.SIGNATURE_KIND, s.SignatureBody)  # type: ignore[arg-type]
def receive_signature(context: kinds.InboundContext, body: s.SignatureBody) -> None:
    _mine(context, body.signature.node, "a signature")
    version = OutcomeVersion.objects.filter(
        outcome_id=body.outcome_id,
        version=body.version,
        outcome__round__dialogue__peer=context.peer,
    ).first()
    if version is None:
        raise kinds.Refusal("unknown_outcome: no such outcome version with this peer")
    if version.content_sha256 != body.content_sha256:
        raise kinds.Refusal("content_mismatch: the signature covers other content")
    if version.signatures.filter(node=body.signature.node).exists():
        raise kinds.Refusal("already_signed: this node already signed this version")
    _check_signature(context.peer, body.signature, body.content_sha256)
    OutcomeSignature.objects.create(version=version, **body.signature.model_dump())
    _record(context.peer, version.outcome, f"signature v{body.version}")


@kinds.register(s.DISAGREEMENT_KIND, s.DisagreementBody)  # type: ignore[arg-type]
def receive_disagreement(context: kinds.InboundContext, body: s.DisagreementBody) -> None:
    _mine(context, body.author_node, "a disagreement")
    dialogue = _dialogue(context.peer, body.dialogue_id)
    if Disagreement.objects.filter(pk=body.id).exists():
        raise kinds.Refusal("duplicate: this disagreement is already recorded")
    round_ = _round(context.peer, body.round_id) if body.round_id else None
    item = Disagreement.objects.create(
        id=uuid.UUID(body.id),
        dialogue=dialogue,
        round=round_,
        topic=body.topic,
        issue_en=body.issue_en,
        issue_zh=body.issue_zh,
        status="open",
        status_at=body.opened_at,
        status_node=body.author_node,
        author_node=body.author_node,
        created_at=datetime.fromisoformat(body.created_at),
    )
    DisagreementEvent.objects.create(
        disagreement=item,
        at=body.opened_at,
        node=body.author_node,
        actor_name=body.actor_name,
        kind="opened",
        data={"issue_en": body.issue_en},
    )
    _record(context.peer, item, "disagreement")


def _disagreement(peer: Peer, item_id: str) -> Disagreement:
    found = Disagreement.objects.filter(pk=item_id, dialogue__peer=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_disagreement: no such disagreement with this peer")
    return found


@kinds.register(s.POSITION_KIND, s.PositionBody)  # type: ignore[arg-type]
def receive_position(context: kinds.InboundContext, body: s.PositionBody) -> None:
    _mine(context, body.node, "a position")
    item = _disagreement(context.peer, body.disagreement_id)
    s._apply_position(item, body)
    _record(context.peer, item, "position")


@kinds.register(s.STATUS_KIND, s.StatusBody)  # type: ignore[arg-type]
def receive_status(context: kinds.InboundContext, body: s.StatusBody) -> None:
    _mine(context, body.node, "a status change")
    item = Disagreement.objects.select_for_update().filter(pk=body.disagreement_id).first()
    if item is None or item.dialogue.peer != context.peer:
        raise kinds.Refusal("unknown_disagreement: no such disagreement with this peer")
    s._apply_status(item, body)
    _record(context.peer, item, "status")


@kinds.register(s.COMMITMENT_KIND, s.CommitmentBody)  # type: ignore[arg-type]
def receive_commitment(context: kinds.InboundContext, body: s.CommitmentBody) -> None:
    found = Commitment.objects.filter(pk=body.id).first()
    if found is None:
        _mine(context, body.author_node, "a new commitment")
        outcome = Outcome.objects.filter(
            pk=body.outcome_id, round__dialogue__peer=context.peer
        ).first()
        if outcome is None:
            raise kinds.Refusal("unknown_outcome: no such outcome with this peer")
        found = Commitment(
            id=uuid.UUID(body.id),
            outcome=outcome,
            author_node=body.author_node,
            title_en=body.title_en,
            title_zh=body.title_zh,
            owner_node=body.owner_node,
            due_date=date.fromisoformat(body.due_date),
            indicators=body.indicators,
        )
        if body.owner_node not in s.parties(outcome.round.dialogue):
            raise kinds.Refusal("invalid_body: the owner must be one of the two sides")
        try:
            found.indicators = s.validate_links(body.indicators)
        except ValidationError as exc:
            raise kinds.Refusal("invalid_body: " + " ".join(exc.messages)) from None
    elif found.owner_node != context.peer.node_id:
        raise kinds.Refusal("not_owner: only the side that owes a commitment reports on it")
    found.status, found.updated_at, found.history = body.status, body.updated_at, body.history
    found.save()
    _record(context.peer, found, "commitment")
