"""The dialogue.* message kinds on the wire: each body's strict schema, and the
builders that make a body from what this node holds. Every body is a strict
`kinds.StrictBody`: unknown fields, coerced types and NUL characters are
refused before any handler runs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, Strict

from accord.core.ijson import SmallPositive
from accord.core.text import Timestamp
from accord.dialogue.fields import TEXT, Day, HistoryEntry, Stamp
from accord.dialogue.models import (
    Commitment,
    Dialogue,
    Disagreement,
    Outcome,
    OutcomeSignature,
    OutcomeVersion,
    Round,
)
from accord.dialogue.signing import parties, signature_fields
from accord.dialogue.types import (
    CommitmentStatus,
    DelegationRole,
    DisagreementStatus,
    Topic,
    Track,
)
from accord.federation.kinds import StrictBody

DIALOGUE_KIND = "dialogue.dialogue"
ROUND_KIND = "dialogue.round"
DELEGATION_KIND = "dialogue.delegation"
OUTCOME_KIND = "dialogue.outcome.propose"
SIGNATURE_KIND = "dialogue.outcome.sign"
DISAGREEMENT_KIND = "dialogue.disagreement"
POSITION_KIND = "dialogue.position"
STATUS_KIND = "dialogue.disagreement.status"
COMMITMENT_KIND = "dialogue.commitment"

UUID_RE = r"^[0-9a-f-]{36}$"


# A choice arrives as its value, a JSON string, where strict mode wants the
# enum member itself: these fields take the value, and nothing but a value of
# their enum (not a number, not an unknown word). The wire format is unchanged.
TrackValue = Annotated[Track, Strict(False)]
TopicValue = Annotated[Topic, Strict(False)]
DisagreementStatusValue = Annotated[DisagreementStatus, Strict(False)]
CommitmentStatusValue = Annotated[CommitmentStatus, Strict(False)]
DelegationRoleValue = Annotated[DelegationRole, Strict(False)]


class DialogueBody(StrictBody):
    id: str = Field(pattern=UUID_RE)
    track: TrackValue
    title_en: str = Field(min_length=1, max_length=300)
    title_zh: str = Field(min_length=1, max_length=300)
    author_node: str
    created_at: Timestamp
    # Every participating node, the author's included, sorted; empty (an older
    # sender): the author and the receiver only.
    nodes: list[str] = Field(default_factory=list, max_length=50)


class RoundBody(StrictBody):
    id: str = Field(pattern=UUID_RE)
    dialogue_id: str = Field(pattern=UUID_RE)
    number: SmallPositive
    date: Day
    venue_en: str = Field(max_length=300)
    venue_zh: str = Field(max_length=300)
    topics: list[TopicValue] = Field(max_length=20)
    documents: list[dict[str, str]] = Field(max_length=100)


class Delegate(StrictBody):
    role: DelegationRoleValue
    name: str = Field(min_length=1, max_length=300)
    title: str = Field(default="", max_length=300)
    position: int = Field(default=0, ge=0, le=10_000)


class DelegationBody(StrictBody):
    round_id: str = Field(pattern=UUID_RE)
    node: str
    people: list[Delegate] = Field(max_length=200)


class SignatureBlock(StrictBody):
    node: str
    signer_name: str = Field(max_length=300)
    signer_title: str = Field(max_length=300)
    signed_at: Stamp
    public_key: str = Field(max_length=64)
    signature: str = Field(max_length=100)


class OutcomeBody(StrictBody):
    id: str = Field(pattern=UUID_RE)
    round_id: str = Field(pattern=UUID_RE)
    topic: TopicValue
    author_node: str
    created_at: Timestamp
    version: SmallPositive
    text_en: str = Field(min_length=1, max_length=TEXT)
    text_zh: str = Field(min_length=1, max_length=TEXT)
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: SignatureBlock


class SignatureBody(StrictBody):
    outcome_id: str = Field(pattern=UUID_RE)
    version: SmallPositive
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: SignatureBlock


class DisagreementBody(StrictBody):
    id: str = Field(pattern=UUID_RE)
    dialogue_id: str = Field(pattern=UUID_RE)
    round_id: str | None = None
    topic: TopicValue
    issue_en: str = Field(min_length=1, max_length=TEXT)
    issue_zh: str = Field(max_length=TEXT)
    author_node: str
    created_at: Timestamp
    opened_at: Stamp  # the status's first time, compared as text
    actor_name: str = Field(max_length=300)


class PositionBody(StrictBody):
    disagreement_id: str = Field(pattern=UUID_RE)
    node: str
    text_en: str = Field(min_length=1, max_length=TEXT)
    text_zh: str = Field(max_length=TEXT)
    stated_at: Stamp
    actor_name: str = Field(max_length=300)


class StatusBody(StrictBody):
    disagreement_id: str = Field(pattern=UUID_RE)
    status: DisagreementStatusValue
    at: Stamp  # compared as text: one exact format
    node: str
    actor_name: str = Field(max_length=300)
    note: str = Field(max_length=TEXT)


class CommitmentBody(StrictBody):
    id: str = Field(pattern=UUID_RE)
    outcome_id: str = Field(pattern=UUID_RE)
    title_en: str = Field(min_length=1, max_length=500)
    title_zh: str = Field(max_length=500)
    owner_node: str
    due_date: Day
    status: CommitmentStatusValue
    indicators: list[dict[str, Any]] = Field(max_length=10)
    author_node: str
    updated_at: Stamp
    history: list[HistoryEntry] = Field(max_length=1000)


def dialogue_body(d: Dialogue) -> DialogueBody:
    return DialogueBody(
        id=str(d.pk),
        track=Track(d.track),
        title_en=d.title_en,
        title_zh=d.title_zh,
        author_node=d.author_node,
        created_at=d.created_at.isoformat(),
        nodes=list(parties(d)),
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


def signature_block(s: OutcomeSignature) -> SignatureBlock:
    return SignatureBlock(**signature_fields(s))


def outcome_body(o: Outcome, v: OutcomeVersion, s: OutcomeSignature) -> OutcomeBody:
    return OutcomeBody(
        id=str(o.pk),
        round_id=str(o.round_id),
        topic=Topic(o.topic),
        author_node=o.author_node,
        created_at=o.created_at.isoformat(),
        version=v.version,
        text_en=v.text_en,
        text_zh=v.text_zh,
        content_sha256=v.content_sha256,
        signature=signature_block(s),
    )


def signature_body(o: Outcome, v: OutcomeVersion, s: OutcomeSignature) -> SignatureBody:
    return SignatureBody(
        outcome_id=str(o.pk),
        version=v.version,
        content_sha256=v.content_sha256,
        signature=signature_block(s),
    )


def disagreement_body(d: Disagreement, name: str, at: str) -> DisagreementBody:
    return DisagreementBody(
        id=str(d.pk),
        dialogue_id=str(d.dialogue_id),
        round_id=str(d.round_id) if d.round_id else None,
        topic=Topic(d.topic),
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
        status=CommitmentStatus(c.status),
        indicators=c.indicators,
        author_node=c.author_node,
        updated_at=c.updated_at,
        history=c.history,
    )
