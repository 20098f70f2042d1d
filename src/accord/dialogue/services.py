"""The rules of the dialogue record. Each change checks the actor's permission
and that this node authors what it changes, writes the audit event and queues
the federation message in one transaction. Refusals are audited.

Authorship: the node that creates a dialogue, round, outcome, disagreement or
commitment authors it; a side writes only its own delegation, positions and
signatures; a commitment's status is set by the side that owes it. An outcome
is agreed when both nodes' Ed25519 signatures cover the same canonical content
(RFC 8785); a new version needs both signatures again, and the history stays."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.canonical import canonical_bytes
from accord.core.identity import this_node
from accord.core.roles import Permission
from accord.core.services import require
from accord.core.text import has_nul
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
from accord.dialogue.types import (
    CommitmentStatus,
    DelegationRole,
    DisagreementStatus,
    Topic,
    Track,
)
from accord.federation import services as federation
from accord.federation.models import Peer

CONTENT_TAG = "accord.dialogue.outcome/1"
SIGNATURE_TAG = "accord.dialogue.signature/1"
TEXT = 20_000
LINE = 500


class NotYours(PermissionDenied):
    """This node (or this user) does not author what it tries to change."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def actor_name(actor: Actor) -> str:
    if actor.user is None:
        return actor.label
    return actor.user.get_full_name() or actor.user.username


def _refuse(actor: Actor, what: str, reason: str, target: Any = None, ip: str = "") -> Any:
    audit.record(
        actor,
        AuditAction.DIALOGUE_REFUSED,
        target,
        target_type="" if target is not None else "dialogue",
        data={"what": what, "reason": reason},
        ip=ip,
    )
    raise NotYours(reason)


def _text(value: str, name: str, *, required: bool = True, limit: int = TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(_("%(field)s is required.") % {"field": name})
    if len(value) > limit or "\x00" in value:
        raise ValidationError(_("%(field)s is too long or not text.") % {"field": name})
    return value


# ---------------------------------------------------------------- dialogues and rounds


def create_dialogue(
    actor: Actor, peer: Peer, track: str, title_en: str, title_zh: str, *, ip: str = ""
) -> Dialogue:
    require(actor, Permission.MANAGE_DIALOGUE, what="create_dialogue", ip=ip)
    if track not in Track.values:
        raise ValidationError(_("Unknown track."))
    if not peer.active:
        raise ValidationError(_("%(node)s is not an active peer.") % {"node": peer.node_id})
    with transaction.atomic():
        dialogue = Dialogue.objects.create(
            id=uuid.uuid4(),
            track=track,
            title_en=_text(title_en, _("Title (English)"), limit=300),
            title_zh=_text(title_zh, _("Title (Chinese)"), limit=300),
            peer=peer,
            author_node=this_node().node_id,
            created_at=timezone.now(),
        )
        federation.enqueue(peer, DIALOGUE_KIND, dialogue_body(dialogue))
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            dialogue,
            ip=ip,
            data={"what": "dialogue", "title": dialogue.title_en},
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
    require(actor, Permission.MANAGE_DIALOGUE, what="save_round", ip=ip)
    node = this_node().node_id
    if round_ is not None and round_.author_node != node:
        _refuse(actor, "save_round", _("The other side keeps this round's record."), round_, ip)
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
            "title": _text(d.get("title", ""), _("Document title"), limit=300),
            "reference": _text(
                d.get("reference", ""), _("Document reference"), required=False, limit=500
            ),
        }
        for d in data.get("documents", [])
        if d.get("title")
    ]
    with transaction.atomic():
        if (
            Round.objects.filter(dialogue=dialogue, number=number)
            .exclude(pk=round_.pk if round_ else None)
            .exists()
        ):
            raise ValidationError(_("This dialogue already has a round %(n)s.") % {"n": number})
        target = round_ or Round(id=uuid.uuid4(), dialogue=dialogue, author_node=node)
        target.number, target.date, target.topics, target.documents = (
            number,
            when,
            topics,
            documents,
        )
        target.venue_en = _text(data.get("venue_en", ""), _("Venue (English)"), limit=300)
        target.venue_zh = _text(
            data.get("venue_zh", ""), _("Venue (Chinese)"), required=False, limit=300
        )
        target.save()
        federation.enqueue(dialogue.peer, ROUND_KIND, round_body(target))
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            target,
            ip=ip,
            data={"what": "round", "number": number},
        )
    return target


