"""The dialogue record as replicated items (federation.replicas). Each part of
the record is written by one node alone (models.py), so each part is an item
owned by that node: the dialogue, a round, an outcome's versions, a
disagreement and a commitment by their author; a side's delegation to a round,
its signatures on an outcome, its position on a disagreement (with the history
events it wrote) by that side; a commitment's report by the side that owes it.
A disagreement's status is written by either side and settled by a rule (the
later change, then the node id): it has no owner, and a snapshot of it is
merged by that same rule.

Keys are "family:id", the id a row's UUID, or "<uuid>/<node>" for a side's
part (a node id holds no "/"). Only what this node shares with the peer is an
item: the parts of the dialogues it keeps with that peer (Dialogue.peers),
owned by this node or by the peer. A third participant's parts are compared
in its own pairs with each of them, so every participant holds the same
replica.
Every side's part is an item even when empty (no delegation yet), so a part
lost on one node differs from the other's.

Applying the owner's snapshot (dialogue.snapshots) replaces this node's copy of
that part, creating it when it was lost, after the same checks a message from
the partner passes: a strict schema (dialogue.parts), objects shared with that
peer, content hashes that match, signatures that verify against the peer's
pinned key. A snapshot never changes a part this node writes, nor the content
of a version this node has signed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from accord.core.identity import this_node
from accord.dialogue import signing, snapshots
from accord.dialogue.models import Commitment, Dialogue, Disagreement, Outcome, Round
from accord.federation import replicas
from accord.federation.models import Peer

# One part as this node holds it: its item id, its owner, its view.
Unit = tuple[str, str, dict[str, Any]]
# Every part of a family held with the peer, or only those of one row.
Units = Callable[[Peer, uuid.UUID | None], Iterator[Unit]]


# This node's copy of each part -------------------------------------------------


def _sides(peer: Peer) -> list[str]:
    return sorted({this_node().node_id, peer.node_id})


def _only(queryset: Any, pk: uuid.UUID | None) -> Any:
    return queryset if pk is None else queryset.filter(pk=pk)


def dialogue_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for d in _only(Dialogue.objects.filter(peers=peer), pk):
        view = {
            "id": str(d.pk),
            "track": d.track,
            "title_en": d.title_en,
            "title_zh": d.title_zh,
            "author_node": d.author_node,
            "created_at": d.created_at.isoformat(),
            "nodes": list(signing.parties(d)),
        }
        yield str(d.pk), d.author_node, view


def round_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for r in _only(Round.objects.filter(dialogue__peers=peer), pk):
        yield str(r.pk), r.author_node, _round_view(r)


def _round_view(r: Round) -> dict[str, Any]:
    fields = ("number", "venue_en", "venue_zh", "topics", "documents", "author_node")
    return {
        "id": str(r.pk),
        "dialogue_id": str(r.dialogue_id),
        "date": r.date.isoformat(),
        **{name: getattr(r, name) for name in fields},
    }


def delegation_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    rounds = Round.objects.filter(dialogue__peers=peer).prefetch_related("delegates")
    for r in _only(rounds, pk):
        for node in _sides(peer):
            people = sorted(
                (
                    {"role": e.role, "name": e.name, "title": e.title, "position": e.position}
                    for e in r.delegates.all()
                    if e.node == node
                ),
                key=lambda p: (p["position"], p["role"], p["name"], p["title"]),
            )
            view = {"round_id": str(r.pk), "node": node, "people": people}
            yield f"{r.pk}/{node}", node, view


def _outcomes(peer: Peer, pk: uuid.UUID | None) -> Any:
    found = Outcome.objects.filter(round__dialogue__peers=peer)
    return _only(found.prefetch_related("versions__signatures"), pk)


def outcome_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for o in _outcomes(peer, pk):
        versions = sorted(o.versions.all(), key=lambda v: v.version)
        view = {
            "id": str(o.pk),
            "round_id": str(o.round_id),
            "topic": o.topic,
            "author_node": o.author_node,
            "created_at": o.created_at.isoformat(),
            "versions": [
                {
                    "version": v.version,
                    "text_en": v.text_en,
                    "text_zh": v.text_zh,
                    "content_sha256": v.content_sha256,
                }
                for v in versions
            ],
        }
        yield str(o.pk), o.author_node, view


def signatures_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for o in _outcomes(peer, pk):
        for node in _sides(peer):
            signatures = [
                {"version": v.version, "content_sha256": v.content_sha256, **fields}
                for v in sorted(o.versions.all(), key=lambda v: v.version)
                for s in v.signatures.all()
                if s.node == node
                for fields in (signing.signature_fields(s),)
            ]
            view = {"outcome_id": str(o.pk), "node": node, "signatures": signatures}
            yield f"{o.pk}/{node}", node, view


def _disagreements(peer: Peer, pk: uuid.UUID | None) -> Any:
    found = Disagreement.objects.filter(dialogue__peers=peer)
    return _only(found.prefetch_related("positions", "history"), pk)


def disagreement_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for x in _disagreements(peer, pk):
        view = {
            "id": str(x.pk),
            "dialogue_id": str(x.dialogue_id),
            "round_id": str(x.round_id) if x.round_id else None,
            "topic": x.topic,
            "issue_en": x.issue_en,
            "issue_zh": x.issue_zh,
            "author_node": x.author_node,
            "created_at": x.created_at.isoformat(),
        }
        yield str(x.pk), x.author_node, view


def position_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for x in _disagreements(peer, pk):
        for node in _sides(peer):
            held = [p for p in x.positions.all() if p.node == node]
            position = (
                {
                    "text_en": held[0].text_en,
                    "text_zh": held[0].text_zh,
                    "stated_at": held[0].stated_at,
                }
                if held
                else None
            )
            history = sorted(
                (
                    {"at": e.at, "actor_name": e.actor_name, "kind": e.kind, "data": e.data}
                    for e in x.history.all()
                    if e.node == node
                ),
                key=lambda e: (e["at"], e["kind"], e["actor_name"]),
            )
            view = {
                "disagreement_id": str(x.pk),
                "node": node,
                "position": position,
                "history": history,
            }
            yield f"{x.pk}/{node}", node, view


def status_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for x in _only(Disagreement.objects.filter(dialogue__peers=peer), pk):
        view = {
            "disagreement_id": str(x.pk),
            "status": x.status,
            "status_at": x.status_at,
            "status_node": x.status_node,
        }
        yield str(x.pk), "", view


def _commitments(peer: Peer, pk: uuid.UUID | None) -> Any:
    return _only(Commitment.objects.filter(outcome__round__dialogue__peers=peer), pk)


def commitment_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for c in _commitments(peer, pk):
        view = {
            "id": str(c.pk),
            "outcome_id": str(c.outcome_id),
            "title_en": c.title_en,
            "title_zh": c.title_zh,
            "owner_node": c.owner_node,
            "due_date": c.due_date.isoformat(),
            "indicators": c.indicators,
            "author_node": c.author_node,
        }
        yield str(c.pk), c.author_node, view


def report_units(peer: Peer, pk: uuid.UUID | None) -> Iterator[Unit]:
    for c in _commitments(peer, pk):
        view = {"id": str(c.pk), "status": c.status, "updated_at": c.updated_at}
        yield str(c.pk), c.owner_node, {**view, "history": c.history}


# Registering a family -----------------------------------------------------------


def _parent(item_id: str) -> uuid.UUID | None:
    """The row an item id names: "<uuid>" or "<uuid>/<node>"."""
    try:
        return uuid.UUID(item_id.partition("/")[0])
    except ValueError:
        return None


def _between(peer: Peer, owner: str) -> bool:
    """Whether two nodes compare a part: one of them owns it (or nobody does).
    A third participant's part is compared in its own pairs with each of them."""
    return owner in ("", this_node().node_id, peer.node_id)


