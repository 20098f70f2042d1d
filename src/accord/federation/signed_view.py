"""Signed documents (envelopes, receipts) as the pages show them: JSON a
reader can copy and check, not a Python dict. Beside the document, pretty-printed
with its keys sorted, stand the exact bytes its `sig` covers (the RFC 8785
canonical JSON of the signed members) and the signer's public key, so anyone
can verify the Ed25519 signature with any tool (docs/protocol.md)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from accord.core.canonical import CanonicalizationError, canonical_bytes
from accord.core.identity import this_node
from accord.federation.envelope import ENVELOPE_FIELDS, RECEIPT_FIELDS
from accord.federation.models import InboxMessage, OutboxMessage


@dataclass(frozen=True)
class SignedView:
    key: str  # an HTML id, and the test id
    title: str
    pretty: str
    signing_input: str | None
    signer: str
    signer_key: str


def pretty(document: Any) -> str:
    """Indented JSON with sorted keys: the canonical form's order, readable."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def signing_input(document: Any, fields: tuple[str, ...]) -> str | None:
    """The exact text the signature covers; None when the kept document lacks a
    signed member (an applied bulk message keeps no body)."""
    try:
        return canonical_bytes({name: document[name] for name in fields}).decode()
    except (KeyError, TypeError, CanonicalizationError):
        return None


def _view(
    key: str, title: str, document: Any, fields: tuple[str, ...], signer: str, signer_key: str
) -> SignedView:
    return SignedView(
        key, title, pretty(document), signing_input(document, fields), signer, signer_key
    )


def of_outgoing(message: OutboxMessage, title: str) -> list[SignedView]:
    """The receipt the peer signed for a message this node sent."""
    if not message.receipt:
        return []
    peer = message.peer
    return [
        _view("receipt", title, message.receipt, RECEIPT_FIELDS, peer.node_id, peer.signing_key)
    ]


def of_incoming(message: InboxMessage, envelope_title: str, receipt_title: str) -> list[SignedView]:
    """The envelope as the peer signed it, and the receipt this node signed."""
    node = this_node()
    ours = base64.b64encode(node.signing_public).decode()
    peer = message.peer
    return [
        _view(
            "envelope",
            envelope_title,
            message.envelope,
            ENVELOPE_FIELDS,
            peer.node_id,
            peer.signing_key,
        ),
        _view("receipt", receipt_title, message.receipt, RECEIPT_FIELDS, node.node_id, ours),
    ]