def set_delegation(
    actor: Actor, round_: Round, entries: list[dict[str, Any]], *, ip: str = ""
) -> list[DelegateEntry]:
    """This side's co-chairs and delegation members for a round (replaces them)."""
    require(actor, Permission.MANAGE_DIALOGUE, what="set_delegation", ip=ip)
    node = this_node().node_id
    people = []
    for position, entry in enumerate(entries):
        role = entry.get("role", DelegationRole.MEMBER)
        if role not in DelegationRole.values:
            raise ValidationError(_("Unknown delegation role."))
        name = _text(entry.get("name", ""), _("Name"), required=False, limit=300)
        if name:
            people.append(
                {
                    "role": role,
                    "name": name,
                    "position": position,
                    "title": _text(
                        entry.get("title", ""), _("Title or office"), required=False, limit=300
                    ),
                }
            )
    with transaction.atomic():
        _replace_delegation(round_, node, people)
        federation.enqueue(
            round_.dialogue.peer,
            DELEGATION_KIND,
            DelegationBody(round_id=str(round_.pk), node=node, people=people),
        )
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            round_,
            ip=ip,
            data={"what": "delegation", "people": len(people)},
        )
    return list(round_.delegates.filter(node=node))


def _replace_delegation(round_: Round, node: str, people: list[dict[str, Any]]) -> None:
    round_.delegates.filter(node=node).delete()
    DelegateEntry.objects.bulk_create([DelegateEntry(round=round_, node=node, **p) for p in people])


# ---------------------------------------------------------------- outcomes and signatures


def outcome_content(outcome: Outcome, version: int, text_en: str, text_zh: str) -> dict[str, Any]:
    """What both nodes sign: the canonical (RFC 8785) form of this dictionary."""
    round_ = outcome.round
    return {
        "accord": CONTENT_TAG,
        "dialogue": str(round_.dialogue_id),
        "track": round_.dialogue.track,
        "round": str(round_.pk),
        "round_number": round_.number,
        "outcome": str(outcome.pk),
        "topic": outcome.topic,
        "version": version,
        "proposed_by": outcome.author_node,
        "text_en": text_en,
        "text_zh": text_zh,
    }


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def signature_statement(sha256: str, node: str, name: str, title: str, at: str) -> bytes:
    return canonical_bytes(
        {
            "accord": SIGNATURE_TAG,
            "content_sha256": sha256,
            "node": node,
            "signer_name": name,
            "signer_title": title,
            "signed_at": at,
        }
    )


def _sign(version: OutcomeVersion, actor: Actor, title: str) -> OutcomeSignature:
    node = this_node()
    # Signed exactly as stored: what is kept is what verifies.
    name, at, title = actor_name(actor)[:300], now_iso(), (title or "").strip()[:300]
    statement = signature_statement(version.content_sha256, node.node_id, name, title, at)
    return OutcomeSignature.objects.create(
        version=version,
        node=node.node_id,
        signer_name=name,
        signer_title=title[:300],
        signed_at=at,
        public_key=base64.b64encode(node.signing_public).decode(),
        signature=base64.b64encode(node.signing_key.sign(statement).signature).decode(),
    )


