"""Applying the owner's snapshot of one part of the dialogue record
(dialogue.replica): each view is checked against a strict schema and against
what this node holds with the peer, as a message from the partner would be
(services.*.apply_partner_*), then it replaces this node's copy of that part.

What a snapshot may not do, whatever it says: change a part this node writes
(its delegation, signatures, position, the reports on what it owes, a status
it set), change the content of a version this node has signed, or name a
dialogue, round or outcome this node does not share with the peer. Each such
view is refused (kinds.Refusal), and the inbox audits the refusal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model
from pydantic import ValidationError as SchemaError

from accord.core.identity import this_node
from accord.dialogue import signing
from accord.dialogue.models import (
    Commitment,
    DelegateEntry,
    Dialogue,
    Disagreement,
    DisagreementEvent,
    Outcome,
    OutcomeSignature,
    OutcomeVersion,
    Position,
    Round,
)
from accord.dialogue.parts import (
    CommitmentView,
    DelegationView,
    DialogueView,
    DisagreementView,
    OutcomeView,
    PositionView,
    ReportView,
    RoundView,
    SignaturesView,
    StatusView,
)
from accord.dialogue.services.commitments import validate_links
from accord.dialogue.services.partner import participant_peers
from accord.federation import kinds
from accord.federation.kinds import StrictBody
from accord.federation.models import Peer

Apply = Callable[[Peer, str, dict[str, Any]], dict[str, Any] | None]
B = TypeVar("B", bound=StrictBody)


# What every part checks ------------------------------------------------------------


def _parse(schema: type[B], view: dict[str, Any]) -> B:
    try:
        return schema.model_validate(view)
    except SchemaError as exc:
        problems = (
            f"{'.'.join(str(p) for p in e['loc']) or 'view'}: {e['msg']}" for e in exc.errors()
        )
        raise kinds.Refusal("invalid_snapshot: " + "; ".join(problems)[:400]) from None


def _names(item_id: str, named: str) -> None:
    if named != item_id:
        raise kinds.Refusal("invalid_snapshot: the view is of another item than its key")


def _written_by(peer: Peer, node: str, what: str) -> None:
    if node != peer.node_id:
        raise kinds.Refusal(f"not_owner: {what} is written by {node[:100]}, not by the sender")


def _shared(model: type[Model], pk: str, peer: Peer, path: str) -> Any:
    found = model.objects.filter(pk=pk, **{path: peer}).first()  # type: ignore[attr-defined]
    if found is None:
        name = model.__name__.lower()
        raise kinds.Refusal(f"invalid_snapshot: no such {name} {pk} with this peer")
    return found


def _held(model: type[Model], pk: str, peer: Peer, path: str) -> Any:
    """This node's row of a part the peer authors, None when it was lost here;
    refused when the row is not one this node shares with the peer, or is one
    this node authored."""
    found = model.objects.filter(pk=pk).first()  # type: ignore[attr-defined]
    if found is not None:
        _shared(model, pk, peer, path)
        if found.author_node != peer.node_id:
            raise kinds.Refusal(f"not_owner: {pk} is written by {found.author_node}")
    return found


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# The parts each node authors ----------------------------------------------------------


def apply_dialogue(peer: Peer, item_id: str, view: dict[str, Any]) -> None:
    v = _parse(DialogueView, view)
    _names(item_id, v.id)
    _written_by(peer, v.author_node, "a dialogue")
    _held(Dialogue, item_id, peer, "peers")
    peers = participant_peers(peer, v.nodes)
    dialogue, _created = Dialogue.objects.update_or_create(
        id=uuid.UUID(v.id),
        defaults={
            "track": str(v.track),
            "title_en": v.title_en,
            "title_zh": v.title_zh,
            "peer": peer,
            "author_node": v.author_node,
            "created_at": _when(v.created_at),
        },
    )
    dialogue.peers.set(peers)


def apply_round(peer: Peer, item_id: str, view: dict[str, Any]) -> None:
    v = _parse(RoundView, view)
    _names(item_id, v.id)
    _written_by(peer, v.author_node, "a round")
    dialogue = _shared(Dialogue, v.dialogue_id, peer, "peer")
    _held(Round, item_id, peer, "dialogue__peers")
    if Round.objects.filter(dialogue=dialogue, number=v.number).exclude(pk=item_id).exists():
        raise kinds.Refusal(f"invalid_snapshot: round {v.number} is another round here")
    Round.objects.update_or_create(
        id=uuid.UUID(v.id),
        defaults={
            "dialogue": dialogue,
            "number": v.number,
            "date": date.fromisoformat(v.date),
            "venue_en": v.venue_en,
            "venue_zh": v.venue_zh,
            "topics": [str(t) for t in v.topics],
            "documents": v.documents,
            "author_node": v.author_node,
        },
    )


def apply_outcome(peer: Peer, item_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """The proposer's versions: each must match its SHA-256; a version this
    node signed keeps the content it signed; the signatures are parts of their own."""
    v = _parse(OutcomeView, view)
    _names(item_id, v.id)
    _written_by(peer, v.author_node, "an outcome")
    round_ = _shared(Round, v.round_id, peer, "dialogue__peers")
    held = _held(Outcome, item_id, peer, "round__dialogue__peers")
    if [x.version for x in v.versions] != list(range(1, len(v.versions) + 1)):
        raise kinds.Refusal("invalid_snapshot: the versions are not numbered 1 to N")
    outcome = Outcome(
        id=uuid.UUID(v.id),
        round=round_,
        topic=str(v.topic),
        author_node=v.author_node,
        created_at=_when(v.created_at),
    )
    for x in v.versions:
        content = signing.outcome_content(outcome, x.version, x.text_en, x.text_zh)
        if signing.content_hash(content) != x.content_sha256:
            raise kinds.Refusal(f"invalid_snapshot: version {x.version} does not match its SHA-256")
    if held is not None:
        _keep_what_this_node_signed(held, {x.version: x.content_sha256 for x in v.versions})
    outcome.save()
    outcome.versions.filter(version__gt=len(v.versions)).delete()
    for x in v.versions:
        fields = {"text_en": x.text_en, "text_zh": x.text_zh, "content_sha256": x.content_sha256}
        OutcomeVersion.objects.update_or_create(
            outcome=outcome,
            version=x.version,
            defaults=fields,
            create_defaults={**fields, "created_at": outcome.created_at},
        )
    return {"versions": len(v.versions)}


def _keep_what_this_node_signed(outcome: Outcome, wanted: dict[int, str]) -> None:
    """A version this node's signature covers (and still verifies on) keeps
    its content: a snapshot that changed or dropped it would unmake that signature."""
    me = this_node().node_id
    for version in outcome.versions.all():
        if wanted.get(version.version) == version.content_sha256:
            continue
        mine = version.signatures.filter(node=me).first()
        if mine is not None and signing.verify_signature(mine, version.content_sha256):
            raise kinds.Refusal(
                f"not_owner: version {version.version} bears this node's signature; "
                "its content cannot change"
            )


def apply_disagreement(peer: Peer, item_id: str, view: dict[str, Any]) -> None:
    v = _parse(DisagreementView, view)
    _names(item_id, v.id)
    _written_by(peer, v.author_node, "a disagreement")
    dialogue = _shared(Dialogue, v.dialogue_id, peer, "peer")
    round_ = _shared(Round, v.round_id, peer, "dialogue__peers") if v.round_id else None
    if round_ is not None and round_.dialogue_id != dialogue.pk:
        raise kinds.Refusal("invalid_snapshot: the round is of another dialogue")
    _held(Disagreement, item_id, peer, "dialogue__peers")
    fields = {
        "dialogue": dialogue,
        "round": round_,
        "topic": str(v.topic),
        "issue_en": v.issue_en,
        "issue_zh": v.issue_zh,
        "author_node": v.author_node,
        "created_at": _when(v.created_at),
    }
    Disagreement.objects.update_or_create(
        id=uuid.UUID(v.id),
        defaults=fields,
        # Its status is merged apart (dialogue.disagreement-status).
        create_defaults={**fields, "status": "open", "status_at": "", "status_node": ""},
    )


def apply_commitment(peer: Peer, item_id: str, view: dict[str, Any]) -> None:
    """The author's terms of a commitment. The inbox holds the channel's lock;
    update_or_create takes the commitment's next (the one lock order)."""
    v = _parse(CommitmentView, view)
    _names(item_id, v.id)
    _written_by(peer, v.author_node, "a commitment")
    outcome = _shared(Outcome, v.outcome_id, peer, "round__dialogue__peers")
    me = this_node().node_id
    if v.owner_node not in signing.parties(outcome.round.dialogue):
        raise kinds.Refusal("invalid_snapshot: the owner must be a participating node")
    try:
        links = validate_links(v.indicators)
    except ValidationError as exc:
        raise kinds.Refusal("invalid_snapshot: " + " ".join(exc.messages)[:400]) from None
    held = _held(Commitment, item_id, peer, "outcome__round__dialogue__peers")
    if held is not None and held.owner_node == me != v.owner_node:
        raise kinds.Refusal("not_owner: this node owes the commitment and reports on it")
    fields = {
        "outcome_id": uuid.UUID(v.outcome_id),
        "title_en": v.title_en,
        "title_zh": v.title_zh,
        "owner_node": v.owner_node,
        "due_date": date.fromisoformat(v.due_date),
        "indicators": links,
        "author_node": v.author_node,
    }
    Commitment.objects.update_or_create(
        id=uuid.UUID(v.id),
        defaults=fields,
        # Its report is a part of its own (dialogue.commitment-report).
        create_defaults={**fields, "status": "open", "updated_at": "", "history": []},
    )


