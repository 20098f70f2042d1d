"""Partner sync. Between Accord nodes a shared collection travels through the
signed channel: `intel.objects` batches (releasable objects only: never
TLP:RED, nothing expired, never what came from a third party or with a third
party's handling conditions) and `intel.delete` retractions,
each confirmed by the peer's signed receipt. From any TAXII 2.1 server, a
subscription pulls a collection and resumes from its `added_after` cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit, ijson, sealed
from accord.core.audit import Actor, AuditAction
from accord.core.policy import CONFLICT, UNPROCESSABLE, Refusal
from accord.federation import services as federation
from accord.federation.models import MessageStatus, Peer
from accord.intel import policy
from accord.intel.ingest import ingest
from accord.intel.models import Collection, Retraction, Share, StixObject, Subscription
from accord.intel.policy import Action
from accord.intel.release import Audience, released
from accord.intel.wire import (
    BATCH_BYTES,
    BATCH_OBJECTS,
    DELETE_KIND,
    OBJECTS_KIND,
    DeleteBody,
    ObjectsBody,
)

SEALED_AS = "intel.subscription"


# ---------------------------------------------------------------- sharing with peers


@audit.refusals_kept()
def partner_named(actor: Actor, action: Action, collection: Collection, node_id: str) -> Peer:
    """The partner node a share or unshare names: an active peer to share with,
    any peer (active or not) to stop sharing with. An unknown name is refused,
    audited like every other refusal of the sharing services."""
    policy.enforce(actor, action, collection)
    peers = Peer.objects.filter(node_id=node_id[:100])
    if action is Action.SHARE:
        peers = peers.filter(active=True)
    found = peers.first()
    if found is None:
        reason = (
            _("Choose an active partner node.")
            if action is Action.SHARE
            else _("No such partner node.")
        )
        policy.refuse(actor, action.value, Refusal(reason, UNPROCESSABLE), collection)
    return found


@audit.refusals_kept()
def share(actor: Actor, collection: Collection, peer: Peer) -> Share:
    """Push the collection to the peer from now on (what a partner node shared
    is not passed on: `policy.allowed`)."""
    policy.enforce(actor, Action.SHARE, collection)
    with transaction.atomic():
        found, created = Share.objects.get_or_create(collection=collection, peer=peer)
        if created:
            audit.record(actor, AuditAction.INTEL_SHARE, collection, data={"peer": peer.node_id})
    return found


@audit.refusals_kept()
def share_with_all(actor: Actor, collection: Collection) -> list[Share]:
    """Push the collection to every partner node the sharing policy allows:
    every active peer, of either party (a mirror is shared with none:
    `policy.allowed`). Each share is its own (collection, peer) row with its
    own cursor, so every push applies the release rules to that recipient
    (`releasable`: never TLP:RED, nothing expired, nothing under another's
    handling conditions)."""
    policy.enforce(actor, Action.SHARE, collection)
    return [share(actor, collection, peer) for peer in share_targets()]


def share_targets() -> list[Peer]:
    return list(Peer.objects.filter(active=True).order_by("party", "node_id"))


@audit.refusals_kept()
def unshare(actor: Actor, collection: Collection, peer: Peer) -> None:
    """Stop pushing the collection to the peer. What it was sent stays there
    (a deletion still reaches it only while the share exists)."""
    policy.enforce(actor, Action.UNSHARE, collection)
    with transaction.atomic():
        # Not `count, _`: that would hide gettext and turn the message into a crash.
        count, _deleted = Share.objects.filter(collection=collection, peer=peer).delete()
        if not count:
            reason = _("%(collection)s is not shared with %(peer)s.") % {
                "collection": collection.alias,
                "peer": peer.node_id,
            }
            policy.refuse(actor, Action.UNSHARE.value, Refusal(reason, CONFLICT), collection)
        audit.record(actor, AuditAction.INTEL_SHARE, collection, data={"unshared": peer.node_id})


@audit.refusals_kept()
def subscription_named(actor: Actor, collection: Collection, number: int) -> Subscription:
    """One of the collection's subscriptions, by its number; another number is
    refused, audited."""
    policy.enforce(actor, Action.SUBSCRIBE, collection)
    found = Subscription.objects.filter(collection=collection, pk=number).first()
    if found is None:
        reason = _("No such subscription on this collection.")
        policy.refuse(actor, Action.SUBSCRIBE.value, Refusal(reason, UNPROCESSABLE), collection)
    return found


@audit.refusals_kept()
def unsubscribe(actor: Actor, item: Subscription) -> None:
    """Stop pulling; what was pulled stays in the collection."""
    policy.enforce(actor, Action.SUBSCRIBE, item.collection)
    with transaction.atomic():
        audit.record(
            actor, AuditAction.INTEL_SHARE, item.collection, data={"unsubscribed": item.objects_url}
        )
        item.delete()


def releasable(collection: Collection) -> QuerySet[StixObject]:
    objects = StixObject.objects.filter(collection=collection)
    return released(objects, Audience.PEER)


def push(item: Share) -> int:
    """Queue every releasable object added since the cursor; returns how many."""
    if not item.peer.active:
        return 0
    sent = 0
    while True:
        with transaction.atomic():
            locked = Share.objects.select_for_update().get(pk=item.pk)
            rows = releasable(locked.collection)
            if locked.cursor_added is not None:
                after = Q(date_added=locked.cursor_added, pk__gt=locked.cursor_pk)
                rows = rows.filter(Q(date_added__gt=locked.cursor_added) | after)
            batch: list[StixObject] = []
            size = 0
            for row in rows.order_by("date_added", "pk")[:BATCH_OBJECTS]:
                if batch and size + len(row.body) > BATCH_BYTES:
                    break
                batch.append(row)
                size += len(row.body)
            if not batch:
                return sent
            body = ObjectsBody(
                collection_id=str(locked.collection_id),
                title=locked.collection.title[:300],
                objects=[row.body for row in batch],
            )
            locked.cursor_added, locked.cursor_pk = batch[-1].date_added, batch[-1].pk
            locked.save(update_fields=["cursor_added", "cursor_pk"])
            federation.publish(
                Actor.system("sync"),
                locked.peer,
                OBJECTS_KIND,
                body,
                action=AuditAction.INTEL_EXPORT,
                target=locked.collection,
                data={"peer": locked.peer.node_id, "objects": len(batch)},
            )
            sent += len(batch)


def retract(collection: Collection, stix_id: str) -> list[Retraction]:
    """Send a deletion to every peer the collection is shared with. Call inside
    the transaction that deletes the object."""
    made = []
    # Lock the shares as push() does: a retraction is never queued ahead of
    # a batch still carrying the object it retracts.
    for item in Share.objects.select_for_update().filter(collection=collection, peer__active=True):
        message = federation.enqueue(
            item.peer, DELETE_KIND, DeleteBody(collection_id=str(collection.pk), stix_id=stix_id)
        )
        made.append(Retraction.objects.create(share=item, stix_id=stix_id, message=message))
    return made


def retraction_state(item: Retraction) -> str:
    status = item.message.status
    if status == MessageStatus.APPLIED:
        return "confirmed"
    return "refused" if status == MessageStatus.REFUSED else "pending"


# ---------------------------------------------------------------- pulling over TAXII


@audit.refusals_kept()
def subscribe(
    actor: Actor, collection: Collection, objects_url: str, username: str, secret: str
) -> Subscription:
    policy.enforce(actor, Action.SUBSCRIBE, collection)
    if not objects_url.startswith(("https://", "http://")) or "/objects" not in objects_url:
        reason = _("Give the partner collection's TAXII objects URL.")
        policy.refuse(actor, Action.SUBSCRIBE.value, Refusal(reason, UNPROCESSABLE), collection)
    with transaction.atomic():
        item = Subscription.objects.create(
            collection=collection,
            objects_url=objects_url,
            username=username,
            secret=sealed.seal(secret, SEALED_AS),
        )
        audit.record(actor, AuditAction.INTEL_SHARE, collection, data={"subscribed": objects_url})
    return item


@dataclass
class Pulled:
    objects: int = 0
    pages: int = 0


def pull(item: Subscription, max_pages: int = 1000) -> Pulled:
    """Fetch new objects page by page; the cursor advances after each stored
    page, so a stop (or crash) resumes where it left off."""
    result = Pulled()
    headers = {"Accept": "application/taxii+json;version=2.1"}
    try:
        secret = sealed.unseal(item.secret, SEALED_AS)
    except sealed.Unsealable:
        raise ValueError(
            "the stored credential cannot be read (the node's secret key changed): subscribe again"
        ) from None
    auth: Any = (item.username, secret) if item.username else None
    if not item.username and secret:
        headers["Authorization"] = f"Bearer {secret}"
    timeout = settings.FEDERATION_HTTP_TIMEOUT_SECONDS
    with httpx.Client(timeout=timeout, headers=headers, auth=auth) as client:
        cursor: str | None = None
        # One run keeps the added_after it started with while it follows `next`
        # (servers such as medallion refuse changed parameters mid-paging);
        # the stored cursor still advances after each page, for resuming.
        started_after = item.added_after
        for _page in range(max_pages):
            params = {"limit": "500"}
            if started_after:
                params["added_after"] = started_after
            if cursor:
                params["next"] = cursor
            response = client.get(item.objects_url, params=params)
            response.raise_for_status()
            envelope = ijson.loads(response.content)
            if not isinstance(envelope, dict):
                raise ValueError("the server's answer is not a TAXII envelope")
            objects = envelope.get("objects") or []
            if not isinstance(objects, list):
                raise ValueError("the envelope's objects are not a list")
            with transaction.atomic():
                if objects:
                    ingest(
                        item.collection,
                        objects,
                        None,
                        Actor(label=f"taxii-pull:{item.objects_url[:150]}"),
                    )
                last = response.headers.get("X-TAXII-Date-Added-Last")
                if last:
                    item.added_after = last
                item.last_run_at, item.last_error = timezone.now(), ""
                item.save(update_fields=["added_after", "last_run_at", "last_error"])
            result.objects += len(objects)
            result.pages += 1
            cursor = envelope.get("next")
            if not envelope.get("more") or not cursor:
                break
    return result


def sync_all(peer: Peer | None = None) -> dict[str, Any]:
    """What the clock runs: push every share, pull every subscription. A pull
    that fails is recorded on its subscription and reported, never hidden."""
    pushed = sum(
        push(s)
        for s in Share.objects.select_related("peer", "collection").filter(
            peer__in=[peer] if peer else Peer.objects.filter(active=True)
        )
    )
    pulled, errors = 0, []
    if peer is None:
        for item in Subscription.objects.select_related("collection"):
            try:
                pulled += pull(item).objects
            except (httpx.HTTPError, ValueError) as exc:
                errors.append(f"{item.objects_url}: {exc}"[:500])
                Subscription.objects.filter(pk=item.pk).update(
                    last_error=str(exc)[:1000], last_run_at=timezone.now()
                )
    return {"pushed": pushed, "pulled": pulled, "errors": errors}