def propose_outcome(
    actor: Actor,
    round_: Round,
    topic: str,
    text_en: str,
    text_zh: str,
    signer_title: str = "",
    *,
    ip: str = "",
) -> Outcome:
    """This node proposes a consensus item and signs it; the partner co-signs."""
    require(actor, Permission.SIGN_OUTCOMES, what="propose_outcome", ip=ip)
    if topic not in Topic.values:
        raise ValidationError(_("Unknown topic."))
    text_en, text_zh = _text(text_en, _("Text (English)")), _text(text_zh, _("Text (Chinese)"))
    with transaction.atomic():
        outcome = Outcome.objects.create(
            id=uuid.uuid4(),
            round=round_,
            topic=topic,
            author_node=this_node().node_id,
            created_at=timezone.now(),
        )
        _new_version(actor, outcome, text_en, text_zh, signer_title, ip)
    return outcome


def amend_outcome(
    actor: Actor,
    outcome: Outcome,
    text_en: str,
    text_zh: str,
    signer_title: str = "",
    *,
    ip: str = "",
) -> OutcomeVersion:
    """A new version (the old ones stay); it needs both signatures again.
    The proposing side amends; the other side asks it to, or records a disagreement."""
    require(actor, Permission.SIGN_OUTCOMES, what="amend_outcome", ip=ip)
    if outcome.author_node != this_node().node_id:
        _refuse(
            actor, "amend_outcome", _("The side that proposed an outcome amends it."), outcome, ip
        )
    text_en, text_zh = _text(text_en, _("Text (English)")), _text(text_zh, _("Text (Chinese)"))
    with transaction.atomic():
        locked = Outcome.objects.select_for_update().get(pk=outcome.pk)
        return _new_version(actor, locked, text_en, text_zh, signer_title, ip)


def _new_version(
    actor: Actor, outcome: Outcome, text_en: str, text_zh: str, title: str, ip: str
) -> OutcomeVersion:
    latest = outcome.latest()
    number = latest.version + 1 if latest else 1
    content = outcome_content(outcome, number, text_en, text_zh)
    version = OutcomeVersion.objects.create(
        outcome=outcome,
        version=number,
        text_en=text_en,
        text_zh=text_zh,
        content_sha256=content_hash(content),
        created_at=timezone.now(),
    )
    signature = _sign(version, actor, title)
    federation.enqueue(
        outcome.round.dialogue.peer, OUTCOME_KIND, outcome_body(outcome, version, signature)
    )
    audit.record(
        actor,
        AuditAction.DIALOGUE_SIGN,
        outcome,
        ip=ip,
        data={"what": "propose", "version": number, "sha256": version.content_sha256},
    )
    return version


def sign_outcome(
    actor: Actor, outcome: Outcome, version_number: int, signer_title: str = "", *, ip: str = ""
) -> OutcomeSignature:
    """This node's authorised official co-signs the version it has read."""
    require(actor, Permission.SIGN_OUTCOMES, what="sign_outcome", ip=ip)
    node = this_node().node_id
    refusal = ""
    with transaction.atomic():
        version = outcome.versions.select_for_update().filter(version=version_number).first()
        if version is None:
            raise ValidationError(_("No such version."))
        latest = outcome.latest()
        if latest is None or latest.version != version.version:
            refusal = _("Only the latest version can be signed.")
        elif version.signatures.filter(node=node).exists():
            refusal = _("This node has already signed this version.")
        else:
            signature = _sign(version, actor, signer_title)
            federation.enqueue(
                outcome.round.dialogue.peer,
                SIGNATURE_KIND,
                signature_body(outcome, version, signature),
            )
            audit.record(
                actor,
                AuditAction.DIALOGUE_SIGN,
                outcome,
                ip=ip,
                data={"what": "sign", "version": version.version, "sha256": version.content_sha256},
            )
    if refusal:
        # Refused after the transaction: raising inside it would roll back the refusal's audit.
        _refuse(actor, "sign_outcome", refusal, outcome, ip)
    return signature


