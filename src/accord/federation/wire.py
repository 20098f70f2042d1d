"""The bodies of the federation app's own message kinds (DESIGN.md, Federation
protocol v1): `core.note`, a signed text note from an officer of one node to the
other node; `core.ping`, a channel test; `core.key-rotation`, a node's new keys
announced under its old ones. Strict schemas, nothing else: the handlers are in
`inbound`, the commands in `notes` and `rotation`."""

from __future__ import annotations

from pydantic import Field

from accord.federation.kinds import StrictBody

NOTE_KIND = "core.note"
PING_KIND = "core.ping"
ROTATION_KIND = "core.key-rotation"
MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_PADDING = 65_536


class NoteBody(StrictBody):
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    language: str = Field(pattern=r"^(en|zh-hans)$")
    author: str = Field(min_length=1, max_length=300)


class PingBody(StrictBody):
    n: int = Field(ge=0)
    padding: str = Field(default="", max_length=MAX_PADDING)


class RotationBody(StrictBody):
    signing_key: str = Field(min_length=44, max_length=44)
    encryption_key: str = Field(min_length=44, max_length=44)
