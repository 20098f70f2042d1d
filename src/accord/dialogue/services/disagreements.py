"""Disagreements: recorded by either side, each side stating only its own
position; their status set by either side, the later change winning on both
nodes alike."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.dialogue import wire
from accord.dialogue.fields import actor_name, clean_text, now_iso
from accord.dialogue.models import Dialogue, Disagreement, DisagreementEvent, Position, Round
from accord.dialogue.policy import Action, enforce
from accord.dialogue.services.partner import (
    lock_channels,
    publish,
    received,
    require_author,
    shared_dialogue,
    shared_disagreement,
    shared_round,
)
from accord.dialogue.types import DisagreementStatus, Topic
from accord.federation import kinds
from accord.federation.models import Peer


def open_disagreement(
    actor: Actor,
    dialogue: Dialogue,
    topic: str,
    issue_en: str,
    issue_zh: str,
    round_: Round | None = None,
    *,
    ip: str = "",
) -> Disagreement:
    enforce(actor, Action.OPEN_DISAGREEMENT, dialogue, ip=ip)
    if topic not in Topic.values:
        raise ValidationError(_("Unknown topic."))
    node, at = this_node().node_id, now_iso()
    with transaction.atomic():
        item = Disagreement.objects.create(
            id=uuid.uuid4(),
            dialogue=dialogue,
            round=round_,
            topic=topic,
            issue_en=clean_text(issue_en, _("Issue (English)")),
            issue_zh=clean_text(issue_zh, _("Issue (Chinese)"), required=False),
            status=DisagreementStatus.OPEN,
            status_at=at,
            status_node=node,
            author_node=node,
            created_at=timezone.now(),
        )
        DisagreementEvent.objects.create(
            disagreement=item,
            at=at,
            node=node,
            actor_name=actor_name(actor),
            kind="opened",
            data={"issue_en": item.issue_en},
        )
        publish(
            actor,
            dialogue,
            wire.DISAGREEMENT_KIND,
            wire.disagreement_body(item, actor_name(actor), at),
            action=AuditAction.DIALOGUE_CHANGE,
            target=item,
            data={"what": "disagreement", "topic": topic},
            ip=ip,
        )
    return item


def state_position(
    actor: Actor, item: Disagreement, text_en: str, text_zh: str, *, ip: str = ""
) -> Position:
    """This side's own position (a side never writes the other's)."""
    enforce(actor, Action.STATE_POSITION, item, ip=ip)
    body = wire.PositionBody(
        disagreement_id=str(item.pk),
        node=this_node().node_id,
        text_en=clean_text(text_en, _("Position (English)")),
        text_zh=clean_text(text_zh, _("Position (Chinese)"), required=False),
        stated_at=now_iso(),
        actor_name=actor_name(actor)[:300],
    )
    with transaction.atomic():
        position = _apply_position(item, body)
        publish(
            actor,
            item.dialogue,
            wire.POSITION_KIND,
            body,
            action=AuditAction.DIALOGUE_CHANGE,
            target=item,
            data={"what": "position"},
            ip=ip,
        )
    return position


def _apply_position(item: Disagreement, body: wire.PositionBody) -> Position:
    position, _created = Position.objects.update_or_create(
        disagreement=item,
        node=body.node,
        defaults={"text_en": body.text_en, "text_zh": body.text_zh, "stated_at": body.stated_at},
    )
    DisagreementEvent.objects.create(
        disagreement=item,
        at=body.stated_at,
        node=body.node,
        actor_name=body.actor_name,
        kind="position",
        data={"text_en": body.text_en, "text_zh": body.text_zh},
    )
    return position


def set_disagreement_status(
    actor: Actor, item: Disagreement, status: str, note: str = "", *, ip: str = ""
) -> Disagreement:
    enforce(actor, Action.SET_DISAGREEMENT_STATUS, item, ip=ip)
    if status not in DisagreementStatus.values:
        raise ValidationError(_("Unknown status."))
    body = wire.StatusBody(
        disagreement_id=str(item.pk),
        status=DisagreementStatus(status),
        at=now_iso(),
        node=this_node().node_id,
        actor_name=actor_name(actor)[:300],
        note=clean_text(note, _("Note"), required=False),
    )
    with transaction.atomic():
        lock_channels(item.dialogue)  # the one lock order: the channels, then the item
        locked = Disagreement.objects.select_for_update().get(pk=item.pk)
        _apply_status(locked, body)
        publish(
            actor,
            item.dialogue,
            wire.STATUS_KIND,
            body,
            action=AuditAction.DIALOGUE_CHANGE,
            target=locked,
            data={"what": "status", "status": status},
            ip=ip,
        )
    return locked


def _apply_status(item: Disagreement, body: wire.StatusBody) -> None:
    DisagreementEvent.objects.create(
        disagreement=item,
        at=body.at,
        node=body.node,
        actor_name=body.actor_name,
        kind="status",
        data={"status": body.status, "note": body.note},
    )
    # Both nodes keep the same winner when changes cross: the later, then the larger node id.
    if (body.at, body.node) > (item.status_at, item.status_node):
        item.status, item.status_at, item.status_node = body.status, body.at, body.node
        item.save(update_fields=["status", "status_at", "status_node"])


# ---------------------------------------------------------------- from the partner


def apply_partner_disagreement(peer: Peer, body: wire.DisagreementBody) -> Disagreement:
    """A disagreement the partner recorded."""
    require_author(peer, body.author_node, "a disagreement")
    dialogue = shared_dialogue(peer, body.dialogue_id)
    if Disagreement.objects.filter(pk=body.id).exists():
        raise kinds.Refusal("duplicate: this disagreement is already recorded")
    round_ = shared_round(peer, body.round_id) if body.round_id else None
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
    received(peer, item, "disagreement")
    return item


def apply_partner_position(peer: Peer, body: wire.PositionBody) -> Position:
    """The partner's own position on a disagreement (this side's stays as it is)."""
    require_author(peer, body.node, "a position")
    item = shared_disagreement(peer, body.disagreement_id)
    position = _apply_position(item, body)
    received(peer, item, "position")
    return position


def apply_partner_status(peer: Peer, body: wire.StatusBody) -> Disagreement:
    """A status the partner set on a disagreement both nodes hold."""
    require_author(peer, body.node, "a status change")
    item = Disagreement.objects.select_for_update().filter(pk=body.disagreement_id).first()
    if item is None or not item.dialogue.peers.filter(pk=peer.pk).exists():
        raise kinds.Refusal("unknown_disagreement: no such disagreement with this peer")
    _apply_status(item, body)
    received(peer, item, "status")
    return item