def verify_signature(signature: OutcomeSignature | dict[str, Any], sha256: str) -> bool:
    s = (
        signature
        if isinstance(signature, dict)
        else {
            "node": signature.node,
            "signer_name": signature.signer_name,
            "signer_title": signature.signer_title,
            "signed_at": signature.signed_at,
            "public_key": signature.public_key,
            "signature": signature.signature,
        }
    )
    try:
        statement = signature_statement(
            sha256, s["node"], s["signer_name"], s["signer_title"], s["signed_at"]
        )
        VerifyKey(base64.b64decode(s["public_key"])).verify(
            statement, base64.b64decode(s["signature"])
        )
    except (BadSignatureError, ValueError, KeyError, TypeError):
        return False
    return True


def status_of(version: OutcomeVersion, parties: tuple[str, str]) -> str:
    """agreed: both nodes' valid signatures over this very content."""
    signed = {
        s.node for s in version.signatures.all() if verify_signature(s, version.content_sha256)
    }
    if set(parties) <= signed:
        return "agreed"
    return "proposed" if signed else "unsigned"


def parties(dialogue: Dialogue) -> tuple[str, str]:
    return (
        dialogue.author_node,
        dialogue.peer.node_id
        if dialogue.author_node == this_node().node_id
        else this_node().node_id,
    )


# ---------------------------------------------------------------- disagreements


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
    require(actor, Permission.MANAGE_DIALOGUE, what="open_disagreement", ip=ip)
    if topic not in Topic.values:
        raise ValidationError(_("Unknown topic."))
    node, at = this_node().node_id, now_iso()
    with transaction.atomic():
        item = Disagreement.objects.create(
            id=uuid.uuid4(),
            dialogue=dialogue,
            round=round_,
            topic=topic,
            issue_en=_text(issue_en, _("Issue (English)")),
            issue_zh=_text(issue_zh, _("Issue (Chinese)"), required=False),
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
        federation.enqueue(
            dialogue.peer, DISAGREEMENT_KIND, disagreement_body(item, actor_name(actor), at)
        )
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            item,
            ip=ip,
            data={"what": "disagreement", "topic": topic},
        )
    return item


def state_position(
    actor: Actor, item: Disagreement, text_en: str, text_zh: str, *, ip: str = ""
) -> Position:
    """This side's own position (a side never writes the other's)."""
    require(actor, Permission.MANAGE_DIALOGUE, what="state_position", ip=ip)
    node, at = this_node().node_id, now_iso()
    body = PositionBody(
        disagreement_id=str(item.pk),
        node=node,
        text_en=_text(text_en, _("Position (English)")),
        text_zh=_text(text_zh, _("Position (Chinese)"), required=False),
        stated_at=at,
        actor_name=actor_name(actor)[:300],
    )
    with transaction.atomic():
        position = _apply_position(item, body)
        federation.enqueue(item.dialogue.peer, POSITION_KIND, body)
        audit.record(actor, AuditAction.DIALOGUE_CHANGE, item, ip=ip, data={"what": "position"})
    return position


def _apply_position(item: Disagreement, body: PositionBody) -> Position:
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
    require(actor, Permission.MANAGE_DIALOGUE, what="disagreement_status", ip=ip)
    if status not in DisagreementStatus.values:
        raise ValidationError(_("Unknown status."))
    body = StatusBody(
        disagreement_id=str(item.pk),
        status=status,
        at=now_iso(),
        node=this_node().node_id,
        actor_name=actor_name(actor)[:300],
        note=_text(note, _("Note"), required=False),
    )
    with transaction.atomic():
        locked = Disagreement.objects.select_for_update().get(pk=item.pk)
        _apply_status(locked, body)
        federation.enqueue(item.dialogue.peer, STATUS_KIND, body)
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            locked,
            ip=ip,
            data={"what": "status", "status": status},
        )
    return locked


def _apply_status(item: Disagreement, body: StatusBody) -> None:
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


# ---------------------------------------------------------------- commitments