def family(name: str, units: Units, apply: snapshots.Apply) -> replicas.Family:
    def items(peer: Peer) -> Iterator[replicas.Item]:
        for item_id, owner, view in units(peer, None):
            if _between(peer, owner):
                yield replicas.Item(f"{name}:{item_id}", owner, view)

    def item(peer: Peer, item_id: str) -> replicas.Item | None:
        pk = _parent(item_id)
        if pk is None:
            return None
        for found_id, owner, view in units(peer, pk):
            if found_id == item_id and _between(peer, owner):
                return replicas.Item(f"{name}:{item_id}", owner, view)
        return None

    return replicas.register(replicas.Family(name, items, item, apply))


FAMILIES: tuple[tuple[str, Units, snapshots.Apply], ...] = (
    ("dialogue.dialogue", dialogue_units, snapshots.apply_dialogue),
    ("dialogue.round", round_units, snapshots.apply_round),
    ("dialogue.delegation", delegation_units, snapshots.apply_delegation),
    ("dialogue.outcome", outcome_units, snapshots.apply_outcome),
    ("dialogue.signatures", signatures_units, snapshots.apply_signatures),
    ("dialogue.disagreement", disagreement_units, snapshots.apply_disagreement),
    ("dialogue.position", position_units, snapshots.apply_position),
    ("dialogue.disagreement-status", status_units, snapshots.apply_status),
    ("dialogue.commitment", commitment_units, snapshots.apply_commitment),
    ("dialogue.commitment-report", report_units, snapshots.apply_report),
)

for _name, _units, _apply in FAMILIES:
    family(_name, _units, _apply)
