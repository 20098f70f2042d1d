"""Collections, and the bookkeeping every write to the store shares: a
collection made by the operator, the one where a peer's shared collection
lands, and the first/last flags that match[version] reads."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.federation import parties
from accord.federation.models import Peer
from accord.intel import policy
from accord.intel.models import Collection, Mirror, StixObject
from accord.intel.policy import Action


@audit.refusals_kept()
def create_collection(actor: Actor, alias: str, title: str, description: str = "") -> Collection:
    policy.enforce(actor, Action.MANAGE_COLLECTIONS)
    if Collection.objects.filter(alias=alias).exists():
        raise ValidationError(_("A collection %(alias)s exists.") % {"alias": alias})
    with transaction.atomic():
        collection = Collection.objects.create(
            id=uuid.uuid4(), alias=alias, title=title, description=description
        )
        audit.record(actor, AuditAction.INTEL_SHARE, collection, data={"created": alias})
    return collection


def mirrored(peer: Peer, remote_id: str) -> Collection | None:
    """Where the peer's collection `remote_id` landed, if anything of it did."""
    found = (
        Mirror.objects.select_related("collection").filter(peer=peer, remote_id=remote_id).first()
    )
    return found.collection if found is not None else None


def source_of(collection: Collection) -> Peer | None:
    """The partner node (its agency and party) a mirrored collection came from."""
    found = Mirror.objects.select_related("peer").filter(collection=collection).first()
    return found.peer if found is not None else None


def mirror_for(peer: Peer, remote_id: str, title: str) -> Collection:
    """The collection the peer's collection `remote_id` lands in, made on its
    first batch."""
    found = mirrored(peer, remote_id)
    if found is not None:
        return found
    collection = Collection.objects.create(
        id=uuid.uuid4(),
        alias=f"from-{peer.node_id}-{remote_id[:8]}".replace(".", "-"),
        title=f"{title} ({peer.node_id})"[:300],
        description=f"Shared by {parties.label(peer)}, node {peer.node_id}; "
        "not passed on to third parties.",
    )
    Mirror.objects.create(peer=peer, remote_id=remote_id, collection=collection)
    return collection


def refresh_flags(collection: Collection, stix_ids: set[str]) -> None:
    """Mark each object's newest and oldest version (match[version] last/first)."""
    ids = sorted(stix_ids)
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        rows = StixObject.objects.filter(collection=collection, stix_id__in=chunk)
        bounds = list(rows.values("stix_id").annotate(high=Max("version"), low=Min("version")))
        if not bounds:
            continue
        rows.update(latest=False, earliest=False)
        newest = Q(pk__in=[])
        oldest = Q(pk__in=[])
        for b in bounds:
            newest |= Q(stix_id=b["stix_id"], version=b["high"])
            oldest |= Q(stix_id=b["stix_id"], version=b["low"])
        rows.filter(newest).update(latest=True)
        rows.filter(oldest).update(earliest=True)
