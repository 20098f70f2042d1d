"""The intel.* message kinds arriving from a peer: each body is checked
against its schema (`wire.py`) before its handler runs, and the handlers apply
it through the app's public functions: `store.mirror_for` for the collection a
peer's share lands in, `ingest` for its objects, `delete_object` for a
retraction."""

from __future__ import annotations

import logging

from accord.core import ijson
from accord.core.audit import Actor
from accord.federation import kinds
from accord.intel import stix
from accord.intel.deletion import delete_object
from accord.intel.ingest import ingest
from accord.intel.models import Tlp
from accord.intel.store import mirror_for, mirrored
from accord.intel.wire import DELETE_KIND, OBJECTS_KIND, DeleteBody, ObjectsBody

log = logging.getLogger(__name__)


def _actor(context: kinds.InboundContext) -> Actor:
    return Actor(label=f"peer:{context.peer.node_id}")


@kinds.register(OBJECTS_KIND, ObjectsBody)
def receive_objects(context: kinds.InboundContext, body: ObjectsBody) -> None:
    collection = mirror_for(context.peer, body.collection_id, body.title)
    objects = []
    for text in body.objects:
        try:
            objects.append(ijson.loads(text))
        except ValueError:
            raise kinds.Refusal("invalid_body: an object is not JSON") from None
    # A sender that tries is broken: the whole batch is refused (docs/intel.md).
    if any(stix.tlp_of(o) == Tlp.RED for o in objects if isinstance(o, dict)):
        raise kinds.Refusal("not_releasable: TLP:RED never leaves its node")
    status = ingest(collection, objects, None, _actor(context))
    if status.failure_count:
        log.warning("%s sent %s invalid objects", context.peer.node_id, status.failure_count)


@kinds.register(DELETE_KIND, DeleteBody)
def receive_delete(context: kinds.InboundContext, body: DeleteBody) -> None:
    collection = mirrored(context.peer, body.collection_id)
    if collection is None:
        return  # nothing of it ever arrived: the deletion holds trivially
    delete_object(
        collection,
        body.stix_id,
        {},
        _actor(context),
        note={"retracted_by": context.peer.node_id},
    )
