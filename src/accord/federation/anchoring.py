"""Anchoring the audit log in the peers (issue 14, finding 5).

The hash chain (core.audit) proves the log untouched only against someone who
cannot recompute it: a database administrator who edits an event and rehashes
every event after it gets a chain that verifies. So each node sends its peers a
checkpoint of its head (seq and hash, signed with its node key), at
ACCORD_AUDIT_CHECKPOINT_MINUTES and on demand (`accord audit checkpoint`); each
peer keeps them, and its signed receipt of the message countersigns the
checkpoint (the receipt covers the ciphertext's hash, and the sender keeps the
ciphertext). `accord audit verify` then asks every peer for the checkpoints it
holds (a signed request to CHECKPOINTS_PATH, a signed answer) and compares them
with the local chain: an event that differs from a checkpoint, or a chain that
ends before one, is a rewrite no local recomputation can hide (docs/protocol.md
§14, docs/security.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit, tally
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import AuditEvent, AuditHead
from accord.federation import kinds
from accord.federation.envelope import (
    PROTOCOL_VERSION,
    EnvelopeError,
    format_time,
    parse_time,
    sign_document,
    verify_document,
)
from accord.federation.inbox import peer_keys
from accord.federation.models import AuditCheckpoint, Peer
from accord.federation.outbox import enqueue, signing_key_for
from accord.federation.policy import Action, enforce
from accord.federation.wire import CHECKPOINT_KIND, CheckpointBody

CHECKPOINT_TYPE = "accord.audit-checkpoint"
CHECKPOINT_FIELDS = ("type", "node", "seq", "hash", "at")
ASK_TYPE = "accord.checkpoints.ask"
ASK_FIELDS = ("v", "type", "sender", "recipient", "sent_at", "nonce")
ANSWER_TYPE = "accord.checkpoints"
ANSWER_FIELDS = ("v", "type", "sender", "recipient", "nonce", "checkpoints")
CHECKPOINTS_PATH = "/federation/v1/checkpoints"
MAX_ANSWERED = 1000  # the newest; the newest that agrees is what bounds a rewrite
MAX_ASK_BYTES = 4096


# ---------------------------------------------------------------- sending


def send_checkpoints(actor: Actor, *, ip: str = "") -> CheckpointBody | None:
    """Send every active peer a signed checkpoint of the audit head, and audit
    it; None when the log or the peer list is empty."""
    enforce(actor, Action.CHECKPOINT, ip=ip)
    audit.seal()  # the staged reads belong to the chain being vouched for
    now = timezone.now()
    with transaction.atomic():
        head = AuditHead.objects.filter(pk=1).first()
        peers = list(Peer.objects.filter(active=True).order_by("node_id"))
        if head is None or head.seq == 0 or not peers:
            return None
        body = _signed_checkpoint(head.seq, head.hash, format_time(now))
        for peer in peers:
            enqueue(peer, CHECKPOINT_KIND, body)
        Peer.objects.filter(pk__in=[p.pk for p in peers]).update(checkpoint_sent_at=now)
        audit.record(
            actor,
            AuditAction.AUDIT_CHECKPOINT,
            data={"seq": head.seq, "hash": head.hash, "peers": [p.node_id for p in peers]},
            ip=ip,
        )
    return body


def _signed_checkpoint(seq: int, head_hash: str, at: str) -> CheckpointBody:
    document: dict[str, Any] = {
        "type": CHECKPOINT_TYPE,
        "node": this_node().node_id,
        "seq": seq,
        "hash": head_hash,
        "at": at,
    }
    document["sig"] = sign_document(document, CHECKPOINT_FIELDS, this_node().signing_key)
    return CheckpointBody.model_validate(document)


def checkpoints_due() -> bool:
    """The clock's part: send when a peer has had none for the interval (a new
    peer: once it has been a peer that long)."""
    cutoff = timezone.now() - timedelta(minutes=settings.AUDIT_CHECKPOINT_MINUTES)
    due = Peer.objects.filter(active=True, added_at__lte=cutoff).exclude(
        checkpoint_sent_at__gt=cutoff
    )
    if not due.exists():
        return False
    return send_checkpoints(Actor.system("clock")) is not None


# ---------------------------------------------------------------- receiving


def receive_checkpoint(context: kinds.InboundContext, body: CheckpointBody) -> None:
    """Keep a peer's checkpoint, once its own signature verifies. A second,
    different checkpoint for the same event is refused: the first stands."""
    peer = context.peer
    if body.node != peer.node_id:
        raise kinds.Refusal("invalid_body: a checkpoint of another node's log")
    try:
        verify_document(body.model_dump(), CHECKPOINT_FIELDS, peer_keys(peer))
    except EnvelopeError:
        raise kinds.Refusal("invalid_body: the checkpoint's signature does not verify") from None
    known = AuditCheckpoint.objects.filter(peer=peer, seq=body.seq).first()
    if known is not None:
        if known.hash != body.hash:
            raise kinds.Refusal(f"checkpoint_conflict: event {body.seq} was vouched for before")
        return
    AuditCheckpoint.objects.create(
        peer=peer,
        seq=body.seq,
        hash=body.hash,
        at=body.at,
        sig=body.sig,
        message_id=context.message_id,
    )


class AskRefused(Exception):
    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


def answer_ask(raw: bytes, ip: str) -> tuple[int, dict[str, Any]]:
    """The endpoint's rule: a peer's signed ask for the checkpoints this node
    holds of its log, answered signed. A failure is counted (core.tally), and
    an address past its allowance is told to wait."""
    try:
        peer, nonce = _checked_ask(raw)
    except AskRefused as exc:
        tally.count(tally.Channel.CHECKPOINTS, exc.reason, ip)
        if tally.over_limit(tally.Channel.CHECKPOINTS, ip):
            return 429, {"error": {"reason": "throttled"}}
        return exc.status, {"error": {"reason": exc.reason}}
    rows = AuditCheckpoint.objects.filter(peer=peer).order_by("-seq")[:MAX_ANSWERED]
    answer: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "type": ANSWER_TYPE,
        "sender": this_node().node_id,
        "recipient": peer.node_id,
        "nonce": nonce,
        "checkpoints": [
            {
                "type": CHECKPOINT_TYPE,
                "node": peer.node_id,
                "seq": row.seq,
                "hash": row.hash,
                "at": row.at,
                "sig": row.sig,
            }
            for row in rows
        ],
    }
    answer["sig"] = sign_document(answer, ANSWER_FIELDS, signing_key_for(peer))
    return 200, answer


def _checked_ask(raw: bytes) -> tuple[Peer, str]:
    if len(raw) > MAX_ASK_BYTES:
        raise AskRefused("too_large", 413)
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AskRefused("malformed", 400) from None
    if not isinstance(document, dict) or set(document) != {*ASK_FIELDS, "sig"}:
        raise AskRefused("malformed", 400)
    if document["v"] != PROTOCOL_VERSION or document["type"] != ASK_TYPE:
        raise AskRefused("malformed", 400)
    if not all(isinstance(document[name], str) for name in (*ASK_FIELDS[1:], "sig")):
        raise AskRefused("malformed", 400)
    peer = Peer.objects.filter(node_id=document["sender"], active=True).first()
    if peer is None:
        raise AskRefused("unknown_sender", 403)
    try:
        verify_document(document, ASK_FIELDS, peer_keys(peer))
        sent_at = parse_time(document["sent_at"])
    except EnvelopeError as exc:
        raise AskRefused(exc.reason, 403 if exc.reason == "bad_signature" else 400) from None
    if document["recipient"] != this_node().node_id:
        raise AskRefused("wrong_recipient", 421)
    if abs((timezone.now() - sent_at).total_seconds()) > settings.FEDERATION_REPLAY_WINDOW_SECONDS:
        raise AskRefused("stale", 400)
    return peer, document["nonce"]


# ---------------------------------------------------------------- verifying


@dataclass
class PeerCheck:
    """What one peer's checkpoints say about the local chain."""

    peer: str
    checkpoints: int = 0
    latest: int | None = None
    problems: list[str] = field(default_factory=list)
    unreachable: str = ""

    def describe(self) -> str:
        if self.unreachable:
            return _("%(peer)s: not asked (%(error)s)") % {
                "peer": self.peer,
                "error": self.unreachable,
            }
        if self.problems:
            return _("REWRITTEN: %(problems)s") % {"problems": "; ".join(self.problems)}
        return _("%(peer)s holds %(count)s checkpoints, the latest of event %(seq)s: all agree") % {
            "peer": self.peer,
            "count": self.checkpoints,
            "seq": self.latest if self.latest is not None else "-",
        }


