"""A failed transfer's partial copy is removed at once and accounted for
(issue 13): on the small-item path (chunks through the channel) a whole that
does not check removes the chunks received immediately and the sender starts
over from chunk 0; a removal of a partial copy of an item this node holds
writes a signed `discarded` custody record (who, how many bytes, why)."""

from __future__ import annotations

import pytest
from django.test import TestCase

from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.evidence import custody, inbound, partials
from accord.evidence.models import EvidenceItem, IncomingTransfer, TransferStatus
from accord.evidence.views import EVENT_LABELS
from tests.assistance.arrivals import submitted
from tests.evidence.transfer_kit import CHUNK_KIND, OFFER_KIND, Item, Partner
from tests.federation.test_inbox_rejections import RemotePeer

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 10 + b"the end"  # 2567 bytes: three chunks of 1024


@pytest.fixture
def partner(db) -> Partner:
    return Partner(RemotePeer.create("us.partial"))


@pytest.fixture
def request_id(users, partner) -> str:
    return str(submitted(users, partner.remote.peer).pk)


def test_a_small_item_whose_whole_does_not_check_is_removed_at_once(partner, request_id):
    item = Item(DATA)
    item.sha256 = "ab" * 32  # every chunk is right; the whole is not what was offered
    assert partner.send(OFFER_KIND, item.offer(partner, request_id))["status"] == "applied"
    for index in (0, 1):
        assert partner.send(CHUNK_KIND, item.chunk(index))["status"] == "applied"
    held = IncomingTransfer.objects.get(item_id=item.id)
    partial = inbound.partial_path(held)
    size = partial.stat().st_size
    assert size == 2 * (1024 + 16)

    last = partner.send(CHUNK_KIND, item.chunk(2))

    assert last["status"] == "refused" and last["reason"].startswith("item_damaged")
    assert f"the {size + len(DATA) - 2048 + 16} bytes received are removed" in last["reason"]
    # Gone now, not at the orphan sweep; the inbox's audit keeps why.
    assert not partial.exists()
    assert AuditEvent.objects.filter(
        action="federation:inbox:refuse", data__reason=last["reason"]
    ).exists()
    assert not EvidenceItem.objects.filter(pk=item.id).exists()
    # Offered again, it starts over: nothing is held, a resume is refused.
    resumed = partner.send(OFFER_KIND, item.offer(partner, request_id, first_chunk=2))
    assert resumed["status"] == "refused"
    assert resumed["reason"] == "resume_mismatch: this node holds 0 chunks"
    again = partner.send(OFFER_KIND, item.offer(partner, request_id))
    assert again["status"] == "applied"
    assert IncomingTransfer.objects.get(item_id=item.id).received == 0
    assert partial.exists() and partial.stat().st_size == 0


def test_a_refused_chunk_keeps_the_chunks_held_for_the_resume(partner, request_id):
    """Not a failure for good: the chunks before it are good and stay."""
    item = Item(DATA)
    partner.send(OFFER_KIND, item.offer(partner, request_id))
    partner.send(CHUNK_KIND, item.chunk(0))
    refused = partner.send(CHUNK_KIND, item.chunk(1, data=b"x" * 1024))
    assert refused["reason"].startswith("chunk_damaged")
    partial = inbound.partial_path(IncomingTransfer.objects.get(item_id=item.id))
    assert partial.stat().st_size == 1024 + 16


def test_removing_a_partial_copy_of_an_item_held_here_is_in_its_custody(partner, request_id):
    item = Item(DATA)
    partner.send(OFFER_KIND, item.offer(partner, request_id))
    for index in range(len(item.pieces)):
        partner.send(CHUNK_KIND, item.chunk(index))
    arrived = EvidenceItem.objects.get(pk=item.id)
    incoming = IncomingTransfer.objects.get(item_id=item.id)
    # A partial copy of the same item left here (a second transfer that failed).
    partial = inbound.partial_path(incoming)
    partial.write_bytes(b"\0" * 1040)

    with TestCase.captureOnCommitCallbacks(execute=True):
        partials.discard_partial(incoming, Actor.system("clock"), "item_damaged", 1)

    assert not partial.exists()
    [record] = arrived.custody.filter(node=this_node().node_id, event="discarded")
    assert record.actor == "clock" and record.reason == "item_damaged"
    assert record.details == {
        "what": "partial transfer",
        "from": partner.node_id,
        "bytes_removed": 1040,
        "chunks": 1,
    }
    # The chain still verifies, the record signed by this node.
    mine = [row.to_record() for row in arrived.custody.filter(node=this_node().node_id)]
    custody.verify_chain(
        sorted(mine, key=lambda r: r.seq), {this_node().node_id: [this_node().signing_public]}
    )
    assert str(EVENT_LABELS["discarded"]) == "Partial copy removed"
    [removed] = AuditEvent.objects.filter(action="evidence:blob:orphan", target_id=item.id)
    assert removed.data["bytes"] == 1040


def test_an_abandoned_transfer_of_an_item_held_here_is_in_its_custody(partner, request_id):
    """The clock's sweep of an abandoned transfer writes the same record."""
    from datetime import timedelta

    from django.utils import timezone

    item = Item(DATA)
    partner.send(OFFER_KIND, item.offer(partner, request_id))
    for index in range(len(item.pieces)):
        partner.send(CHUNK_KIND, item.chunk(index))
    incoming = IncomingTransfer.objects.get(item_id=item.id)
    incoming.status, incoming.received = TransferStatus.ACTIVE, 2  # a transfer left stalled
    incoming.save()
    inbound.partial_path(incoming).write_bytes(b"\0" * 2080)

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert partials.clean_orphans(timezone.now() + timedelta(seconds=1)) == 1

    [record] = EvidenceItem.objects.get(pk=item.id).custody.filter(event="discarded")
    assert record.actor == "clock" and record.reason.startswith("abandoned")
    assert (record.details["bytes_removed"], record.details["chunks"]) == (2080, 2)
