"""Recovering the channels after a restore from a back-up (docs/protocol.md,
"Recovery after a restore").

A back-up is older than the disaster: what the peer sent after it was taken
is lost here though the peer holds this node's receipts, and what this node
sent after it is lost here though the peer applied it. `accord restore` marks
every channel as recovering (a ChannelRecovery row). While it is marked, the
deliverer does not send to the peer and the inbox turns the peer's own posts
away with `recovering` (503: the peer retries). The node then asks the peer,
over a signed request answered signed:

1. `held`: the envelopes of this node the peer holds from the restored
   next_out_seq on, each with the peer's signed receipt, and the peer's
   next_in_seq. This node writes them back into its outbox as delivered (and
   a note's content back into its notes), renumbers after them anything queued
   since the restore, and moves next_out_seq past everything the peer applied:
   no seq is used twice.
2. `resend`: the peer's envelopes from this node's restored next_in_seq on,
   signed afresh, which this node applies through its inbox, in order, as if
   they had just been delivered.

Then the mark goes and the channel runs as before. An unreachable peer keeps
its mark; the clock asks again."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import PROTOCOL_VERSION, this_node
from accord.federation import inbox
from accord.federation.envelope import (
    EnvelopeError,
    body_sha256,
    format_time,
    open_body,
    parse_time,
    sign_document,
    verify_document,
    verify_receipt,
)
from accord.federation.models import ChannelRecovery, InboxMessage, Note, OutboxMessage, Peer
from accord.federation.outbox import lock_peer, signing_key_for
from accord.federation.wire import NOTE_KIND, NoteBody

log = logging.getLogger(__name__)

RECOVERY_PATH = "/federation/v1/recovery"
ASK_TYPE = "accord.recovery.ask"
ASK_FIELDS = ("v", "type", "sender", "recipient", "sent_at", "nonce", "part", "from_seq")
ANSWER_TYPE = "accord.recovery"
ANSWER_FIELDS = (
    "v",
    "type",
    "sender",
    "recipient",
    "nonce",
    "part",
    "from_seq",
    "next_seq",
    "items",
    "more",
)
PARTS = ("held", "resend")
MAX_ASK_BYTES = 4096
LEASE = timedelta(minutes=10)


# ---------------------------------------------------------------- marking


def begin() -> int:
    """Mark every active channel as recovering (after a restore); returns how many."""
    marked = 0
    with transaction.atomic():
        for peer in Peer.objects.filter(active=True):
            _, created = ChannelRecovery.objects.get_or_create(
                peer=peer, defaults={"out_seq_at_restore": peer.next_out_seq}
            )
            marked += created
    return marked


# ---------------------------------------------------------------- asking


class RecoveryError(Exception):
    """The peer could not be asked, or its answer does not hold up."""


def ask(peer: Peer, part: str, from_seq: int) -> dict[str, Any]:
    """Ask `peer` for one page of `part` from `from_seq`; the answer counts
    only if the peer signed it for this very ask."""
    node = this_node()
    document: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "type": ASK_TYPE,
        "sender": node.node_id,
        "recipient": peer.node_id,
        "sent_at": format_time(timezone.now()),
        "nonce": str(uuid4()),
        "part": part,
        "from_seq": from_seq,
    }
    document["sig"] = sign_document(document, ASK_FIELDS, signing_key_for(peer))
    try:
        response = httpx.post(
            peer.url + RECOVERY_PATH,
            json=document,
            timeout=settings.FEDERATION_HTTP_TIMEOUT_SECONDS,
        )
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise RecoveryError(f"{peer.node_id}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200 or not isinstance(answer, dict):
        raise RecoveryError(f"{peer.node_id} answered HTTP {response.status_code}: {answer}")
    expected = {"v": PROTOCOL_VERSION, "type": ANSWER_TYPE, "sender": peer.node_id}
    expected |= {"recipient": node.node_id, "nonce": document["nonce"], "part": part}
    expected |= {"from_seq": from_seq}
    if set(answer) != {*ANSWER_FIELDS, "sig"}:
        raise RecoveryError(f"{peer.node_id}: the answer has other fields than documented")
    if any(answer[name] != value for name, value in expected.items()):
        raise RecoveryError(f"{peer.node_id}: the answer is not for this ask")
    try:
        verify_document(answer, ANSWER_FIELDS, inbox.peer_keys(peer))
    except EnvelopeError as exc:
        raise RecoveryError(f"{peer.node_id}: {exc.reason}") from None
    if not isinstance(answer["items"], list) or type(answer["next_seq"]) is not int:
        raise RecoveryError(f"{peer.node_id}: malformed answer")
    return answer


@dataclass
class Recovered:
    """What recovering one channel did (audited, and printed by `accord restore`)."""

    peer: str
    learned: list[int] = field(default_factory=list)  # seqs this node sent, learned back
    notes_restored: int = 0
    content_lost: list[int] = field(default_factory=list)  # learned, content not recoverable
    renumbered: int = 0  # queued here since the restore, moved past the learned seqs
    next_out_seq: int = 0
    resent: int = 0  # the peer's messages applied again here
    received_lost: list[int] = field(default_factory=list)  # receipted before, body gone
    next_in_seq: int = 0

    def as_data(self) -> dict[str, Any]:
        return {
            "learned_first": self.learned[0] if self.learned else None,
            "learned_last": self.learned[-1] if self.learned else None,
            "learned": len(self.learned),
            "notes_restored": self.notes_restored,
            "content_lost_seqs": self.content_lost[:200],
            "renumbered": self.renumbered,
            "next_out_seq": self.next_out_seq,
            "resent": self.resent,
            "received_lost_seqs": self.received_lost[:200],
            "next_in_seq": self.next_in_seq,
        }


def recover_due(actor: Actor | None = None) -> list[Recovered | RecoveryError]:
    """Try every channel still marked as recovering (restore, then the clock)."""
    outcomes: list[Recovered | RecoveryError] = []
    for mark in ChannelRecovery.objects.select_related("peer").order_by("peer__node_id"):
        if not _claim(mark):
            continue
        try:
            outcomes.append(recover(mark, actor or Actor.system("clock")))
        except RecoveryError as exc:
            ChannelRecovery.objects.filter(pk=mark.pk).update(
                last_error=str(exc)[:2000], lease_until=None
            )
            log.warning("recovery of the channel with %s: %s", mark.peer.node_id, exc)
            outcomes.append(exc)
    return outcomes


def _claim(mark: ChannelRecovery) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return (
        ChannelRecovery.objects.filter(free, pk=mark.pk).update(
            lease_until=now + LEASE, attempts=mark.attempts + 1
        )
        == 1
    )


def recover(mark: ChannelRecovery, actor: Actor) -> Recovered:
    peer = mark.peer
    outcome = Recovered(peer.node_id)
    held, applied_next = _pages(peer, "held", mark.out_seq_at_restore)
    _learn_sent(peer, mark.out_seq_at_restore, held, applied_next, outcome)
    _pull_resent(peer, outcome)
    with transaction.atomic():
        ChannelRecovery.objects.filter(pk=mark.pk).delete()
        audit.record(actor, AuditAction.CHANNEL_RECOVERED, peer, data=outcome.as_data())
    return outcome


def _pages(peer: Peer, part: str, from_seq: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    cursor = from_seq
    while True:
        answer = ask(peer, part, cursor)
        page = answer["items"]
        items.extend(page)
        if not answer["more"] or not page:
            return items, answer["next_seq"]
        cursor = _seq_of(page[-1]) + 1


def _seq_of(item: Any) -> int:
    envelope = item.get("envelope", item.get("lost", item)) if isinstance(item, dict) else None
    seq = envelope.get("seq") if isinstance(envelope, dict) else None
    if type(seq) is not int:
        raise RecoveryError("malformed item in the answer")
    return seq


def _learn_sent(
    peer: Peer, restored_next: int, held: list[Any], applied_next: int, outcome: Recovered
) -> None:
    """Write back what the peer holds from this node, and move every message
    queued here since the restore past it: no seq is used twice."""
    node = this_node()
    keys = inbox.peer_keys(peer)
    learned: dict[int, dict[str, Any]] = {}
    for item in held:
        envelope, receipt = item.get("envelope"), item.get("receipt")
        if not isinstance(envelope, dict) or not isinstance(receipt, dict):
            raise RecoveryError("malformed held item")
        try:
            verify_receipt(
                receipt,
                message_id=str(envelope.get("id")),
                sender=node.node_id,
                recipient=peer.node_id,
                seq=_seq_of(item),
                body_hash=str(receipt.get("body_sha256")),
                keys=keys,
                kind=str(envelope.get("kind")),
            )
        except EnvelopeError as exc:
            raise RecoveryError(f"a held receipt does not verify: {exc.reason}") from None
        body = envelope.get("body")
        if body and body_sha256(str(body)) != receipt["body_sha256"]:
            raise RecoveryError(f"held #{_seq_of(item)}: the body is not the one receipted")
        learned[_seq_of(item)] = item
    with transaction.atomic():
        locked = lock_peer(peer)
        since = list(
            OutboxMessage.objects.filter(peer=locked, seq__gte=restored_next).order_by("seq")
        )
        moved = [
            m
            for m in since
            if m.seq not in learned or learned[m.seq]["envelope"].get("id") != str(m.id)
        ]
        for message in moved:  # out of the way first: (peer, seq) is unique
            OutboxMessage.objects.filter(pk=message.pk).update(seq=-message.seq)
        present = {str(m.id) for m in since if m not in moved}
        for seq, item in sorted(learned.items()):
            _write_learned(locked, seq, item, present, outcome)
        start = max(restored_next, applied_next, max(learned, default=0) + 1)
        for offset, message in enumerate(moved):
            OutboxMessage.objects.filter(pk=message.pk).update(seq=start + offset)
        outcome.renumbered = len(moved)
        outcome.next_out_seq = start + len(moved)
        Peer.objects.filter(pk=locked.pk).update(next_out_seq=outcome.next_out_seq)


def _write_learned(
    peer: Peer, seq: int, item: dict[str, Any], present: set[str], outcome: Recovered
) -> None:
    envelope, receipt = item["envelope"], item["receipt"]
    values = {
        "status": receipt["status"],
        "receipt": receipt,
        "refusal_reason": receipt.get("reason") or "",
        "delivered_at": parse_time(receipt["received_at"]),
    }
    outcome.learned.append(seq)
    if envelope["id"] in present:  # pending in the back-up, applied since
        OutboxMessage.objects.filter(pk=envelope["id"]).update(**values)
        return
    body = envelope.get("body") or ""
    OutboxMessage.objects.create(
        id=envelope["id"],
        peer=peer,
        seq=seq,
        kind=envelope["kind"],
        in_reply_to=envelope.get("in_reply_to"),
        body=body,
        body_sha256=receipt["body_sha256"],
        attempts=1,
        **values,
    )
    if not _restore_content(peer, envelope, body):
        outcome.content_lost.append(seq)
    elif envelope["kind"] == NOTE_KIND:
        outcome.notes_restored += 1


def _restore_content(peer: Peer, envelope: dict[str, Any], body: str) -> bool:
    """This node's own record of what it sent, where the message carries it:
    a note. The body was sealed with this node's key to the peer's, so this
    node can open it again. Other kinds keep the outbox row and receipt only."""
    if envelope["kind"] != NOTE_KIND or not body:
        return False
    try:
        plain = open_body(body, this_node().encryption_key, base64.b64decode(peer.encryption_key))
        note = NoteBody.model_validate_json(plain)
    except (EnvelopeError, ValueError):
        return False
    Note.objects.get_or_create(
        message_id=envelope["id"],
        defaults={
            "direction": Note.Direction.OUT,
            "peer": peer,
            "author_name": note.author,
            "subject": note.subject,
            "text": note.text,
            "language": note.language,
        },
    )
    return True


def _pull_resent(peer: Peer, outcome: Recovered) -> None:
    """Apply, through the inbox, what the peer sent after the back-up."""
    token = inbox.recovery_pull.set(peer.node_id)
    try:
        while True:
            cursor = Peer.objects.get(pk=peer.pk).next_in_seq
            answer = ask(peer, "resend", cursor)
            if not answer["items"]:
                break
            envelopes: list[Any] = []
            for item in [*answer["items"], None]:
                if isinstance(item, dict) and "lost" not in item:
                    envelopes.append(item)
                    continue
                if envelopes:
                    outcome.resent += _apply_resent(peer, envelopes)
                    envelopes = []
                if item is not None:
                    _record_lost(peer, item["lost"], outcome)
            if not answer["more"]:
                break
    finally:
        inbox.recovery_pull.reset(token)
    outcome.next_in_seq = Peer.objects.get(pk=peer.pk).next_in_seq


def _apply_resent(peer: Peer, envelopes: list[Any]) -> int:
    result = inbox.receive_batch(json.dumps({"envelopes": envelopes}).encode(), "recovery")
    if result.error is not None and result.error.get("reason") != "duplicate":
        raise RecoveryError(f"{peer.node_id}: a resent envelope: {result.error}")
    return len(result.receipts) - len(result.duplicates)


def _record_lost(peer: Peer, receipt: Any, outcome: Recovered) -> None:
    """A message this node received and receipted before the disaster, whose
    body the peer no longer holds: the receipt this node signed then is the
    record of it; its seq is consumed, its content is lost here."""
    node = this_node()
    keys = [node.signing_public]
    if node.previous_signing_key is not None:
        keys.append(bytes(node.previous_signing_key.verify_key))
    with transaction.atomic():
        locked = lock_peer(peer)
        seq = locked.next_in_seq
        if not isinstance(receipt, dict):
            raise RecoveryError(f"{peer.node_id}: malformed lost item")
        try:
            verify_receipt(
                receipt,
                message_id=str(receipt.get("message_id")),
                sender=peer.node_id,
                recipient=node.node_id,
                seq=seq,
                body_hash=str(receipt.get("body_sha256")),
                keys=keys,
            )
        except EnvelopeError as exc:
            raise RecoveryError(f"{peer.node_id}: lost item #{seq}: {exc.reason}") from None
        InboxMessage.objects.create(
            id=receipt["message_id"],
            peer=locked,
            seq=seq,
            kind=receipt["kind"],
            body_sha256=receipt["body_sha256"],
            received_at=parse_time(receipt["received_at"]),
            status=receipt["status"],
            refusal_reason=receipt.get("reason") or "",
            receipt=receipt,
            envelope={},
        )
        Peer.objects.filter(pk=locked.pk).update(next_in_seq=seq + 1)
    outcome.received_lost.append(seq)
