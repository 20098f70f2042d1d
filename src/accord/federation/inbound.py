"""What the federation app does with its own kinds when they arrive: each
handler checks what only it can check and hands the body to a service."""

from __future__ import annotations

import base64

from accord.federation import kinds, notes, rotation
from accord.federation.wire import (
    NOTE_KIND,
    PING_KIND,
    ROTATION_KIND,
    NoteBody,
    PingBody,
    RotationBody,
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
