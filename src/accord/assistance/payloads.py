"""The payloads the steps of a request carry (machine.TRANSITIONS names each
step's schema): checked on the node that takes the step and again, strictly,
on every replica it reaches (wire.check_payload)."""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, Field

from accord.assistance.types import (
    TEXT,
    Condition,
    RefusalGround,
    RestrictionKind,
    Strict,
)
from accord.core.ijson import Count


class Comment(Strict):
    comment: str = Field(default="", max_length=TEXT)


class Reason(Strict):
    comment: str = Field(min_length=1, max_length=TEXT)


class Questions(Strict):
    questions: str = Field(min_length=1, max_length=TEXT)


class Answers(Strict):
    answers: str = Field(min_length=1, max_length=TEXT)


class Consultation(Strict):
    comment: str = Field(min_length=1, max_length=TEXT)
    proposed_conditions: list[Condition] = Field(default_factory=list, max_length=20)


class Conditions(Strict):
    conditions: list[Condition] = Field(min_length=1, max_length=20)
    comment: str = Field(default="", max_length=TEXT)


class GroundCited(Strict):
    ground: RefusalGround
    rationale: str = Field(min_length=1, max_length=TEXT)


class Grounds(Strict):
    grounds: list[GroundCited] = Field(min_length=1, max_length=len(RefusalGround))
    comment: str = Field(default="", max_length=TEXT)


class Postponement(Grounds):
    until: date | None = None


class FileRef(Strict):
    name: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    size: Count
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Response(Strict):
    text: str = Field(min_length=1, max_length=TEXT)
    files: list[FileRef] = Field(default_factory=list, max_length=20)


class Preservation(Strict):
    expires_at: AwareDatetime | None = None
    comment: str = Field(default="", max_length=TEXT)


class Preserved(Preservation):
    """`preserve` as it travels: the requested node has filled in the expiry
    (services.apply_step), and both replicas set the hold from it."""

    expires_at: AwareDatetime


class Extension(Strict):
    days: int = Field(default=60, ge=1, le=365)
    comment: str = Field(default="", max_length=TEXT)


class Restriction(Strict):
    kind: RestrictionKind
    text: str = Field(min_length=1, max_length=TEXT)


class Assignment(Strict):
    """The agency of the requested party that executes the request (its node
    id): the central authority assigns it after accepting (docs/assistance.md,
    "Parties, routing and assignment")."""

    node: str = Field(min_length=1, max_length=100)
    comment: str = Field(default="", max_length=TEXT)
