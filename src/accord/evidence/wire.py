"""The bodies of the evidence.* message kinds (docs/evidence.md, "Transfer";
docs/protocol.md lists them). Strict schemas, nothing else: the sender's side
is in `transfer`, the receiver's handlers in `inbound`.

An item travels as one `evidence.offer`, then its chunks in order, each an
`evidence.chunk`; the receiver answers the last chunk with an
`evidence.receipt` carrying its signed 'received' custody record; custody
records written later on either side follow as `evidence.custody`.

An item of settings.EVIDENCE_BULK_MIN_BYTES or more goes the bulk way
instead: one `evidence.bulk-offer` names the SHA-256 of each sealed part, and
the parts follow as raw bytes, one signed HTTP request each (bulk_wire.py);
the receipt and the custody records are the same."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from accord.core.ijson import Count, SmallCount, SmallPositive
from accord.federation.kinds import StrictBody

OFFER_KIND = "evidence.offer"
CHUNK_KIND = "evidence.chunk"
RECEIPT_KIND = "evidence.receipt"
CUSTODY_KIND = "evidence.custody"
BULK_OFFER_KIND = "evidence.bulk-offer"
# How a receiver refuses an item whose chunks, put together, do not check: it
# has removed what it held, and the sender starts over from chunk 0.
DAMAGED = "item_damaged:"

# A chunk's plaintext, at most; its base64 in the body, sealed and base64'd
# again in the envelope, keeps a message under 1 MiB (transfer.chunk_limit).
MAX_CHUNK_BYTES = 512 * 1024
MAX_CHUNK_B64 = -(-MAX_CHUNK_BYTES // 3) * 4
# Custody records in one message: a record is well under 2 KB, so 300 of them
# stay far below the body limit; a longer chain follows in more messages.
MAX_RECORDS = 300

Uuid = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Records = Annotated[list[dict[str, Any]], Field(max_length=MAX_RECORDS)]
# Parts of one bulk item, at most: 4000 hashes keep the offer near 300 KB;
# the sender makes its parts larger for an item that would need more.
MAX_PARTS = 4000
# The blob's stored chunk (blobs.CHUNK_BYTES, 1 MiB) and a part, at most.
MAX_STORED_CHUNK = 16 * 1_048_576
MAX_PART_BYTES = 1024 * 1_048_576


class OfferedItem(StrictBody):
    """What an offer of either kind says the item is, and the request both
    nodes know it by."""

    item_id: Uuid
    sha256: Sha256
    size: Count
    name: str = Field(min_length=1, max_length=1000)
    content_type: str = Field(min_length=1, max_length=255)
    description: str = Field(max_length=20_000)
    request_id: Uuid


class OfferBody(OfferedItem):
    """An item on its way: what it is, how it is cut, the sender's custody
    records so far, and the first chunk that follows (0, or where a resumed
    transfer goes on)."""

    chunk_bytes: int = Field(ge=1024, le=MAX_CHUNK_BYTES)
    chunks: SmallPositive
    first_chunk: SmallCount
    custody: Records


class BulkOfferBody(OfferedItem):
    """An item on its way the bulk way (docs/evidence.md, "Bulk transfer"):
    what it is, as in `OfferBody`, and its ciphertext as the sender stores
    it (the blob format, stored chunks of `chunk_bytes` under `key`), cut
    into parts of `part_bytes` (the last one shorter), each named by the
    SHA-256 of its bytes. The key travels only in this sealed body."""

    chunk_bytes: int = Field(ge=1024, le=MAX_STORED_CHUNK)
    key: str = Field(pattern=r"^[A-Za-z0-9+/]{43}=$")  # 32 bytes, standard base64
    part_bytes: int = Field(ge=1040, le=MAX_PART_BYTES)
    parts: Annotated[list[Sha256], Field(min_length=1, max_length=MAX_PARTS)]
    custody: Records


class ChunkBody(StrictBody):
    item_id: Uuid
    index: SmallCount
    sha256: Sha256  # of this chunk's plaintext
    data: str = Field(max_length=MAX_CHUNK_B64)  # standard base64, padded


class ReceiptBody(StrictBody):
    """The receiver holds the item whole: its hash, and the receiver's custody
    chain for it so far (its 'received' record, signed)."""

    item_id: Uuid
    sha256: Sha256
    custody: Records


class CustodyBody(StrictBody):
    """Records of the sender's own chain for an item both nodes hold, in seq
    order, starting anywhere at or before the receiver's next expected seq."""

    item_id: Uuid
    records: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_RECORDS)]


__all__ = [
    "BULK_OFFER_KIND",
    "CHUNK_KIND",
    "CUSTODY_KIND",
    "DAMAGED",
    "MAX_CHUNK_BYTES",
    "MAX_RECORDS",
    "OFFER_KIND",
    "RECEIPT_KIND",
    "BulkOfferBody",
    "ChunkBody",
    "CustodyBody",
    "OfferBody",
    "ReceiptBody",
]