# The parts each side writes for itself ---------------------------------------------


def apply_delegation(peer: Peer, item_id: str, view: dict[str, Any]) -> dict[str, Any]:
    v = _parse(DelegationView, view)
    _names(item_id, f"{v.round_id}/{v.node}")
    _written_by(peer, v.node, "a delegation")
    round_ = _shared(Round, v.round_id, peer, "dialogue__peers")
    round_.delegates.filter(node=v.node).delete()
    DelegateEntry.objects.bulk_create(
        DelegateEntry(round=round_, node=v.node, **{**p.model_dump(), "role": str(p.role)})
        for p in v.people
    )
    return {"people": len(v.people)}


def apply_signatures(peer: Peer, item_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """The peer's signatures on an outcome's versions, each checked as when it
    first arrived (outcomes.apply_partner_signature): over the very content
    this node holds, with the key pinned for the peer (or, for a signature
    this node already holds, the key it was checked with then)."""
    v = _parse(SignaturesView, view)
    _names(item_id, f"{v.outcome_id}/{v.node}")
    _written_by(peer, v.node, "a signature")
    outcome = _shared(Outcome, v.outcome_id, peer, "round__dialogue__peers")
    versions = {x.version: x for x in outcome.versions.all()}
    held = set(
        OutcomeSignature.objects.filter(version__outcome=outcome, node=v.node).values_list(
            "version__version", "public_key", "signature"
        )
    )
    pinned = {peer.signing_key, peer.previous_signing_key} - {""}
    if len({s.version for s in v.signatures}) != len(v.signatures):
        raise kinds.Refusal("invalid_snapshot: two signatures by one node on one version")
    for s in v.signatures:
        version = versions.get(s.version)
        if s.node != v.node or version is None or version.content_sha256 != s.content_sha256:
            raise kinds.Refusal(f"invalid_snapshot: version {s.version} here is other content")
        if s.public_key not in pinned and (s.version, s.public_key, s.signature) not in held:
            raise kinds.Refusal("bad_signature: not signed with the key pinned for this peer")
        if not signing.verify_signature(s.model_dump(), s.content_sha256):
            raise kinds.Refusal(f"bad_signature: the signature on version {s.version} fails")
    OutcomeSignature.objects.filter(version__outcome=outcome, node=v.node).delete()
    OutcomeSignature.objects.bulk_create(
        OutcomeSignature(
            version=versions[s.version],
            **s.model_dump(exclude={"version", "content_sha256"}),
        )
        for s in v.signatures
    )
    return {"signatures": len(v.signatures)}


def apply_position(peer: Peer, item_id: str, view: dict[str, Any]) -> None:
    """The peer's position on a disagreement and the history events it wrote."""
    v = _parse(PositionView, view)
    _names(item_id, f"{v.disagreement_id}/{v.node}")
    _written_by(peer, v.node, "a position")
    item = _shared(Disagreement, v.disagreement_id, peer, "dialogue__peers")
    if item.author_node != v.node and any(e.kind == "opened" for e in v.history):
        raise kinds.Refusal("invalid_snapshot: only the author opened the disagreement")
    if v.position is None:
        item.positions.filter(node=v.node).delete()
    else:
        Position.objects.update_or_create(
            disagreement=item, node=v.node, defaults=v.position.model_dump()
        )
    item.history.filter(node=v.node).delete()
    DisagreementEvent.objects.bulk_create(
        DisagreementEvent(disagreement=item, node=v.node, **e.model_dump()) for e in v.history
    )


def apply_report(peer: Peer, item_id: str, view: dict[str, Any]) -> None:
    """The report of the side that owes the commitment: its history replaces
    this node's copy whole (the owner's is the record). The inbox holds the
    channel's lock; the commitment's row is locked next."""
    v = _parse(ReportView, view)
    _names(item_id, v.id)
    found = (
        Commitment.objects.select_for_update()
        .filter(pk=item_id, outcome__round__dialogue__peers=peer)
        .first()
    )
    if found is None:
        raise kinds.Refusal(f"invalid_snapshot: no such commitment {item_id} with this peer")
    _written_by(peer, found.owner_node, "a commitment's report")
    found.status, found.updated_at, found.history = str(v.status), v.updated_at, v.history
    found.save(update_fields=["status", "updated_at", "history"])


# The part both write -----------------------------------------------------------------


def apply_status(peer: Peer, item_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """A disagreement's status as the peer holds it, merged by the rule both
    nodes settle changes by (services.disagreements): the later change, then
    the larger node id. At the same change, the node that made it is right."""
    v = _parse(StatusView, view)
    _names(item_id, v.disagreement_id)
    me = this_node().node_id
    item = Disagreement.objects.select_for_update().filter(pk=item_id, dialogue__peers=peer).first()
    if item is None:
        raise kinds.Refusal(f"invalid_snapshot: no such disagreement {item_id} with this peer")
    if v.status_node not in (*signing.parties(item.dialogue), ""):
        raise kinds.Refusal("invalid_snapshot: the status was set by no participating node")
    if v.status_node == me and not item.history.filter(node=me, at=v.status_at).exists():
        raise kinds.Refusal("not_owner: a status change this node did not make names it")
    theirs, ours = (v.status_at, v.status_node), (item.status_at, item.status_node)
    taken = theirs > ours or (theirs == ours and v.status_node == peer.node_id)
    if taken:
        item.status, item.status_at, item.status_node = str(v.status), v.status_at, v.status_node
        item.save(update_fields=["status", "status_at", "status_node"])
    return {"status": item.status, "taken": taken}
