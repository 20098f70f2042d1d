"""The federation channel's public service functions, for the apps that send
through it (`from accord.federation import services as federation`).

They live by reason to change: `peering` (pinning and removing peers),
`outbox` (queueing, signing, back-off), `inbox` (checking, applying and
receipting what peers send) and `queries` (the channel's state); the rules of
who may do what are in `policy`. Code inside the federation app imports those
modules directly."""

from __future__ import annotations

from accord.federation.inbox import (
    REJECTION_STATUS,
    BatchResult,
    Rejected,
    receive_batch,
    record_rejection,
)
from accord.federation.outbox import (
    backoff_seconds,
    backoff_until,
    enqueue,
    enqueue_many,
    lock_peer,
    outbox_envelope,
    publish,
    signing_key_for,
)
from accord.federation.peering import (
    add_peer,
    fetch_identity,
    normalise_fingerprint,
    remove_peer,
    retry,
    verify_identity,
)
from accord.federation.queries import channel_summary

__all__ = [
    "REJECTION_STATUS",
    "BatchResult",
    "Rejected",
    "add_peer",
    "backoff_seconds",
    "backoff_until",
    "channel_summary",
    "enqueue",
    "enqueue_many",
    "fetch_identity",
    "lock_peer",
    "normalise_fingerprint",
    "outbox_envelope",
    "publish",
    "receive_batch",
    "record_rejection",
    "remove_peer",
    "retry",
    "signing_key_for",
    "verify_identity",
]
