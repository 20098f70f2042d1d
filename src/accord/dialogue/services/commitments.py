"""Commitments attached to an outcome: owned by one agency (a participating
node), reported on only by the agency that owns them, and measured against
indicators.

A commitment's history is the record both sides hold of every report: it only
grows. A report here rewrites it under the commitment's row lock (taken after
the channel's, the one lock order: docs/assistance.md, "Concurrency"), so two
reports at once both land; a partner's message may append to the history this
node holds, never drop or change an entry of it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accord.core import dates
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.dialogue import wire
from accord.dialogue.fields import actor_name, clean_text, now_iso
from accord.dialogue.models import Commitment, Outcome
from accord.dialogue.policy import Action, enforce
from accord.dialogue.services.partner import lock_channels, publish, received, require_author
from accord.dialogue.signing import parties
from accord.dialogue.types import CommitmentStatus, Topic
from accord.federation import kinds
from accord.federation.models import Peer


def create_commitment(
    actor: Actor, outcome: Outcome, data: dict[str, Any], *, ip: str = ""
) -> Commitment:
    enforce(actor, Action.CREATE_COMMITMENT, outcome, ip=ip)
    dialogue = outcome.round.dialogue
    owner = data.get("owner_node", "")
    if owner not in parties(dialogue):
        raise ValidationError(_("The owner must be one of the participating agencies."))
    try:
        due = (
            data["due_date"]
            if isinstance(data["due_date"], date)
            else date.fromisoformat(data["due_date"])
        )
    except (KeyError, TypeError, ValueError):
        raise ValidationError(_("Give the due date as YYYY-MM-DD.")) from None
    # A due date already gone is kept only when the user says so (a commitment
    # recorded late); one beyond the horizon never: it cannot be corrected later.
    problem = dates.ahead_problem(due, past_allowed=bool(data.get("confirm_past")))
    if problem:
        raise ValidationError(problem)
    links = validate_links(data.get("indicators", []))
    at, node = now_iso(), this_node().node_id
    with transaction.atomic():
        item = Commitment.objects.create(
            id=uuid.uuid4(),
            outcome=outcome,
            owner_node=owner,
            due_date=due,
            title_en=clean_text(data.get("title_en", ""), _("Commitment (English)"), limit=500),
            title_zh=clean_text(
                data.get("title_zh", ""), _("Commitment (Chinese)"), required=False, limit=500
            ),
            status=CommitmentStatus.OPEN,
            indicators=links,
            author_node=node,
            updated_at=at,
            history=[{"at": at, "node": node, "status": "open", "by": actor_name(actor)}],
        )
        publish(
            actor,
            dialogue,
            wire.COMMITMENT_KIND,
            wire.commitment_body(item),
            action=AuditAction.DIALOGUE_CHANGE,
            target=item,
            data={"what": "commitment", "owner": owner},
            ip=ip,
        )
    return item


def validate_links(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from accord.core import indicators

    clean = []
    for link in links[:10]:
        code = link.get("code", "")
        if indicators.get(code) is None:
            raise ValidationError(_("Unknown indicator %(code)s.") % {"code": code})
        topic = link.get("topic", "") or ""
        if topic and topic not in Topic.values:
            raise ValidationError(_("Unknown topic."))
        target = link.get("target")
        if target not in (None, "") and not isinstance(target, int | float):
            raise ValidationError(_("A target is a number."))
        clean.append({"code": code, "topic": topic, "target": target if target != "" else None})
    return clean


def set_commitment_status(
    actor: Actor, item: Commitment, status: str, note: str = "", *, ip: str = ""
) -> Commitment:
    """Only the side that owes a commitment reports on it."""
    enforce(actor, Action.REPORT_COMMITMENT, item, ip=ip)
    if status not in CommitmentStatus.values:
        raise ValidationError(_("Unknown status."))
    note = clean_text(note, _("Note"), required=False)
    dialogue = item.outcome.round.dialogue
    at = now_iso()
    with transaction.atomic():
        lock_channels(dialogue)
        # Read the history under the lock: a report committed since `item` was
        # loaded stays in it.
        locked = Commitment.objects.select_for_update().get(pk=item.pk)
        locked.status, locked.updated_at = status, at
        locked.history = [
            *locked.history,
            {
                "at": at,
                "node": locked.owner_node,
                "status": status,
                "by": actor_name(actor),
                "note": note,
            },
        ]
        locked.save(update_fields=["status", "updated_at", "history"])
        publish(
            actor,
            dialogue,
            wire.COMMITMENT_KIND,
            wire.commitment_body(locked),
            action=AuditAction.DIALOGUE_CHANGE,
            target=locked,
            data={"what": "commitment-status", "status": status},
            ip=ip,
        )
    item.status, item.updated_at, item.history = locked.status, locked.updated_at, locked.history
    return item


# ---------------------------------------------------------------- from the partner


def apply_partner_commitment(peer: Peer, body: wire.CommitmentBody) -> Commitment:
    """A commitment the partner created, or its report on one it owes. The
    inbox holds the channel's lock; the commitment's is taken next."""
    found = Commitment.objects.select_for_update().filter(pk=body.id).first()
    if found is None:
        require_author(peer, body.author_node, "a new commitment")
        outcome = Outcome.objects.filter(pk=body.outcome_id, round__dialogue__peers=peer).first()
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
        if body.owner_node not in parties(outcome.round.dialogue):
            raise kinds.Refusal("invalid_body: the owner must be a participating node")
        try:
            found.indicators = validate_links(body.indicators)
        except ValidationError as exc:
            raise kinds.Refusal("invalid_body: " + " ".join(exc.messages)) from None
    elif found.owner_node != peer.node_id:
        raise kinds.Refusal("not_owner: only the side that owes a commitment reports on it")
    elif body.history[: len(found.history)] != found.history:
        raise kinds.Refusal(
            "history_rewritten: a report may add to the commitment's history, "
            "not drop or change what it holds"
        )
    found.status, found.updated_at, found.history = body.status, body.updated_at, body.history
    found.save()
    received(peer, found, "commitment")
    return found
