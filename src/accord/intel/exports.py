"""A collection as a STIX bundle file: what the export page and `accord
intel export` write."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.intel import policy, stix
from accord.intel.models import Collection, StixObject
from accord.intel.policy import Action
from accord.intel.release import Audience, released


@dataclass(frozen=True)
class Export:
    bundle: str
    count: int
    withheld: int


@audit.refusals_kept()
def export_bundle(collection: Collection, actor: Actor, ip: str = "") -> Export:
    """The collection as a STIX bundle file: never TLP:RED, nothing expired,
    nothing its originator marked for no further sharing. Objects that carry
    handling conditions keep them, and the bundle defines the extension."""
    policy.enforce(actor, Action.EXPORT, collection, ip=ip)
    everything = StixObject.objects.filter(collection=collection)
    rows = released(everything, Audience.EXPORT).order_by("date_added", "pk")
    bodies = list(rows.values_list("body", flat=True))
    count, withheld = len(bodies), everything.count() - len(bodies)
    if rows.exclude(handling="").exists():
        bodies = [
            json.dumps(o, separators=(",", ":")) for o in stix.handling_definitions()
        ] + bodies
    bundle = (
        '{"type":"bundle","id":"bundle--'
        + str(uuid.uuid4())
        + '","objects":['
        + ",".join(bodies)
        + "]}"
    )
    audit.record(
        actor,
        AuditAction.INTEL_EXPORT,
        collection,
        ip=ip,
        data={"objects": count, "withheld": withheld},
    )
    return Export(bundle, count, withheld)
