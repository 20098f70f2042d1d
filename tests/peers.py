"""A partner node's pinned Peer row, with real keys, for in-process tests
(nothing is sent to it: its address answers nothing)."""

from __future__ import annotations

import base64

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from accord.core.identity import key_fingerprint
from accord.federation.models import Peer


def pinned_peer(node_id: str, signing_key: SigningKey | None = None) -> Peer:
    """`signing_key`: the partner's own, for a test that signs as the partner."""
    signing = bytes((signing_key or SigningKey.generate()).verify_key)
    return Peer.objects.create(
        node_id=node_id,
        url="http://127.0.0.1:9",
        party="United States",
        agency="Department of Justice",
        signing_key=base64.b64encode(signing).decode(),
        encryption_key=base64.b64encode(bytes(PrivateKey.generate().public_key)).decode(),
        fingerprint=key_fingerprint(signing),
    )
