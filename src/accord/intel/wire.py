"""The intel.* message kinds between Accord nodes and their strict bodies
(docs/protocol.md, section 12): `intel.objects` carries a batch of a shared
collection's objects, `intel.delete` retracts one object."""

from __future__ import annotations

from pydantic import Field

from accord.federation.kinds import StrictBody

OBJECTS_KIND = "intel.objects"
DELETE_KIND = "intel.delete"
BATCH_OBJECTS = 200
BATCH_BYTES = 600_000  # a batch's objects stay well under the channel's 1 MiB body


class ObjectsBody(StrictBody):
    collection_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    title: str = Field(max_length=300)
    objects: list[str] = Field(max_length=BATCH_OBJECTS)


class DeleteBody(StrictBody):
    collection_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    stix_id: str = Field(min_length=1, max_length=300)
