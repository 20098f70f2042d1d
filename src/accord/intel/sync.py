"""Partner sync. Between Accord nodes a shared collection travels through the
signed channel: `intel.objects` batches (releasable objects only: never
TLP:RED, nothing expired, never what came from a third party or with a third
party's handling conditions) and `intel.delete` retractions,
each confirmed by the peer's signed receipt. From any TAXII 2.1 server, a
subscription pulls a collection and resumes from its `added_after` cursor."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import Field

from accord.core import audit, sealed
from accord.core.audit import Actor, AuditAction
from accord.federation import kinds
from accord.federation import services as federation
from accord.federation.models import MessageStatus, Peer
from accord.intel import services, stix
from accord.intel.models import Collection, Mirror, Retraction, Share, StixObject, Subscription

SEALED_AS = "intel.subscription"
BATCH_OBJECTS = 200
BATCH_BYTES = 600_000  # a batch's objects stay well under the channel's 1 MiB body
OBJECTS_KIND = "intel.objects"
DELETE_KIND = "intel.delete"
log = logging.getLogger(__name__)


class ObjectsBody(kinds.StrictBody):
    collection_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    title: str = Field(max_length=300)
    objects: list[str] = Field(max_length=BATCH_OBJECTS)


class DeleteBody(kinds.StrictBody):
    collection_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    stix_id: str = Field(min_length=1, max_length=300)


# ---------------------------------------------------------------- sharing with peers


def share(actor: Actor, collection: Collection, peer: Peer) -> Share:
    if hasattr(collection, "mirror"):
        # What a partner gave is not passed on (no onward transfer).
        raise ValidationError(_("A partner's collection is not shared onward."))
    with transaction.atomic():
        found, created = Share.objects.get_or_create(collection=collection, peer=peer)
        if created:
            audit.record(actor, AuditAction.INTEL_SHARE, collection, data={"peer": peer.node_id})
    return found


def unshare(actor: Actor, collection: Collection, peer: Peer) -> None:
    """Stop pushing the collection to the peer. What it was sent stays there
    (a deletion still reaches it only while the share exists)."""
    with transaction.atomic():
        count, _ = Share.objects.filter(collection=collection, peer=peer).delete()
        if not count:
            raise ValidationError(
                _("%(collection)s is not shared with %(peer)s.")
                % {"collection": collection.alias, "peer": peer.node_id}
            )
        audit.record(actor, AuditAction.INTEL_SHARE, collection, data={"unshared": peer.node_id})


def unsubscribe(actor: Actor, item: Subscription) -> None:
    """Stop pulling; what was pulled stays in the collection."""
    with transaction.atomic():
        audit.record(
            actor, AuditAction.INTEL_SHARE, item.collection, data={"unsubscribed": item.objects_url}
        )
        item.delete()


def releasable(collection: Collection) -> Any:
    objects = StixObject.objects.filter(collection=collection)
    return services.released(objects, services.Audience.PEER)


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
            batch, size = [], 0
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
            federation.enqueue(locked.peer, OBJECTS_KIND, body)
            locked.cursor_added, locked.cursor_pk = batch[-1].date_added, batch[-1].pk
            locked.save(update_fields=["cursor_added", "cursor_pk"])
            audit.record(
                Actor.system("sync"),
                AuditAction.INTEL_EXPORT,
                locked.collection,
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


def _mirror(peer: Peer, collection_id: str, title: str) -> Collection:
    found = (
        Mirror.objects.select_related("collection")
        .filter(peer=peer, remote_id=collection_id)
        .first()
    )
    if found is not None:
        return found.collection
    collection = Collection.objects.create(
        id=uuid.uuid4(),
        alias=f"from-{peer.node_id}-{collection_id[:8]}".replace(".", "-"),
        title=f"{title} ({peer.node_id})"[:300],
        description=f"Shared by {peer.node_id}; not passed on to third parties.",
    )
    Mirror.objects.create(peer=peer, remote_id=collection_id, collection=collection)
    return collection


@kinds.register(OBJECTS_KIND, ObjectsBody)
def receive_objects(context: kinds.InboundContext, body: ObjectsBody) -> None:
    collection = _mirror(context.peer, body.collection_id, body.title)
    objects = []
    for text in body.objects:
        try:
            objects.append(json.loads(text))
        except ValueError:
            raise kinds.Refusal("invalid_body: an object is not JSON") from None
    if any(stix.tlp_of(o) == "red" for o in objects if isinstance(o, dict)):
        raise kinds.Refusal("not_releasable: TLP:RED never leaves its node")
    status = services.ingest(collection, objects, None, Actor(label=f"peer:{context.peer.node_id}"))
    if status.failure_count:
        log.warning("%s sent %s invalid objects", context.peer.node_id, status.failure_count)


@kinds.register(DELETE_KIND, DeleteBody)
def receive_delete(context: kinds.InboundContext, body: DeleteBody) -> None:
    found = Mirror.objects.filter(peer=context.peer, remote_id=body.collection_id).first()
    if found is None:
        return  # nothing of it ever arrived: the deletion holds trivially
    rows = StixObject.objects.filter(collection=found.collection, stix_id=body.stix_id)
    count, _ = rows.delete()
    audit.record(
        Actor(label=f"peer:{context.peer.node_id}"),
        AuditAction.INTEL_DELETE,
        found.collection,
        data={"object": body.stix_id, "versions": count, "retracted_by": context.peer.node_id},
    )


# ---------------------------------------------------------------- pulling over TAXII


def subscribe(
    actor: Actor, collection: Collection, objects_url: str, username: str, secret: str
) -> Subscription:
    if not objects_url.startswith(("https://", "http://")) or "/objects" not in objects_url:
        raise ValidationError(_("Give the partner collection's TAXII objects URL."))
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
            envelope = response.json()
            if not isinstance(envelope, dict):
                raise ValueError("the server's answer is not a TAXII envelope")
            objects = envelope.get("objects") or []
            if not isinstance(objects, list):
                raise ValueError("the envelope's objects are not a list")
            with transaction.atomic():
                if objects:
                    services.ingest(
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
