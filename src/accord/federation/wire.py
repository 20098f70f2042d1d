"""The bodies of the federation app's own message kinds (DESIGN.md, Federation
protocol v1): `core.note`, a signed text note from an officer of one node to the
other node; `core.ping`, a channel test; `core.key-rotation`, a node's new keys
announced under its old ones. Strict schemas, nothing else: the handlers are in
`inbound`, the commands in `notes` and `rotation`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from accord.core.ijson import SmallCount
from accord.federation.kinds import StrictBody

NOTE_KIND = "core.note"
PING_KIND = "core.ping"
ROTATION_KIND = "core.key-rotation"
DIGEST_KIND = "core.replicas.digest"
ASK_KIND = "core.replicas.ask"
SNAPSHOT_KIND = "core.replicas.snapshot"
CHECKPOINT_KIND = "core.audit.checkpoint"
MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_PADDING = 65_536
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class NoteBody(StrictBody):
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    language: str = Field(pattern=r"^(en|zh-hans)$")
    author: str = Field(min_length=1, max_length=300)
    # Optional, and left out when not set, so a note outside any thread is the
    # v1 note every node already reads (docs/protocol.md, `core.note`).
    thread: str | None = Field(default=None, pattern=UUID_PATTERN)
    request: str | None = Field(default=None, pattern=UUID_PATTERN)

    @model_serializer(mode="wrap")
    def _without_unset_links(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {k: v for k, v in dumped.items() if v is not None}


class PingBody(StrictBody):
    n: SmallCount
    padding: str = Field(default="", max_length=MAX_PADDING)


class RotationBody(StrictBody):
    signing_key: str = Field(min_length=44, max_length=44)
    encryption_key: str = Field(min_length=44, max_length=44)


# Replicas (federation.replicas): "family:id", a node id (or "" when no single
# node owns the item), a SHA-256 of the item's canonical shared view.
ItemKey = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[a-z][a-z.-]*:.+$")]
Owner = Annotated[str, Field(max_length=100)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class DigestEntry(StrictBody):
    key: ItemKey
    owner: Owner
    sha256: Sha256


class DigestBody(StrictBody):
    """The shared state of every item the sender holds whose key lies in
    [first, last]: the receiver compares its own items in that range."""

    first: str = Field(max_length=200)
    last: str = Field(max_length=200)
    entries: list[DigestEntry] = Field(max_length=1000)


class AskBody(StrictBody):
    """Items whose copy differs from the receiver's, which owns them."""

    keys: list[ItemKey] = Field(min_length=1, max_length=1000)


class SnapshotBody(StrictBody):
    """The owner's copy of an item (its shared view), or None: the owner does
    not hold it."""

    key: ItemKey
    view: dict[str, Any] | None


class CheckpointBody(StrictBody):
    """A node's signed statement of its audit head (federation.anchoring):
    `sig` is its Ed25519 signature over the canonical JSON of the other fields,
    so the peer that keeps it can show it to anyone, the node included."""

    type: Literal["accord.audit-checkpoint"]
    node: str = Field(min_length=1, max_length=100)
    seq: int = Field(ge=1, le=2**53 - 1)
    hash: Sha256
    at: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
    sig: str = Field(min_length=1, max_length=100)
