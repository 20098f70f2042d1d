"""Requests written straight into the store, as a node holds them after
talking to a partner (a Peer row only, `tests.objects.make_partner`): for
tests about who may read what is stored, not about how it got there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from accord.assistance.models import AssistanceRequest
from accord.federation.models import Peer


def stored_request(peer: Peer, reference: str, **fields: Any) -> AssistanceRequest:
    """A submitted outgoing request; `fields` override any column."""
    moment = datetime(2026, 2, 1, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "reference": reference,
        "requesting_node": "xx.test",
        "requested_node": peer.node_id,
        "peer": peer,
        "outgoing": True,
        "request_type": "data_order",
        "legal_basis": "bilateral",
        "requesting_authority": "Cyber police",
        "central_authority": "MPS",
        "offences": [],
        "summary": "Plain facts",
        "purpose": "Evidence",
        "urgency": "standard",
        "language": "en",
        "signer": "Zhang Wei",
        "state": "submitted",
        "created_at": moment,
        "submitted_at": moment,
        **fields,
    }
    return AssistanceRequest.objects.create(**values)