def verify_with_peers(actor: Actor, *, ip: str = "") -> list[PeerCheck]:
    """Compare the local chain with the checkpoints every active peer holds;
    a disagreement is audited, as a broken chain is."""
    enforce(actor, Action.CHECKPOINT, ip=ip)
    checks = []
    for peer in Peer.objects.filter(active=True).order_by("node_id"):
        try:
            checks.append(compare(peer.node_id, fetch_checkpoints(peer)))
        except (httpx.HTTPError, EnvelopeError, ValueError, KeyError, TypeError) as exc:
            checks.append(PeerCheck(peer.node_id, unreachable=str(exc)[:200]))
    problems = [problem for check in checks for problem in check.problems]
    if problems:
        audit.record(
            actor,
            AuditAction.AUDIT_VERIFY,
            data={"ok": False, "problem": "; ".join(problems)[:1000], "anchored": True},
            ip=ip,
        )
    return checks


def fetch_checkpoints(peer: Peer) -> list[dict[str, Any]]:
    """Ask `peer` for the checkpoints it holds of this node's log; the answer
    counts only if the peer signed it for this very ask."""
    node = this_node()
    ask: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "type": ASK_TYPE,
        "sender": node.node_id,
        "recipient": peer.node_id,
        "sent_at": format_time(timezone.now()),
        "nonce": str(uuid4()),
    }
    ask["sig"] = sign_document(ask, ASK_FIELDS, signing_key_for(peer))
    response = httpx.post(
        peer.url + CHECKPOINTS_PATH, json=ask, timeout=settings.FEDERATION_HTTP_TIMEOUT_SECONDS
    )
    answer = response.json()
    if response.status_code != 200:
        raise EnvelopeError(str(answer.get("error", {}).get("reason", response.status_code)))
    expected = {"v": PROTOCOL_VERSION, "type": ANSWER_TYPE, "sender": peer.node_id}
    expected |= {"recipient": node.node_id, "nonce": ask["nonce"]}
    if any(answer.get(name) != value for name, value in expected.items()):
        raise EnvelopeError("receipt_mismatch", "the answer is not for this ask")
    verify_document(answer, ANSWER_FIELDS, peer_keys(peer))
    checkpoints = answer["checkpoints"]
    if not isinstance(checkpoints, list):
        raise EnvelopeError("malformed", "checkpoints is not a list")
    return checkpoints