def create_commitment(
    actor: Actor, outcome: Outcome, data: dict[str, Any], *, ip: str = ""
) -> Commitment:
    require(actor, Permission.MANAGE_DIALOGUE, what="create_commitment", ip=ip)
    dialogue = outcome.round.dialogue
    owner = data.get("owner_node", "")
    if owner not in parties(dialogue):
        raise ValidationError(_("The owner must be one of the two sides."))
    try:
        due = (
            data["due_date"]
            if isinstance(data["due_date"], date)
            else date.fromisoformat(data["due_date"])
        )
    except (KeyError, TypeError, ValueError):
        raise ValidationError(_("Give the due date as YYYY-MM-DD.")) from None
    links = validate_links(data.get("indicators", []))
    at = now_iso()
    with transaction.atomic():
        item = Commitment.objects.create(
            id=uuid.uuid4(),
            outcome=outcome,
            owner_node=owner,
            due_date=due,
            title_en=_text(data.get("title_en", ""), _("Commitment (English)"), limit=500),
            title_zh=_text(
                data.get("title_zh", ""), _("Commitment (Chinese)"), required=False, limit=500
            ),
            status=CommitmentStatus.OPEN,
            indicators=links,
            author_node=this_node().node_id,
            updated_at=at,
            history=[
                {"at": at, "node": this_node().node_id, "status": "open", "by": actor_name(actor)}
            ],
        )
        federation.enqueue(dialogue.peer, COMMITMENT_KIND, commitment_body(item))
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            item,
            ip=ip,
            data={"what": "commitment", "owner": owner},
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
    require(actor, Permission.MANAGE_DIALOGUE, what="commitment_status", ip=ip)
    if item.owner_node != this_node().node_id:
        _refuse(
            actor,
            "commitment_status",
            _("The side that owes a commitment reports on it."),
            item,
            ip,
        )
    if status not in CommitmentStatus.values:
        raise ValidationError(_("Unknown status."))
    at = now_iso()
    with transaction.atomic():
        item.status, item.updated_at = status, at
        item.history = [
            *item.history,
            {
                "at": at,
                "node": item.owner_node,
                "status": status,
                "by": actor_name(actor),
                "note": _text(note, _("Note"), required=False),
            },
        ]
        item.save()
        federation.enqueue(item.outcome.round.dialogue.peer, COMMITMENT_KIND, commitment_body(item))
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            item,
            ip=ip,
            data={"what": "commitment-status", "status": status},
        )
    return item


# ---------------------------------------------------------------- wire bodies


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def no_nul(cls, data: Any) -> Any:
        if has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data


class DialogueBody(Wire):
    id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    track: Track
    title_en: str = Field(min_length=1, max_length=300)
    title_zh: str = Field(min_length=1, max_length=300)
    author_node: str
    created_at: str


class RoundBody(Wire):
    id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    dialogue_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    number: int = Field(ge=1)
    date: str
    venue_en: str = Field(max_length=300)
    venue_zh: str = Field(max_length=300)
    topics: list[Topic] = Field(max_length=20)
    documents: list[dict[str, str]] = Field(max_length=100)


class DelegationBody(Wire):
    round_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    node: str
    people: list[dict[str, Any]] = Field(max_length=200)


class SignatureBlock(Wire):
    node: str
    signer_name: str = Field(max_length=300)
    signer_title: str = Field(max_length=300)
    signed_at: str = Field(max_length=40)
    public_key: str = Field(max_length=64)
    signature: str = Field(max_length=100)


class OutcomeBody(Wire):
    id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    round_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    topic: Topic
    author_node: str
    created_at: str
    version: int = Field(ge=1)
    text_en: str = Field(min_length=1, max_length=TEXT)
    text_zh: str = Field(min_length=1, max_length=TEXT)
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: SignatureBlock


class SignatureBody(Wire):
    outcome_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    version: int = Field(ge=1)
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: SignatureBlock


class DisagreementBody(Wire):
    id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    dialogue_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    round_id: str | None = None
    topic: Topic
    issue_en: str = Field(min_length=1, max_length=TEXT)
    issue_zh: str = Field(max_length=TEXT)
    author_node: str
    created_at: str
    opened_at: str
    actor_name: str = Field(max_length=300)


