"""The parts of the dialogue record as replicas compare them (dialogue.replica):
one strict schema per part, for the view both copies must agree on. A view
that fails its schema is refused before anything is written (dialogue.snapshots)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict

from accord.core.ijson import SmallCount, SmallPositive
from accord.dialogue.fields import TEXT
from accord.dialogue.types import DelegationRole
from accord.dialogue.wire import (
    UUID_RE,
    CommitmentStatusValue,
    DisagreementStatusValue,
    TopicValue,
    TrackValue,
)
from accord.federation.kinds import StrictBody


def _aware(text: str) -> str:
    if datetime.fromisoformat(text).tzinfo is None:
        raise ValueError("a time needs its UTC offset")
    return text


def _aware_or_empty(text: str) -> str:
    # A disagreement restored from its author's snapshot holds no status change
    # until the status is merged: "", which any change outranks.
    return text and _aware(text)


def _day(text: str) -> str:
    date.fromisoformat(text)
    return text


Uuid = Annotated[str, Field(pattern=UUID_RE)]
Node = Annotated[str, Field(min_length=1, max_length=100)]
Stamp = Annotated[str, Field(max_length=40), AfterValidator(_aware)]
Day = Annotated[str, Field(max_length=10), AfterValidator(_day)]
Short = Annotated[str, Field(max_length=300)]
Text = Annotated[str, Field(max_length=TEXT)]


# The views: what both replicas of each part must agree on -------------------


class DialogueView(StrictBody):
    id: Uuid
    track: TrackValue
    title_en: str = Field(min_length=1, max_length=300)
    title_zh: str = Field(min_length=1, max_length=300)
    author_node: Node
    created_at: Stamp
    nodes: list[Node] = Field(default_factory=list, max_length=50)


class RoundView(StrictBody):
    id: Uuid
    dialogue_id: Uuid
    number: SmallPositive
    date: Day
    venue_en: Short
    venue_zh: Short
    topics: list[TopicValue] = Field(max_length=20)
    documents: list[dict[str, str]] = Field(max_length=100)
    author_node: Node


class Person(StrictBody):
    role: Annotated[DelegationRole, Strict(False)]
    name: str = Field(min_length=1, max_length=300)
    title: Short
    position: SmallCount


class DelegationView(StrictBody):
    round_id: Uuid
    node: Node
    people: list[Person] = Field(max_length=200)


class VersionView(StrictBody):
    version: SmallPositive
    text_en: str = Field(min_length=1, max_length=TEXT)
    text_zh: str = Field(min_length=1, max_length=TEXT)
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class OutcomeView(StrictBody):
    id: Uuid
    round_id: Uuid
    topic: TopicValue
    author_node: Node
    created_at: Stamp
    # Without their creation times: the partner's copy of a version carries
    # the outcome's (wire.OutcomeBody has no other), so the two differ.
    versions: list[VersionView] = Field(min_length=1, max_length=1000)


class SignatureView(StrictBody):
    version: SmallPositive
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    node: Node
    signer_name: Short
    signer_title: Short
    signed_at: str = Field(max_length=40)
    public_key: str = Field(max_length=64)
    signature: str = Field(max_length=100)


class SignaturesView(StrictBody):
    outcome_id: Uuid
    node: Node
    signatures: list[SignatureView] = Field(max_length=1000)


class DisagreementView(StrictBody):
    id: Uuid
    dialogue_id: Uuid
    round_id: Uuid | None
    topic: TopicValue
    issue_en: str = Field(min_length=1, max_length=TEXT)
    issue_zh: Text
    author_node: Node
    created_at: Stamp


class PositionText(StrictBody):
    text_en: str = Field(min_length=1, max_length=TEXT)
    text_zh: Text
    stated_at: Stamp


class EventView(StrictBody):
    at: Stamp
    actor_name: Short
    kind: str = Field(pattern=r"^(opened|position|status)$")
    data: dict[str, Any]


class PositionView(StrictBody):
    disagreement_id: Uuid
    node: Node
    position: PositionText | None
    history: list[EventView] = Field(max_length=1000)


class StatusView(StrictBody):
    disagreement_id: Uuid
    status: DisagreementStatusValue
    status_at: Annotated[str, Field(max_length=40), AfterValidator(_aware_or_empty)]
    status_node: str = Field(max_length=100)


class CommitmentView(StrictBody):
    id: Uuid
    outcome_id: Uuid
    title_en: str = Field(min_length=1, max_length=500)
    title_zh: str = Field(max_length=500)
    owner_node: Node
    due_date: Day
    indicators: list[dict[str, Any]] = Field(max_length=10)
    author_node: Node


class ReportView(StrictBody):
    id: Uuid
    status: CommitmentStatusValue
    updated_at: str = Field(max_length=40)
    history: list[dict[str, Any]] = Field(max_length=1000)
