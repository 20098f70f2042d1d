"""What every `apply_partner_*` service shares: the sender writes only what it
authors, finds only what it shares with this node, and each applied message is
audited as received. And what every change shares: its message fans out to
every peer the dialogue is held with (`publish`), each channel locked first
(`lock_channels`), in one order."""

from __future__ import annotations

from typing import Any

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.dialogue.models import Dialogue, Disagreement, Round
from accord.federation import kinds
from accord.federation import services as federation
from accord.federation.models import Peer


def channels(dialogue: Dialogue) -> list[Peer]:
    """Every peer the dialogue is held with, in node order (the lock order)."""
    return sorted(dialogue.peers.all(), key=lambda peer: peer.node_id)


def lock_channels(dialogue: Dialogue) -> None:
    """The channel to every participant, before the item (the one lock order)."""
    for peer in channels(dialogue):
        federation.lock_peer(peer)


def publish(
    actor: Actor,
    dialogue: Dialogue,
    kind: str,
    body: kinds.StrictBody,
    *,
    action: AuditAction,
    target: Any = None,
    data: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    """Queue the change's message to every participating node (each needs the
    same replica) and audit the change once, in the change's transaction."""
    for peer in channels(dialogue):
        federation.enqueue(peer, kind, body)
    audit.record(actor, action, target, data=data, ip=ip)


def participant_peers(sender: Peer, nodes: list[str]) -> list[Peer]:
    """The peers a dialogue the sender authors is held with here: every node it
    names but this one (the sender at least). Refused when this node does not
    peer with one of them: it could not keep that node's replica."""
    here = this_node().node_id
    wanted = {sender.node_id, *nodes} - {here}
    if nodes and here not in nodes:
        raise kinds.Refusal("not_participant: this node is not one of the dialogue's nodes")
    found = list(Peer.objects.filter(node_id__in=wanted, active=True))
    unknown = wanted - {peer.node_id for peer in found}
    if unknown:
        raise kinds.Refusal(
            "unknown_participant: this node does not peer with " + ", ".join(sorted(unknown))
        )
    return found


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
    found = Dialogue.objects.filter(pk=dialogue_id, peers=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_dialogue: no such dialogue with this peer")
    return found


def shared_round(peer: Peer, round_id: str) -> Round:
    found = Round.objects.filter(pk=round_id, dialogue__peers=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_round: no such round with this peer")
    return found


def shared_disagreement(peer: Peer, item_id: str) -> Disagreement:
    found = Disagreement.objects.filter(pk=item_id, dialogue__peers=peer).first()
    if found is None:
        raise kinds.Refusal("unknown_disagreement: no such disagreement with this peer")
    return found
