"""What the channel pages, the API and the commands read about a peer."""

from __future__ import annotations

from typing import Any

from accord.federation.models import MessageStatus, Peer


def channel_summary(peer: Peer) -> dict[str, Any]:
    pending = peer.outbox.filter(status=MessageStatus.PENDING)
    oldest = pending.order_by("seq").values_list("created_at", flat=True).first()
    return {
        "node_id": peer.node_id,
        "url": peer.url,
        "party": peer.party,
        "agency": peer.agency,
        "central_authority": peer.central_authority,
        "fingerprint": peer.fingerprint,
        "active": peer.active,
        "blocked": peer.blocked,
        "outbox_depth": pending.count(),
        "oldest_undelivered_at": oldest,
        "last_delivery_at": peer.last_delivery_at,
        "last_error": peer.last_error,
        # The error is history once a delivery has succeeded since.
        "error_resolved": bool(
            peer.last_error_at
            and peer.last_delivery_at
            and peer.last_delivery_at > peer.last_error_at
        ),
        "last_error_at": peer.last_error_at,
        "next_attempt_at": peer.next_attempt_at,
        "next_out_seq": peer.next_out_seq,
        "next_in_seq": peer.next_in_seq,
    }
