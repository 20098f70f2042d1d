"""The matching.* message kinds and their strict bodies (docs/matching.md
section 2). Points are base64 text here; `psi.points_from_wire` checks them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from accord.core.ijson import SmallCount, SmallPositive
from accord.federation.kinds import StrictBody
from accord.matching.psi import MAX_POINTS_PER_MESSAGE, MAX_TAGS_PER_MESSAGE

QUERY_KIND = "matching.query"
ANSWER_KIND = "matching.answer"
SET_KIND = "matching.set"
REFUSED_KIND = "matching.refused"

QueryId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# 44 characters of base64; the content is checked by psi.points_from_wire.
Point = Annotated[str, Field(min_length=1, max_length=64)]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class QueryBody(StrictBody):
    query: QueryId
    part: SmallCount
    parts: SmallPositive
    count: SmallPositive
    type: Code
    purpose: str = Field(min_length=1, max_length=1000)
    case: str = Field(min_length=1, max_length=80)
    held_set: Digest | Annotated[str, Field(max_length=0)]
    points: list[Point] = Field(min_length=1, max_length=MAX_POINTS_PER_MESSAGE)


class AnswerBody(StrictBody):
    query: QueryId
    part: SmallCount
    set: Digest
    set_size: SmallCount
    set_parts: SmallCount
    points: list[Point] = Field(min_length=1, max_length=MAX_POINTS_PER_MESSAGE)


class SetBody(StrictBody):
    query: QueryId
    set: Digest
    part: SmallCount
    # 65,536 tags of 8 bytes in base64: 699,052 characters.
    tags: str = Field(
        max_length=4 * (MAX_TAGS_PER_MESSAGE * 8 + 2) // 3, pattern=r"^[A-Za-z0-9+/]*={0,2}$"
    )


class RefusedBody(StrictBody):
    """The answerer will not answer: its policy refused the query, or the
    central authority declined it. The reason is for the asker's officer."""

    query: QueryId
    reason: str = Field(min_length=1, max_length=1000)
    # The most points the answerer would take for this query now (its
    # max_values, or what is left of its daily limit), 0 when no number
    # would do (docs/matching.md 2.5): the asker cuts its padding to it.
    limit: SmallCount
