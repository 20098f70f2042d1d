"""Replicas that never split (docs/protocol.md, "Replicas"; assistance.md 9.7;
dialogue.md, "Reconciliation"): every item
two nodes both hold (a request, each part of a dialogue record) has one owner,
the node whose copy is authoritative. Each node periodically, and on demand
(`accord requests reconcile PEER`), sends each peer a digest of the shared
state of every item it holds with it; the peer compares it with its own. On a
difference, the owner sends its snapshot (`core.replicas.snapshot`, signed
like every message on the channel) and the other node applies it; both audit
it, and the node whose copy was wrong lists the item as out of step on the
Federation page until it is repaired.

Apps take part by registering a `Family`: which items of theirs this node
shares with a peer, and how to apply the owner's snapshot of one. Items that
both sides write and that settle by a rule of their own (a disagreement's
status: the later change wins) have no owner: each side sends its snapshot and
each applies the other's by that rule.

The channel delivers in order, so a digest arrives after every message its
sender queued before it: when a peer's digest differs on an item that peer
owns, the difference is real, never a message still on its way."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.canonical import canonical_bytes, canonical_hash
from accord.core.identity import this_node
from accord.federation import kinds
from accord.federation.models import Divergence, Peer
from accord.federation.outbox import enqueue, lock_peer
from accord.federation.policy import Action, enforce
from accord.federation.wire import (
    ASK_KIND,
    DIGEST_KIND,
    SNAPSHOT_KIND,
    AskBody,
    DigestBody,
    DigestEntry,
    SnapshotBody,
)

log = logging.getLogger(__name__)

# Digest entries per message: each is about 150 bytes, far below a body's limit.
PART_SIZE = 1000
# The last key any family can have: a part that covers to the end says so.
END = "\U0010ffff"


@dataclass(frozen=True)
class Item:
    """One shared item: `key` is "family:id"; `owner` is the node whose copy
    is authoritative ("" when both write it and a rule settles it); `view` is
    everything both replicas must agree on, as JSON."""

    key: str
    owner: str
    view: dict[str, Any]


@dataclass(frozen=True)
class Family:
    name: str
    # Every item of the family this node holds with the peer.
    items: Callable[[Peer], Iterable[Item]]
    # One item by id, or None when this node does not hold it with the peer.
    item: Callable[[Peer, str], Item | None]
    # Apply the owner's snapshot (the item's id and view) from that peer, and
    # say what the audit record should add (files it could not restore...).
    # Raises kinds.Refusal when the view is not one this node can accept.
    apply: Callable[[Peer, str, dict[str, Any]], dict[str, Any] | None]


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    if ":" in family.name or family.name in _FAMILIES:
        raise ValueError(f"replica family {family.name!r} is misnamed or registered twice")
    _FAMILIES[family.name] = family
    return family


def digest(view: dict[str, Any]) -> str:
    return canonical_hash(view)


def split_key(key: str) -> tuple[Family, str]:
    name, _sep, item_id = key.partition(":")
    family = _FAMILIES.get(name)
    if family is None or not item_id:
        raise kinds.Refusal(f"unknown_item: {key[:120]}")
    return family, item_id


def shared_items(peer: Peer) -> dict[str, Item]:
    found: dict[str, Item] = {}
    for family in _FAMILIES.values():
        for item in family.items(peer):
            found[item.key] = item
    return found


# Sending a digest ---------------------------------------------------------


def reconcile(actor: Actor, peer: Peer, *, ip: str = "") -> int:
    """Send `peer` the digest of every item this node holds with it; the peer
    answers with what differs (a snapshot of what it owns, a request for ours).
    Returns the number of items compared."""
    enforce(actor, Action.RECONCILE, peer, what="reconcile", ip=ip)
    with transaction.atomic():
        locked = lock_peer(peer)
        items = sorted(shared_items(locked).values(), key=lambda i: i.key)
        for body in _digest_parts(items):
            enqueue(locked, DIGEST_KIND, body)
        locked.reconciled_at = timezone.now()
        locked.save(update_fields=["reconciled_at"])
        audit.record(
            actor,
            AuditAction.REPLICAS_CHECK,
            locked,
            data={"items": len(items)},
            ip=ip,
        )
    return len(items)


def _digest_parts(items: list[Item]) -> Iterator[DigestBody]:
    """The digest in parts of PART_SIZE entries, each covering a key range, so
    the receiver also sees what it holds that the sender does not."""
    start = ""
    for index in range(0, max(len(items), 1), PART_SIZE):
        chunk = items[index : index + PART_SIZE]
        last = index + PART_SIZE >= len(items)
        end = END if last else chunk[-1].key
        yield DigestBody(
            first=start,
            last=end,
            entries=[DigestEntry(key=i.key, owner=i.owner, sha256=digest(i.view)) for i in chunk],
        )
        start = end + "\x01" if not last else END


def reconcile_due() -> int:
    """The clock's part: reconcile each active peer not checked for
    ACCORD_RECONCILE_MINUTES (a new peer: for that long since it was added).
    Returns the number of peers checked."""
    cutoff = timezone.now() - timedelta(minutes=settings.RECONCILE_MINUTES)
    checked = 0
    due = Peer.objects.filter(active=True, added_at__lte=cutoff).exclude(reconciled_at__gt=cutoff)
    for peer in due:
        reconcile(Actor.system("clock"), peer)
        checked += 1
    return checked


# Receiving ----------------------------------------------------------------


def receive_digest(peer: Peer, body: DigestBody) -> None:
    """Compare the peer's digest with this node's items in the same key range.
    What this node owns and differs: its snapshot goes back. What the peer owns
    and differs: this node asks for it, and lists the item as out of step."""
    me = this_node().node_id
    theirs = {e.key: (e.owner, e.sha256) for e in body.entries}
    ours = {
        key: item
        for key, item in shared_items(peer).items()
        if body.first <= key <= body.last or key in theirs
    }
    ask: list[str] = []
    for key in sorted(set(theirs) | set(ours)):
        item = ours.get(key)
        owner, sha = theirs.get(key, (item.owner if item else "", ""))
        if item is not None and sha == digest(item.view):
            _in_step(peer, key)
            continue
        if item is not None and owner != item.owner:
            _out_of_step(peer, key, item.owner, Divergence.Status.DISPUTED, item)
            continue
        if owner in (me, ""):
            if item is not None:
                _send_snapshot(peer, item, reason="digest")
            elif owner == me:
                # The peer holds, as ours, an item this node does not hold.
                _send_absent(peer, key)
        if owner != me:
            ask.append(key)
            _out_of_step(peer, key, owner, Divergence.Status.ASKED, item)
    for index in range(0, len(ask), PART_SIZE):
        enqueue(peer, ASK_KIND, AskBody(keys=ask[index : index + PART_SIZE]))


def receive_ask(peer: Peer, body: AskBody) -> None:
    """The peer's copy of items this node owns differs: send this node's own."""
    me = this_node().node_id
    for key in body.keys:
        family, item_id = split_key(key)
        item = family.item(peer, item_id)
        if item is None:
            _send_absent(peer, key)
        elif item.owner in (me, ""):
            _send_snapshot(peer, item, reason="asked")
        else:
            raise kinds.Refusal(f"not_owner: {key[:120]} is not this node's to send")


def receive_snapshot(peer: Peer, body: SnapshotBody) -> None:
    """The owner's copy of an item: applied when it differs from this node's,
    then the item is in step (or stays listed, with why)."""
    family, item_id = split_key(body.key)
    if body.view is None:
        _out_of_step(peer, body.key, peer.node_id, Divergence.Status.ABSENT, None)
        return
    mine = family.item(peer, item_id)
    if mine is not None and mine.owner not in (peer.node_id, ""):
        raise kinds.Refusal(f"not_owner: {body.key[:120]} is owned by {mine.owner}")
    if mine is not None and digest(mine.view) == digest(body.view):
        _in_step(peer, body.key)
        return
    details = family.apply(peer, item_id, body.view) or {}
    after = family.item(peer, item_id)
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REPLICA_REPAIRED,
        target_type="replica",
        target_id=body.key[:200],
        data={
            "peer": peer.node_id,
            "key": body.key,
            "before": digest(mine.view) if mine else "",
            "after": digest(after.view) if after else "",
            **details,
        },
    )
    if after is not None and (after.owner == "" or digest(after.view) == digest(body.view)):
        _in_step(peer, body.key, repaired=True)
    else:
        _out_of_step(peer, body.key, peer.node_id, Divergence.Status.UNREPAIRED, after)


# Sending snapshots ------------------------------------------------------------


def _send_snapshot(peer: Peer, item: Item, *, reason: str) -> None:
    size = len(canonical_bytes(item.view))
    if size > settings.FEDERATION_MAX_BODY_BYTES // 2:
        # Too large for one message: left for the operator, never half-sent.
        _out_of_step(peer, item.key, item.owner, Divergence.Status.TOO_LARGE, item)
        return
    enqueue(peer, SNAPSHOT_KIND, SnapshotBody(key=item.key, view=item.view))
    audit.record(
        Actor.system("replicas"),
        AuditAction.REPLICA_SNAPSHOT_SENT,
        target_type="replica",
        target_id=item.key[:200],
        data={"peer": peer.node_id, "key": item.key, "sha256": digest(item.view), "reason": reason},
    )
    if item.owner:
        # This node's copy is the right one: nothing to repair here.
        _in_step(peer, item.key)


def _send_absent(peer: Peer, key: str) -> None:
    enqueue(peer, SNAPSHOT_KIND, SnapshotBody(key=key, view=None))


# The out-of-step list -------------------------------------------------------


def _out_of_step(peer: Peer, key: str, owner: str, status: str, item: Item | None) -> Divergence:
    found = Divergence.objects.filter(peer=peer, key=key, resolved_at=None).first()
    local = digest(item.view) if item else ""
    if found is None:
        found = Divergence.objects.create(
            peer=peer, key=key, owner=owner, status=status, local_sha256=local
        )
        audit.record(
            Actor.system("replicas"),
            AuditAction.REPLICA_OUT_OF_STEP,
            target_type="replica",
            target_id=key[:200],
            data={"peer": peer.node_id, "key": key, "owner": owner, "status": status},
        )
    elif found.status != status or found.local_sha256 != local:
        found.status, found.local_sha256 = status, local
        found.save(update_fields=["status", "local_sha256"])
    return found


def _in_step(peer: Peer, key: str, *, repaired: bool = False) -> None:
    now = timezone.now()
    settled = Divergence.objects.filter(peer=peer, key=key, resolved_at=None).update(
        resolved_at=now, repaired=repaired
    )
    if settled and not repaired:
        # Listed as out of step, now equal with no repair here (the peer
        # repaired its copy, or a late message arrived): the list's every
        # change is audited, this one too.
        audit.record(
            Actor.system("replicas"),
            AuditAction.REPLICA_IN_STEP,
            target_type="replica",
            target_id=key[:200],
            data={"peer": peer.node_id, "key": key},
        )
    if repaired and not settled:
        # Found by the owner (our digest reached it first): listed as repaired.
        Divergence.objects.create(
            peer=peer,
            key=key,
            owner=peer.node_id,
            status=Divergence.Status.FOUND,
            resolved_at=now,
            repaired=True,
        )


def out_of_step(peers: Iterable[Peer]) -> list[Divergence]:
    """The items out of step with these peers, oldest first."""
    return list(
        Divergence.objects.filter(peer__in=list(peers), resolved_at=None)
        .select_related("peer")
        .order_by("detected_at")[:200]
    )


def recently_repaired(peers: Iterable[Peer], days: int = 7) -> list[Divergence]:
    since = timezone.now() - timedelta(days=days)
    return list(
        Divergence.objects.filter(peer__in=list(peers), resolved_at__gte=since, repaired=True)
        .select_related("peer")
        .order_by("-resolved_at")[:50]
    )