class PositionBody(Wire):
    disagreement_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    node: str
    text_en: str = Field(min_length=1, max_length=TEXT)
    text_zh: str = Field(max_length=TEXT)
    stated_at: str = Field(max_length=40)
    actor_name: str = Field(max_length=300)


ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$"


class StatusBody(Wire):
    disagreement_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    status: DisagreementStatus
    at: str = Field(pattern=ISO_UTC)  # compared as text: one exact format
    node: str
    actor_name: str = Field(max_length=300)
    note: str = Field(max_length=TEXT)


class CommitmentBody(Wire):
    id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    outcome_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    title_en: str = Field(min_length=1, max_length=500)
    title_zh: str = Field(max_length=500)
    owner_node: str
    due_date: str
    status: CommitmentStatus
    indicators: list[dict[str, Any]] = Field(max_length=10)
    author_node: str
    updated_at: str = Field(max_length=40)
    history: list[dict[str, Any]] = Field(max_length=1000)


DIALOGUE_KIND = "dialogue.dialogue"
ROUND_KIND = "dialogue.round"
DELEGATION_KIND = "dialogue.delegation"
OUTCOME_KIND = "dialogue.outcome.propose"
SIGNATURE_KIND = "dialogue.outcome.sign"
DISAGREEMENT_KIND = "dialogue.disagreement"
POSITION_KIND = "dialogue.position"
STATUS_KIND = "dialogue.disagreement.status"
COMMITMENT_KIND = "dialogue.commitment"


def dialogue_body(d: Dialogue) -> DialogueBody:
    return DialogueBody(
        id=str(d.pk),
        track=d.track,
        title_en=d.title_en,
        title_zh=d.title_zh,
        author_node=d.author_node,
        created_at=d.created_at.isoformat(),
    )


def round_body(r: Round) -> RoundBody:
    return RoundBody(
        id=str(r.pk),
        dialogue_id=str(r.dialogue_id),
        number=r.number,
        date=r.date.isoformat(),
        venue_en=r.venue_en,
        venue_zh=r.venue_zh,
        topics=r.topics,
        documents=r.documents,
    )


def _block(s: OutcomeSignature) -> SignatureBlock:
    return SignatureBlock(
        node=s.node,
        signer_name=s.signer_name,
        signer_title=s.signer_title,
        signed_at=s.signed_at,
        public_key=s.public_key,
        signature=s.signature,
    )


def outcome_body(o: Outcome, v: OutcomeVersion, s: OutcomeSignature) -> OutcomeBody:
    return OutcomeBody(
        id=str(o.pk),
        round_id=str(o.round_id),
        topic=o.topic,
        author_node=o.author_node,
        created_at=o.created_at.isoformat(),
        version=v.version,
        text_en=v.text_en,
        text_zh=v.text_zh,
        content_sha256=v.content_sha256,
        signature=_block(s),
    )


def signature_body(o: Outcome, v: OutcomeVersion, s: OutcomeSignature) -> SignatureBody:
    return SignatureBody(
        outcome_id=str(o.pk),
        version=v.version,
        content_sha256=v.content_sha256,
        signature=_block(s),
    )


def disagreement_body(d: Disagreement, name: str, at: str) -> DisagreementBody:
    return DisagreementBody(
        id=str(d.pk),
        dialogue_id=str(d.dialogue_id),
        round_id=str(d.round_id) if d.round_id else None,
        topic=d.topic,
        issue_en=d.issue_en,
        issue_zh=d.issue_zh,
        author_node=d.author_node,
        created_at=d.created_at.isoformat(),
        opened_at=at,
        actor_name=name[:300],
    )


def commitment_body(c: Commitment) -> CommitmentBody:
    return CommitmentBody(
        id=str(c.pk),
        outcome_id=str(c.outcome_id),
        title_en=c.title_en,
        title_zh=c.title_zh,
        owner_node=c.owner_node,
        due_date=c.due_date.isoformat(),
        status=c.status,
        indicators=c.indicators,
        author_node=c.author_node,
        updated_at=c.updated_at,
        history=c.history,
    )