def compare(peer_id: str, checkpoints: list[dict[str, Any]]) -> PeerCheck:
    """Each checkpoint this node signed must name an event of the local chain
    with the same hash. Checkpoints it did not sign are left out: a peer
    cannot frame a node with a checkpoint it made up."""
    node = this_node()
    keys = [bytes(node.signing_key.verify_key)]
    if node.previous_signing_key is not None:
        keys.append(bytes(node.previous_signing_key.verify_key))
    vouched = sorted(
        (c for c in checkpoints if _signed_by(c, node.node_id, keys)), key=lambda c: c["seq"]
    )
    check = PeerCheck(peer_id, len(vouched), vouched[-1]["seq"] if vouched else None)
    local = dict(
        AuditEvent.objects.filter(seq__in=[c["seq"] for c in vouched]).values_list("seq", "hash")
    )
    agreed = 0
    for checkpoint in vouched:
        seq = checkpoint["seq"]
        if local.get(seq) == checkpoint["hash"]:
            agreed = seq
            continue
        what = (
            _("the log ends before event %(seq)s")
            if seq not in local
            else _("event %(seq)s differs")
        ) % {"seq": seq}
        check.problems.append(
            _(
                "%(what)s from the checkpoint %(peer)s holds (signed %(at)s): the log was "
                "rewritten after event %(agreed)s and at or before event %(seq)s"
            )
            % {"what": what, "peer": peer_id, "at": checkpoint["at"], "agreed": agreed, "seq": seq}
        )
        break  # the first disagreement places the rewrite; later ones follow from it
    return check


def _signed_by(checkpoint: Any, node_id: str, keys: list[bytes]) -> bool:
    if not isinstance(checkpoint, dict) or checkpoint.get("node") != node_id:
        return False
    if not isinstance(checkpoint.get("seq"), int) or set(checkpoint) != {*CHECKPOINT_FIELDS, "sig"}:
        return False
    try:
        verify_document(checkpoint, CHECKPOINT_FIELDS, keys)
    except EnvelopeError:
        return False
    return True
