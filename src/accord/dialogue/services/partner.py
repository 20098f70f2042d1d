"""What every `apply_partner_*` service shares: the sender writes only what it
authors, finds only what it shares with this node, and each applied message is
audited as received."""

from __future__ import annotations

from typing import Any

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.dialogue.models import Dialogue, Disagreement, Round
from accord.federation import kinds
from accord.federation.models import Peer


def require_author(peer: Peer, node: str, what: str) -> None:
    if node != peer.node_id:
        raise kinds.Refusal(f"not_author: {what} is written by {node}, not by the sender")


def received(peer: Peer, target: Any, what: str) -> None:
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.DIALOGUE_RECEIVE,
        target,
        data={"what": what},
    )


def shared_dialogue(peer: Peer, dialogue_id: str) -> Dialogue:
    found = Dialogue.objects.filter(pk=dialogue_id, peer=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_dialogue: no such dialogue with this peer")
    return found


def shared_round(peer: Peer, round_id: str) -> Round:
    found = Round.objects.filter(pk=round_id, dialogue__peer=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_round: no such round with this peer")
    return found


def shared_disagreement(peer: Peer, item_id: str) -> Disagreement:
    found = Disagreement.objects.filter(pk=item_id, dialogue__peer=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_disagreement: no such disagreement with this peer")
    return found
