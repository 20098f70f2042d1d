"""JSON API of the dialogue record: the same services as the pages and the CLI."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.ijson import SmallCount, SmallPositive
from accord.core.indicators import all_indicators
from accord.core.services import require
from accord.core.signals import client_ip
from accord.dialogue import export, progress
from accord.dialogue.fields import TEXT
from accord.dialogue.models import Commitment, Dialogue, Disagreement, Outcome, Round
from accord.dialogue.participants import co_chairs, labels, participants
from accord.dialogue.policy import PERMISSIONS, Action, require_permission
from accord.dialogue.services import commitments, dialogues, disagreements, outcomes
from accord.dialogue.signing import missing, required_signers, status_of
from accord.federation.models import Peer

router = Router(tags=["dialogue"])


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class DialogueIn(In):
    # One partner (`peer`), several agencies (`peers`), or both: the peer first.
    peer: str = Field(default="", max_length=100)
    peers: list[str] = Field(default_factory=list, max_length=50)
    track: str = Field(max_length=32)
    title_en: str = Field(max_length=300)
    title_zh: str = Field(max_length=300)


class RoundIn(In):
    number: SmallPositive
    date: date
    venue_en: str = Field(max_length=300)
    venue_zh: str = Field(default="", max_length=300)
    topics: list[str] = Field(default_factory=list, max_length=20)
    documents: list[dict[str, str]] = Field(default_factory=list, max_length=100)


class PersonIn(In):
    role: str = Field(default="member", max_length=16)
    name: str = Field(max_length=300)
    title: str = Field(default="", max_length=300)


class DelegationIn(In):
    people: list[PersonIn] = Field(max_length=200)


class OutcomeIn(In):
    topic: str = Field(max_length=32)
    text_en: str = Field(max_length=TEXT)
    text_zh: str = Field(max_length=TEXT)
    signer_title: str = Field(default="", max_length=300)


class AmendIn(In):
    text_en: str = Field(max_length=TEXT)
    text_zh: str = Field(max_length=TEXT)
    signer_title: str = Field(default="", max_length=300)


class SignIn(In):
    version: SmallCount
    signer_title: str = Field(default="", max_length=300)


class DisagreementIn(In):
    topic: str = Field(max_length=32)
    issue_en: str = Field(max_length=TEXT)
    issue_zh: str = Field(default="", max_length=TEXT)
    round_id: UUID | None = None


class PositionIn(In):
    text_en: str = Field(max_length=TEXT)
    text_zh: str = Field(default="", max_length=TEXT)


class StatusIn(In):
    status: str = Field(max_length=16)
    note: str = Field(default="", max_length=TEXT)


class LinkIn(In):
    code: str = Field(max_length=100)
    topic: str = Field(default="", max_length=32)
    target: float | None = None


class CommitmentIn(In):
    title_en: str = Field(max_length=500)
    title_zh: str = Field(default="", max_length=500)
    owner_node: str = Field(max_length=100)
    due_date: date
    # A due date already past is recorded only when confirmed (dates.py).
    confirm_past: bool = False
    indicators: list[LinkIn] = Field(default_factory=list, max_length=10)


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(request.user)  # type: ignore[arg-type]


def _get(model: Any, request: HttpRequest, pk: UUID, action: Action = Action.VIEW) -> Any:
    """The object, once the caller holds the permission the action needs
    (checked first, so a refusal never depends on whether the object exists)."""
    require(
        _actor(request),
        PERMISSIONS[action],
        what=f"dialogue_{model.__name__.lower()}",
        ip=client_ip(request),
    )
    return get_object_or_404(model.objects.restrict(request.user), pk=pk)


def measured_json(m: progress.Measured) -> dict[str, Any]:
    return {
        "code": m.code,
        "label": m.label,
        "how": m.how,
        "topic": m.topic,
        "period": [m.start.isoformat(), m.end.isoformat()],
        "value": m.reading.value,
        "unit": m.reading.unit,
        "records": m.reading.count,
        "target": m.target,
        "progress_percent": m.progress,
        "series": [{"month": month, "value": value} for month, value in m.reading.series],
    }


def commitment_json(c: Commitment, today: date) -> dict[str, Any]:
    measured = progress.commitment_progress(c, today)
    standing = progress.standing(c, measured)
    split = progress.by_agency_and_party(c, today)
    return {
        "owner_agency": labels(c.outcome.round.dialogue).get(c.owner_node, c.owner_node),
        # This node's cooperation with each agency of the dialogue, and per party.
        "by_agency": [
            {**row, "indicators": [measured_json(m) for m in row["indicators"]]}
            for row in split["agencies"]
        ],
        "by_party": [
            {**row, "indicators": [measured_json(m) for m in row["indicators"]]}
            for row in split["parties"]
        ],
        "id": str(c.pk),
        "outcome": str(c.outcome_id),
        "title_en": c.title_en,
        "title_zh": c.title_zh,
        "owner_node": c.owner_node,
        "due_date": c.due_date.isoformat(),
        "status": c.status,
        # Agreeing with the indicators: one whose targets are reached is not overdue.
        "overdue": standing == "overdue",
        "targets_met": standing == "met",
        "indicators": [measured_json(m) for m in measured],
        "history": c.history,
    }


def dialogue_json(d: Dialogue) -> dict[str, Any]:
    today = timezone.now().date()
    document = export.export_dialogue(d)
    names = labels(d)
    for outcome in document["outcomes"]:
        found = Outcome.objects.select_related("round").get(pk=outcome["id"])
        required = required_signers(found.round)
        outcome["required_signers"] = list(required)
        for version in outcome["versions"]:
            row = found.versions.get(version=version["version"])
            version["status"] = status_of(row, required)
            version["awaiting"] = [
                {"node": node, "agency": names.get(node, node)} for node in missing(row, required)
            ]
    for round_ in document["rounds"]:
        round_["co_chairs"] = co_chairs(Round.objects.get(pk=round_["id"]))
    return {
        **{k: document[k] for k in ("dialogue", "rounds", "outcomes")},
        "participants": participants(d),
        "disagreements": [
            {
                "id": str(x.pk),
                "topic": x.topic,
                "issue_en": x.issue_en,
                "issue_zh": x.issue_zh,
                "status": x.status,
                "round": str(x.round_id) if x.round_id else None,
                "positions": {
                    p.node: {"text_en": p.text_en, "text_zh": p.text_zh, "stated_at": p.stated_at}
                    for p in x.positions.all()
                },
                "history": [
                    {"at": e.at, "node": e.node, "by": e.actor_name, "kind": e.kind, **e.data}
                    for e in x.history.all()
                ],
            }
            for x in d.disagreements.all()
        ],
        "commitments": [
            commitment_json(c, today) for c in Commitment.objects.filter(outcome__round__dialogue=d)
        ],
    }


@router.get("/dialogue/dialogues", response=list[dict[str, Any]])
def list_dialogues(request: HttpRequest) -> list[dict[str, Any]]:
    require(_actor(request), PERMISSIONS[Action.VIEW], what="dialogue_list", ip=client_ip(request))
    return [
        {
            "id": str(d.pk),
            "track": d.track,
            "title_en": d.title_en,
            "title_zh": d.title_zh,
            "partner": d.peer.node_id,
            "peers": sorted(p.node_id for p in d.peers.all()),
            "rounds": d.rounds.count(),
        }
        for d in Dialogue.objects.restrict(request.user)
        .select_related("peer")
        .prefetch_related("peers")
    ]


@router.post("/dialogue/dialogues", response={201: dict[str, Any]})
def create_dialogue(request: HttpRequest, payload: DialogueIn) -> Status:
    require_permission(_actor(request), Action.CREATE_DIALOGUE)
    wanted = list(dict.fromkeys(n for n in (payload.peer, *payload.peers) if n))
    peers = [get_object_or_404(Peer, node_id=node, active=True) for node in wanted]
    dialogue = dialogues.create_dialogue(
        _actor(request),
        peers,
        payload.track,
        payload.title_en,
        payload.title_zh,
        ip=client_ip(request),
    )
    return Status(201, dialogue_json(dialogue))


@router.get("/dialogue/dialogues/{dialogue_id}", response=dict[str, Any])
def get_dialogue(request: HttpRequest, dialogue_id: UUID) -> dict[str, Any]:
    return dialogue_json(_get(Dialogue, request, dialogue_id))


@router.get("/dialogue/dialogues/{dialogue_id}/export", response=dict[str, Any])
def export_dialogue(request: HttpRequest, dialogue_id: UUID) -> dict[str, Any]:
    dialogue = _get(Dialogue, request, dialogue_id)
    audit.record(
        _actor(request),
        AuditAction.DIALOGUE_EXPORT,
        dialogue,
        ip=client_ip(request),
        data={"what": "export"},
    )
    return export.export_dialogue(dialogue)


@router.post("/dialogue/dialogues/{dialogue_id}/rounds", response={201: dict[str, Any]})
def add_round(request: HttpRequest, dialogue_id: UUID, payload: RoundIn) -> Status:
    dialogue = _get(Dialogue, request, dialogue_id, Action.SAVE_ROUND)
    round_ = dialogues.save_round(
        _actor(request), dialogue, payload.model_dump(), ip=client_ip(request)
    )
    return Status(201, {"id": str(round_.pk), "number": round_.number})


@router.put("/dialogue/rounds/{round_id}/delegation", response=dict[str, Any])
def set_delegation(request: HttpRequest, round_id: UUID, payload: DelegationIn) -> dict[str, Any]:
    round_ = _get(Round, request, round_id, Action.SET_DELEGATION)
    people = dialogues.set_delegation(
        _actor(request), round_, [p.model_dump() for p in payload.people], ip=client_ip(request)
    )
    return {
        "node": this_node().node_id,
        "people": [{"role": p.role, "name": p.name, "title": p.title} for p in people],
    }


@router.post("/dialogue/rounds/{round_id}/outcomes", response={201: dict[str, Any]})
def propose(request: HttpRequest, round_id: UUID, payload: OutcomeIn) -> Status:
    round_ = _get(Round, request, round_id, Action.PROPOSE_OUTCOME)
    outcome = outcomes.propose_outcome(
        _actor(request),
        round_,
        payload.topic,
        payload.text_en,
        payload.text_zh,
        payload.signer_title,
        ip=client_ip(request),
    )
    return Status(201, {"id": str(outcome.pk), "version": 1})


@router.post("/dialogue/outcomes/{outcome_id}/versions", response={201: dict[str, Any]})
def amend(request: HttpRequest, outcome_id: UUID, payload: AmendIn) -> Status:
    outcome = _get(Outcome, request, outcome_id, Action.AMEND_OUTCOME)
    version = outcomes.amend_outcome(
        _actor(request),
        outcome,
        payload.text_en,
        payload.text_zh,
        payload.signer_title,
        ip=client_ip(request),
    )
    return Status(
        201,
        {
            "id": str(outcome.pk),
            "version": version.version,
            "content_sha256": version.content_sha256,
        },
    )


@router.post("/dialogue/outcomes/{outcome_id}/signatures", response={201: dict[str, Any]})
def sign(request: HttpRequest, outcome_id: UUID, payload: SignIn) -> Status:
    outcome = _get(Outcome, request, outcome_id, Action.SIGN_OUTCOME)
    signature = outcomes.sign_outcome(
        _actor(request), outcome, payload.version, payload.signer_title, ip=client_ip(request)
    )
    return Status(
        201, {"node": signature.node, "version": payload.version, "signed_at": signature.signed_at}
    )


@router.post("/dialogue/dialogues/{dialogue_id}/disagreements", response={201: dict[str, Any]})
def open_disagreement(request: HttpRequest, dialogue_id: UUID, payload: DisagreementIn) -> Status:
    dialogue = _get(Dialogue, request, dialogue_id, Action.OPEN_DISAGREEMENT)
    round_ = (
        get_object_or_404(Round, pk=payload.round_id, dialogue=dialogue)
        if (payload.round_id)
        else None
    )
    item = disagreements.open_disagreement(
        _actor(request),
        dialogue,
        payload.topic,
        payload.issue_en,
        payload.issue_zh,
        round_,
        ip=client_ip(request),
    )
    return Status(201, {"id": str(item.pk)})


@router.put("/dialogue/disagreements/{disagreement_id}/position", response=dict[str, Any])
def state_position(request: HttpRequest, disagreement_id: UUID, payload: PositionIn) -> dict:
    item = _get(Disagreement, request, disagreement_id, Action.STATE_POSITION)
    position = disagreements.state_position(
        _actor(request), item, payload.text_en, payload.text_zh, ip=client_ip(request)
    )
    return {"node": position.node, "text_en": position.text_en, "text_zh": position.text_zh}


@router.post("/dialogue/disagreements/{disagreement_id}/status", response=dict[str, Any])
def disagreement_status(request: HttpRequest, disagreement_id: UUID, payload: StatusIn) -> dict:
    item = _get(Disagreement, request, disagreement_id, Action.SET_DISAGREEMENT_STATUS)
    item = disagreements.set_disagreement_status(
        _actor(request), item, payload.status, payload.note, ip=client_ip(request)
    )
    return {"id": str(item.pk), "status": item.status}


@router.post("/dialogue/outcomes/{outcome_id}/commitments", response={201: dict[str, Any]})
def add_commitment(request: HttpRequest, outcome_id: UUID, payload: CommitmentIn) -> Status:
    outcome = _get(Outcome, request, outcome_id, Action.CREATE_COMMITMENT)
    data = payload.model_dump()
    item = commitments.create_commitment(_actor(request), outcome, data, ip=client_ip(request))
    return Status(201, commitment_json(item, timezone.now().date()))


@router.post("/dialogue/commitments/{commitment_id}/status", response=dict[str, Any])
def commitment_status(request: HttpRequest, commitment_id: UUID, payload: StatusIn) -> dict:
    item = _get(Commitment, request, commitment_id, Action.REPORT_COMMITMENT)
    item = commitments.set_commitment_status(
        _actor(request), item, payload.status, payload.note, ip=client_ip(request)
    )
    return commitment_json(item, timezone.now().date())


@router.get("/dialogue/indicators", response=list[dict[str, Any]])
def indicators(request: HttpRequest, topic: str = "") -> list[dict[str, Any]]:
    """Every registered indicator, read now over the standard period."""
    require(_actor(request), PERMISSIONS[Action.VIEW], what="indicators", ip=client_ip(request))
    start, end = progress.period()
    found = []
    for indicator in all_indicators():
        measured = progress.measure({"code": indicator.code, "topic": topic}, start, end)
        if measured is not None:
            found.append(measured_json(measured))
    return found
