"""In-process builders for requests in flight, without live nodes: a draft
taken through validation and submission by this node's officers, and a request
as it arrives from the partner (built with the same services, then received)."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

from accord.assistance import inbound, services, wire
from accord.assistance.models import AssistanceRequest
from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.flow import request_body


def pinned_peer(node_id: str) -> Peer:
    """A partner node known by fixed, random keys: nothing is sent to it."""
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id=node_id,
        url="http://127.0.0.1:9/",
        party="US",
        agency="DoJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def submitted(users: dict[Role, Any], peer: Peer, request_type: str = "data_order", **overrides):
    """A draft to `peer`, validated and submitted here."""
    body = request_body(request_type, peer.node_id, **overrides)
    body.pop("peer")
    draft = services.create_request(Actor.of(users[Role.INVESTIGATOR]), peer, body)
    for role, step in (
        (Role.INVESTIGATOR, "send_for_validation"),
        (Role.PROSECUTOR, "validate"),
        (Role.CENTRAL_AUTHORITY, "submit"),
    ):
        draft.refresh_from_db()
        services.perform(Actor.of(users[role]), draft, step, version=draft.version)
    draft.refresh_from_db()
    return draft


def arrive(
    users: dict[Role, Any],
    peer: Peer,
    request_type: str = "data_order",
    *,
    follows: AssistanceRequest | None = None,
    **overrides: Any,
) -> AssistanceRequest:
    """A request as it arrives from `peer`: its submission, received here."""
    draft = submitted(users, peer, request_type, **overrides)
    body = wire.submit_body(draft).model_copy(
        update={
            "request_id": str(uuid.uuid4()),
            "reference": f"{peer.node_id.upper()}-{uuid.uuid4().hex[:6]}",
            "requesting_node": peer.node_id,
            "requested_node": this_node().node_id,
            "follows": str(follows.pk) if follows else None,
        }
    )
    inbound.receive_submit(peer, body)
    return AssistanceRequest.objects.get(pk=body.request_id)
