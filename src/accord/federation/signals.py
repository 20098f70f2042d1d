"""Signals other apps listen to, so the channel needs to know nothing of them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that records receipts, with `peer` and
# `messages`: the outbox messages the peer's node refused for their content
# (a signed negative receipt). Whoever queued them settles what waited on them.
messages_refused = Signal()
# Sent in the same transaction, with `peer` and `messages`: the outbox messages
# the peer's node applied. A sender that paces its messages (evidence
# transfers queue the next chunks) listens.
messages_applied = Signal()
