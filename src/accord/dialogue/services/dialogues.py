"""Dialogues, their rounds, and each side's delegation to a round."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.dialogue import wire
from accord.dialogue.fields import clean_text
from accord.dialogue.models import DelegateEntry, Dialogue, Round
from accord.dialogue.policy import Action, enforce
from accord.dialogue.services.partner import (
    participant_peers,
    publish,
    received,
    require_author,
    shared_dialogue,
    shared_round,
)
from accord.dialogue.types import DelegationRole, Topic, Track
from accord.federation import kinds
from accord.federation.models import Peer
from accord.federation.parties import other_side


def create_dialogue(
    actor: Actor,
    peer: Peer | Sequence[Peer],
    track: str,
    title_en: str,
    title_zh: str,
    *,
    ip: str = "",
) -> Dialogue:
    """A dialogue this node holds with one peer or several (agencies of the
    other party, and possibly other agencies of this node's own)."""
    enforce(actor, Action.CREATE_DIALOGUE, ip=ip)
    if track not in Track.values:
        raise ValidationError(_("Unknown track."))
    peers = list({p.node_id: p for p in ([peer] if isinstance(peer, Peer) else peer)}.values())
    if not peers:
        raise ValidationError(_("A dialogue needs at least one other agency."))
    for one in peers:
        if not one.active:
            raise ValidationError(_("%(node)s is not an active peer.") % {"node": one.node_id})
    if not any(other_side(one) for one in peers):
        raise ValidationError(_("A dialogue needs at least one agency of the other party."))
    with transaction.atomic():
        dialogue = Dialogue.objects.create(
            id=uuid.uuid4(),
            track=track,
            title_en=clean_text(title_en, _("Title (English)"), limit=300),
            title_zh=clean_text(title_zh, _("Title (Chinese)"), limit=300),
            peer=peers[0],
            author_node=this_node().node_id,
            created_at=timezone.now(),
        )
        dialogue.peers.set(peers)
        publish(
            actor,
            dialogue,
            wire.DIALOGUE_KIND,
            wire.dialogue_body(dialogue),
            action=AuditAction.DIALOGUE_CHANGE,
            target=dialogue,
            data={"what": "dialogue", "title": dialogue.title_en},
            ip=ip,
        )
    return dialogue


def save_round(
    actor: Actor,
    dialogue: Dialogue,
    data: dict[str, Any],
    *,
    round_: Round | None = None,
    ip: str = "",
) -> Round:
    """Add a round, or change one this node authored."""
    enforce(actor, Action.SAVE_ROUND, round_ or dialogue, ip=ip)
    topics = [t for t in data.get("topics", []) if t]
    if any(t not in Topic.values for t in topics):
        raise ValidationError(_("Unknown agenda topic."))
    try:
        number = int(data["number"])
        when = data["date"] if isinstance(data["date"], date) else date.fromisoformat(data["date"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError(_("A round needs a number and a date (YYYY-MM-DD).")) from None
    if number < 1:
        raise ValidationError(_("Round numbers start at 1."))
    documents = [
        {
            "title": clean_text(d.get("title", ""), _("Document title"), limit=300),
            "reference": clean_text(
                d.get("reference", ""), _("Document reference"), required=False, limit=500
            ),
        }
        for d in data.get("documents", [])
        if d.get("title")
    ]
    with transaction.atomic():
        clash = Round.objects.filter(dialogue=dialogue, number=number)
        if round_ is not None:
            clash = clash.exclude(pk=round_.pk)
        if clash.exists():
            raise ValidationError(_("This dialogue already has a round %(n)s.") % {"n": number})
        target = round_ or Round(
            id=uuid.uuid4(), dialogue=dialogue, author_node=this_node().node_id
        )
        target.number, target.date, target.topics, target.documents = (
            number,
            when,
            topics,
            documents,
        )
        target.venue_en = clean_text(data.get("venue_en", ""), _("Venue (English)"), limit=300)
        target.venue_zh = clean_text(
            data.get("venue_zh", ""), _("Venue (Chinese)"), required=False, limit=300
        )
        target.save()
        publish(
            actor,
            dialogue,
            wire.ROUND_KIND,
            wire.round_body(target),
            action=AuditAction.DIALOGUE_CHANGE,
            target=target,
            data={"what": "round", "number": number},
            ip=ip,
        )
    return target


def set_delegation(
    actor: Actor, round_: Round, entries: list[dict[str, Any]], *, ip: str = ""
) -> list[DelegateEntry]:
    """This side's co-chairs and delegation members for a round (replaces them)."""
    enforce(actor, Action.SET_DELEGATION, round_, ip=ip)
    node = this_node().node_id
    people = []
    for position, entry in enumerate(entries):
        role = entry.get("role", DelegationRole.MEMBER)
        if role not in DelegationRole.values:
            raise ValidationError(_("Unknown delegation role."))
        name = clean_text(entry.get("name", ""), _("Name"), required=False, limit=300)
        if name:
            people.append(
                {
                    "role": role,
                    "name": name,
                    "position": position,
                    "title": clean_text(
                        entry.get("title", ""), _("Title or office"), required=False, limit=300
                    ),
                }
            )
    with transaction.atomic():
        _replace_delegation(round_, node, people)
        publish(
            actor,
            round_.dialogue,
            wire.DELEGATION_KIND,
            wire.DelegationBody(
                round_id=str(round_.pk), node=node, people=[wire.Delegate(**p) for p in people]
            ),
            action=AuditAction.DIALOGUE_CHANGE,
            target=round_,
            data={"what": "delegation", "people": len(people)},
            ip=ip,
        )
    return list(round_.delegates.filter(node=node))


def _replace_delegation(round_: Round, node: str, people: list[dict[str, Any]]) -> None:
    round_.delegates.filter(node=node).delete()
    DelegateEntry.objects.bulk_create([DelegateEntry(round=round_, node=node, **p) for p in people])


# ---------------------------------------------------------------- from the partner


def apply_partner_dialogue(peer: Peer, body: wire.DialogueBody) -> Dialogue:
    """A dialogue the partner created (or renamed, or opened to more agencies).
    Its participants are the nodes the body names (none named: the author and
    this node); this node must peer with each of them."""
    require_author(peer, body.author_node, "a dialogue")
    found = Dialogue.objects.filter(pk=body.id).first()
    if found is not None and found.author_node != body.author_node:
        raise kinds.Refusal("not_author: this dialogue belongs to another node")
    peers = participant_peers(peer, body.nodes)
    dialogue, _created = Dialogue.objects.update_or_create(
        id=uuid.UUID(body.id),
        defaults={
            "track": body.track,
            "title_en": body.title_en,
            "title_zh": body.title_zh,
            "peer": peer,
            "author_node": body.author_node,
            "created_at": datetime.fromisoformat(body.created_at),
        },
    )
    dialogue.peers.set(peers)
    received(peer, dialogue, "dialogue")
    return dialogue


def apply_partner_round(peer: Peer, body: wire.RoundBody) -> Round:
    """A round the partner recorded (or changed), in a dialogue it shares with this node."""
    dialogue = shared_dialogue(peer, body.dialogue_id)
    found = Round.objects.filter(pk=body.id).first()
    if found is not None and found.author_node != peer.node_id:
        raise kinds.Refusal("not_author: this node keeps that round's record")
    clash = Round.objects.filter(dialogue=dialogue, number=body.number).exclude(pk=body.id)
    if clash.exists():
        raise kinds.Refusal(f"round_exists: round {body.number} is already recorded")
    round_, _created = Round.objects.update_or_create(
        id=uuid.UUID(body.id),
        defaults={
            "dialogue": dialogue,
            "number": body.number,
            "date": date.fromisoformat(body.date),
            "venue_en": body.venue_en,
            "venue_zh": body.venue_zh,
            "topics": [str(t) for t in body.topics],
            "documents": body.documents,
            "author_node": peer.node_id,
        },
    )
    received(peer, round_, "round")
    return round_


def apply_partner_delegation(peer: Peer, body: wire.DelegationBody) -> Round:
    """The partner's own delegation to a round (this side's stays as it is)."""
    require_author(peer, body.node, "a delegation")
    round_ = shared_round(peer, body.round_id)
    people = [
        {"role": str(p.role), "name": p.name, "title": p.title, "position": p.position}
        for p in body.people
    ]
    _replace_delegation(round_, body.node, people)
    received(peer, round_, "delegation")
    return round_
