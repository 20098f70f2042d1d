"""A partner node played by the test for evidence transfers: it signs its own
custody records and sends evidence.* messages through this node's real inbox."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from django.test import Client, TestCase

from accord.core.identity import this_node
from accord.evidence import custody
from accord.evidence.wire import CHUNK_KIND, OFFER_KIND
from accord.federation.envelope import open_body
from accord.federation.models import OutboxMessage
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch


class Partner:
    def __init__(self, remote: RemotePeer) -> None:
        self.remote = remote
        self.client = Client()

    @property
    def node_id(self) -> str:
        return self.remote.node_id

    def send(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        envelope = self.remote.envelope(self.remote.next_in_seq(), body, kind=kind)
        # What waits for the inbox's commit (removing a partial file) runs too.
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                INBOX, data=json.dumps(batch(envelope)), content_type="application/json"
            )
        assert response.status_code == 200, response.content
        [receipt] = response.json()["receipts"]
        return receipt

    def record(
        self, item: str, sha256: str, event: str, prev: custody.Record | None = None
    ) -> custody.Record:
        details = {"how": "production", "where": "provider", "by": "Clerk", "legal_basis": "order"}
        return custody.make_record(
            item=item,
            sha256=sha256,
            node=self.node_id,
            prev=prev,
            event=event,
            at=datetime.now(UTC),
            actor="clerk",
            reason="",
            details=details if event == "collected" else {},
            signing_key=self.remote.signing_key,
        )

    def sent(self, kind: str) -> list[dict[str, Any]]:
        """What this node queued for the partner, opened with the partner's key."""
        return [
            json.loads(open_body(m.body, self.remote.encryption_key, this_node().encryption_public))
            for m in OutboxMessage.objects.filter(peer=self.remote.peer, kind=kind).order_by("seq")
            if m.body  # an applied chunk's body is dropped
        ]


class Item:
    """Bytes the partner offers, cut into chunks of `chunk_bytes`."""

    def __init__(self, data: bytes, chunk_bytes: int = 1024) -> None:
        self.id = str(uuid.uuid4())
        self.data = data
        self.chunk_bytes = chunk_bytes
        self.sha256 = hashlib.sha256(data).hexdigest()
        count = max(1, -(-len(data) // chunk_bytes))
        self.pieces = [data[i * chunk_bytes : (i + 1) * chunk_bytes] for i in range(count)]

    def offer(self, partner: Partner, request_id: str, **changes: Any) -> dict[str, Any]:
        collected = partner.record(self.id, self.sha256, "collected")
        body = {
            "item_id": self.id,
            "sha256": self.sha256,
            "size": len(self.data),
            "name": "../phone\r\nextract.bin",
            "content_type": "application/octet-stream",
            "description": "Subscriber records",
            "request_id": request_id,
            "chunk_bytes": self.chunk_bytes,
            "chunks": len(self.pieces),
            "first_chunk": 0,
            "custody": [collected.to_json()],
        }
        return body | changes

    def chunk(self, index: int, data: bytes | None = None, **changes: Any) -> dict[str, Any]:
        piece = self.pieces[index]
        body = {
            "item_id": self.id,
            "index": index,
            "sha256": hashlib.sha256(piece).hexdigest(),
            "data": base64.b64encode(piece if data is None else data).decode(),
        }
        return body | changes


__all__ = ["CHUNK_KIND", "OFFER_KIND", "Item", "Partner"]
