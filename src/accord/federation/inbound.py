"""What the federation app does with its own kinds when they arrive: each
handler checks what only it can check and hands the body to a service."""

from __future__ import annotations

import base64

from accord.federation import anchoring, kinds, notes, replicas, rotation
from accord.federation.wire import (
    ASK_KIND,
    CHECKPOINT_KIND,
    DIGEST_KIND,
    NOTE_KIND,
    PING_KIND,
    ROTATION_KIND,
    SNAPSHOT_KIND,
    AskBody,
    CheckpointBody,
    DigestBody,
    NoteBody,
    PingBody,
    RotationBody,
    SnapshotBody,
)


@kinds.register(NOTE_KIND, NoteBody)
def receive_note(context: kinds.InboundContext, body: NoteBody) -> None:
    notes.record_received_note(context.peer, context.message_id, body)


@kinds.register(PING_KIND, PingBody)
def receive_ping(context: kinds.InboundContext, body: PingBody) -> None:
    """Nothing to apply: the inbox record and its receipt are the result."""


@kinds.register(ROTATION_KIND, RotationBody)
def receive_rotation(context: kinds.InboundContext, body: RotationBody) -> None:
    try:
        signing = base64.b64decode(body.signing_key, validate=True)
        encryption = base64.b64decode(body.encryption_key, validate=True)
    except ValueError:
        raise kinds.Refusal("invalid_body: keys must be base64") from None
    if len(signing) != 32 or len(encryption) != 32:
        raise kinds.Refusal("invalid_body: keys must be 32 bytes")
    rotation.accept_peer_keys(context.peer, body)


@kinds.register(DIGEST_KIND, DigestBody)
def receive_digest(context: kinds.InboundContext, body: DigestBody) -> None:
    replicas.receive_digest(context.peer, body)


@kinds.register(ASK_KIND, AskBody)
def receive_ask(context: kinds.InboundContext, body: AskBody) -> None:
    replicas.receive_ask(context.peer, body)


@kinds.register(SNAPSHOT_KIND, SnapshotBody)
def receive_snapshot(context: kinds.InboundContext, body: SnapshotBody) -> None:
    replicas.receive_snapshot(context.peer, body)


kinds.register(CHECKPOINT_KIND, CheckpointBody)(anchoring.receive_checkpoint)
