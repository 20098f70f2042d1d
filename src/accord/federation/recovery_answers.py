"""The answering side of channel recovery (docs/protocol.md section 16): a
peer restored from a back-up asks, over a signed ask, for the envelopes this
node holds from it ("held") or for this node's own since its restored inbox
("resend"); the answer is signed for that very ask. The asking side is
federation.recovery."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils import timezone

from accord.core import tally
from accord.core.identity import PROTOCOL_VERSION, this_node
from accord.federation import inbox
from accord.federation.envelope import EnvelopeError, parse_time, sign_document, verify_document
from accord.federation.models import Peer
from accord.federation.outbox import outbox_envelope, signing_key_for
from accord.federation.recovery import (
    ANSWER_FIELDS,
    ANSWER_TYPE,
    ASK_FIELDS,
    ASK_TYPE,
    MAX_ASK_BYTES,
    PARTS,
)


class AskRefused(Exception):
    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


def answer_ask(raw: bytes, ip: str) -> tuple[int, dict[str, Any]]:
    """The endpoint's rule: a peer restored from a back-up asks for one part
    of what it lost; the answer is signed for that very ask."""
    try:
        peer, ask = _checked_ask(raw)
    except AskRefused as exc:
        tally.count(tally.Channel.RECOVERY, exc.reason, ip)
        if tally.over_limit(tally.Channel.RECOVERY, ip):
            return 429, {"error": {"reason": "throttled"}}
        return exc.status, {"error": {"reason": exc.reason}}
    from_seq = ask["from_seq"]
    budget = settings.FEDERATION_MAX_REQUEST_BYTES // 2
    limit = min(settings.FEDERATION_BATCH_SIZE, settings.FEDERATION_MAX_BATCH)
    items: list[dict[str, Any]] = []
    if ask["part"] == "held":
        rows: Any = peer.inbox.filter(seq__gte=from_seq).order_by("seq")
        next_seq = peer.next_in_seq
    else:
        rows = peer.outbox.filter(seq__gte=from_seq).order_by("seq")
        next_seq = peer.next_out_seq
    more = False
    now = timezone.now()
    for row in rows[: limit + 1]:
        if len(items) == limit:
            more = True
            break
        if ask["part"] == "held":
            item = {"envelope": row.envelope, "receipt": row.receipt}
        elif row.body or not row.receipt:
            row.peer = peer
            item = outbox_envelope(row, now)
        else:
            # Applied, and its body dropped (Kind.keep_body): only the asking
            # node's own receipt is left to give back.
            item = {"lost": row.receipt}
        budget -= len(json.dumps(item))
        if items and budget < 0:
            more = True
            break
        items.append(item)
    # The peer is back: what waits for it goes at once, not at the end of a back-off.
    Peer.objects.filter(pk=peer.pk, blocked=False).update(next_attempt_at=None)
    answer: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "type": ANSWER_TYPE,
        "sender": this_node().node_id,
        "recipient": peer.node_id,
        "nonce": ask["nonce"],
        "part": ask["part"],
        "from_seq": from_seq,
        "next_seq": next_seq,
        "items": items,
        "more": more,
    }
    answer["sig"] = sign_document(answer, ANSWER_FIELDS, signing_key_for(peer))
    return 200, answer


def _checked_ask(raw: bytes) -> tuple[Peer, dict[str, Any]]:
    if len(raw) > MAX_ASK_BYTES:
        raise AskRefused("too_large", 413)
    try:
        ask = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AskRefused("malformed", 400) from None
    if not isinstance(ask, dict) or set(ask) != {*ASK_FIELDS, "sig"}:
        raise AskRefused("malformed", 400)
    strings = ("sender", "recipient", "sent_at", "nonce", "sig")
    if ask["v"] != PROTOCOL_VERSION or ask["type"] != ASK_TYPE or ask["part"] not in PARTS:
        raise AskRefused("malformed", 400)
    if not all(isinstance(ask[name], str) for name in strings):
        raise AskRefused("malformed", 400)
    if type(ask["from_seq"]) is not int or ask["from_seq"] < 1:
        raise AskRefused("malformed", 400)
    peer = Peer.objects.filter(node_id=ask["sender"], active=True).first()
    if peer is None:
        raise AskRefused("unknown_sender", 403)
    try:
        verify_document(ask, ASK_FIELDS, inbox.peer_keys(peer))
        sent_at = parse_time(ask["sent_at"])
    except EnvelopeError as exc:
        raise AskRefused(exc.reason, 403 if exc.reason == "bad_signature" else 400) from None
    if ask["recipient"] != this_node().node_id:
        raise AskRefused("wrong_recipient", 421)
    if abs((timezone.now() - sent_at).total_seconds()) > settings.FEDERATION_REPLAY_WINDOW_SECONDS:
        raise AskRefused("stale", 400)
    return peer, ask
