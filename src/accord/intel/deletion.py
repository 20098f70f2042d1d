"""Deleting objects: by a partner tool over TAXII, or because the peer that
shared them retracted them. Peers this node sent an object to are told to
delete it too (`sync.retract`), and nobody else hears of it."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.intel import policy
from accord.intel.models import Collection, StixObject
from accord.intel.policy import Action
from accord.intel.queries import filtered
from accord.intel.release import Audience, released, was_sent
from accord.intel.store import refresh_flags
from accord.intel.sync import retract


@audit.refusals_kept()
def delete_object(
    collection: Collection,
    object_id: str,
    params: dict[str, list[str]],
    actor: Actor,
    audience: Audience = Audience.LOCAL,
    *,
    note: dict[str, Any] | None = None,
) -> int:
    """Delete versions of an object; a partner deletes only what it may see (so
    it cannot learn that a TLP:RED object exists). `note` adds to the audit
    event (who retracted it)."""
    policy.enforce(actor, Action.DELETE, collection)
    rows = filtered(
        collection,
        {**params, "match[version]": params.get("match[version]") or ["all"]},
        audience=audience,
        object_id=object_id,
    )
    with transaction.atomic():
        doomed = StixObject.objects.filter(pk__in=list(rows.values_list("pk", flat=True)))
        went_to_peers = released(doomed, Audience.PEER).exists() or was_sent(doomed)
        count, _ = doomed.delete()
        # The versions left behind need their newest/oldest flags redone, or
        # deleting the newest version would hide the object from match[version]=last.
        refresh_flags(collection, {object_id})
        if (
            count
            and went_to_peers
            and not StixObject.objects.filter(collection=collection, stix_id=object_id).exists()
        ):
            retract(collection, object_id)  # partners delete it too, and confirm
        audit.record(
            actor,
            AuditAction.INTEL_DELETE,
            collection,
            data={"object": object_id, "versions": count, **(note or {})},
        )
    return count
