"""An evidence item arriving from a partner, in process: the partner is played
by the test through the real inbox. Chunks are checked one by one and the
whole at the end; what does not fit is refused with a reason (a negative
receipt), audited, and changes nothing; a chunk already held changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.evidence import custody, inbound, partials, services
from accord.evidence.models import EvidenceItem, IncomingTransfer, TransferStatus
from accord.evidence.wire import CUSTODY_KIND, RECEIPT_KIND
from accord.federation.models import InboxMessage, Peer
from tests.assistance.arrivals import submitted
from tests.evidence.transfer_kit import CHUNK_KIND, OFFER_KIND, Item, Partner
from tests.federation.test_inbox_rejections import RemotePeer

pytestmark = pytest.mark.django_db

REFUSE = "federation:inbox:refuse"
DATA = bytes(range(256)) * 10 + b"the end"  # 2567 bytes: three chunks of 1024


@pytest.fixture
def partner(db) -> Partner:
    return Partner(RemotePeer.create("us.provider"))


@pytest.fixture
def request_id(users, partner) -> str:
    return str(submitted(users, partner.remote.peer).pk)


def offered(partner: Partner, request_id: str, data: bytes = DATA) -> Item:
    item = Item(data)
    receipt = partner.send(OFFER_KIND, item.offer(partner, request_id))
    assert receipt["status"] == "applied", receipt
    return item


def incoming(item: Item) -> IncomingTransfer:
    return IncomingTransfer.objects.get(item_id=item.id)


def test_an_item_arrives_whole_with_both_chains(users, partner, request_id) -> None:
    item = offered(partner, request_id)
    for index in range(len(item.pieces)):
        assert partner.send(CHUNK_KIND, item.chunk(index))["status"] == "applied"

    arrived = EvidenceItem.objects.get(pk=item.id)
    assert (arrived.sha256, arrived.size, str(arrived.request_id)) == (
        item.sha256,
        len(DATA),
        request_id,
    )
    assert arrived.name == "../phone\r\nextract.bin"  # kept as given, never a path
    assert arrived.collected_how == "production"
    with TestCase.captureOnCommitCallbacks(execute=True):
        downloaded = b"".join(services.download(Actor.of(users[Role.INVESTIGATOR]), arrived))
    assert downloaded == DATA
    # This node's later records go back to the sender: both hold the whole chain.
    [update] = partner.sent(CUSTODY_KIND)
    assert [r["event"] for r in update["records"]] == ["downloaded"]
    rows = {(row.node, row.event) for row in arrived.custody.all()}
    assert {(partner.node_id, "collected"), (this_node().node_id, "received")} <= rows
    [receipt] = partner.sent(RECEIPT_KIND)
    assert receipt["sha256"] == item.sha256
    [record] = [custody.Record.from_json(r) for r in receipt["custody"]]
    assert record.event == "received" and record.signature_ok(this_node().signing_public)
    assert incoming(item).status == TransferStatus.DONE
    assert not inbound.partial_path(incoming(item)).exists()
    assert AuditEvent.objects.filter(action="evidence:transfer:received").count() == 1
    # The bytes live in the evidence storage only: an applied chunk's envelope
    # is kept without its body (a purge leaves no copy in the inbox).
    chunks = InboxMessage.objects.filter(kind=CHUNK_KIND)
    assert chunks.count() == 3 and all(m.envelope["body"] == "" for m in chunks)
    assert all(m.body_sha256 and m.receipt for m in chunks)
    assert InboxMessage.objects.get(kind=OFFER_KIND).envelope["body"]


def test_chunks_are_encrypted_as_they_arrive(partner, request_id) -> None:
    marker = b"PLAINTEXT-MARKER-" * 60
    item = offered(partner, request_id, marker + DATA)
    partner.send(CHUNK_KIND, item.chunk(0))
    partial = inbound.partial_path(incoming(item))
    stored = partial.read_bytes()
    assert len(stored) == 1024 + 16 and b"PLAINTEXT-MARKER" not in stored
    assert partial.stat().st_mode & 0o777 == 0o600


def test_a_chunk_with_the_wrong_hash_is_refused_and_changes_nothing(partner, request_id) -> None:
    item = offered(partner, request_id)
    partner.send(CHUNK_KIND, item.chunk(0))

    receipt = partner.send(CHUNK_KIND, item.chunk(1, data=b"x" * 1024))

    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith("chunk_damaged")
    assert incoming(item).received == 1
    assert AuditEvent.objects.filter(action=REFUSE, data__reason=receipt["reason"]).exists()
    # The sender retries from that chunk: the right bytes go on.
    assert partner.send(CHUNK_KIND, item.chunk(1))["status"] == "applied"
    assert incoming(item).received == 2


def test_a_duplicate_chunk_changes_nothing(partner, request_id) -> None:
    item = offered(partner, request_id)
    partner.send(CHUNK_KIND, item.chunk(0))
    partner.send(CHUNK_KIND, item.chunk(1))
    before = inbound.partial_path(incoming(item)).read_bytes()

    receipt = partner.send(CHUNK_KIND, item.chunk(0))

    assert receipt["status"] == "applied"
    assert incoming(item).received == 2
    assert inbound.partial_path(incoming(item)).read_bytes() == before
    for index in range(2, len(item.pieces)):
        partner.send(CHUNK_KIND, item.chunk(index))
    # A late copy of a chunk of an item already here changes nothing either.
    assert partner.send(CHUNK_KIND, item.chunk(2))["status"] == "applied"
    assert EvidenceItem.objects.filter(pk=item.id).count() == 1
    assert len(partner.sent(RECEIPT_KIND)) == 1


def test_a_chunk_ahead_of_its_turn_is_refused(partner, request_id) -> None:
    item = offered(partner, request_id)
    receipt = partner.send(CHUNK_KIND, item.chunk(2))
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith("chunk_out_of_order")
    assert incoming(item).received == 0


def test_a_chunk_for_an_unknown_transfer_is_refused(partner, request_id) -> None:
    item = Item(DATA)
    receipt = partner.send(CHUNK_KIND, item.chunk(0))
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith("unknown_transfer")


def test_an_offer_over_the_size_limit_is_refused_and_audited(partner, request_id, settings) -> None:
    settings.EVIDENCE_MAX_ITEM_BYTES = 2048
    item = Item(DATA)

    receipt = partner.send(OFFER_KIND, item.offer(partner, request_id))

    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith("too_large")
    assert not IncomingTransfer.objects.exists()
    assert AuditEvent.objects.filter(action=REFUSE, data__reason=receipt["reason"]).exists()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"request_id": "00000000-0000-4000-8000-000000000000"}, "unknown_request"),
        ({"chunks": 2}, "invalid_offer"),
        ({"first_chunk": 1}, "resume_mismatch"),
        ({"custody": [{"v": 1}]}, "custody_invalid"),
    ],
)
def test_an_offer_that_does_not_fit_is_refused(partner, request_id, changes, reason) -> None:
    item = Item(DATA)
    receipt = partner.send(OFFER_KIND, item.offer(partner, request_id) | changes)
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith(reason), receipt["reason"]
    assert not IncomingTransfer.objects.exists()


def test_custody_signed_by_another_key_is_refused(partner, request_id) -> None:
    item = Item(DATA)
    stranger = Partner(RemotePeer.create("xx.stranger"))
    forged = stranger.record(item.id, item.sha256, "collected").to_json() | {
        "node": partner.node_id
    }
    receipt = partner.send(OFFER_KIND, item.offer(partner, request_id, custody=[forged]))
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith("custody_signature")


def test_a_resumed_offer_goes_on_where_the_chunks_stopped(partner, request_id) -> None:
    item = offered(partner, request_id)
    partner.send(CHUNK_KIND, item.chunk(0))

    # Meanwhile the sender's chain grew: the resumed offer carries it whole.
    collected = partner.record(item.id, item.sha256, "collected")
    viewed = partner.record(item.id, item.sha256, "viewed", prev=collected)
    chain = [collected.to_json(), viewed.to_json()]

    again = partner.send(OFFER_KIND, item.offer(partner, request_id, first_chunk=1, custody=chain))
    wrong = partner.send(OFFER_KIND, item.offer(partner, request_id, first_chunk=0))

    assert again["status"] == "applied"
    assert wrong["status"] == "refused" and wrong["reason"].startswith("resume_mismatch")
    for index in (1, 2):
        partner.send(CHUNK_KIND, item.chunk(index))
    arrived = EvidenceItem.objects.get(pk=item.id, sha256=item.sha256)
    events = arrived.custody.filter(node=partner.node_id).order_by("seq")
    assert list(events.values_list("event", flat=True)) == ["collected", "viewed"]


def test_later_custody_records_join_the_partners_chain(partner, request_id) -> None:
    item = offered(partner, request_id)
    for index in range(len(item.pieces)):
        partner.send(CHUNK_KIND, item.chunk(index))
    collected = custody.Record.from_json(item_collected(item))
    viewed = partner.record(item.id, item.sha256, "viewed", prev=collected)
    purged = partner.record(item.id, item.sha256, "purged", prev=viewed)

    gap = partner.send(CUSTODY_KIND, {"item_id": item.id, "records": [purged.to_json()]})
    ok = partner.send(
        CUSTODY_KIND, {"item_id": item.id, "records": [viewed.to_json(), purged.to_json()]}
    )
    again = partner.send(CUSTODY_KIND, {"item_id": item.id, "records": [purged.to_json()]})

    assert gap["status"] == "refused" and gap["reason"].startswith("custody_order")
    assert ok["status"] == "applied" and again["status"] == "applied"
    events = list(
        EvidenceItem.objects.get(pk=item.id)
        .custody.filter(node=partner.node_id)
        .order_by("seq")
        .values_list("event", flat=True)
    )
    assert events == ["collected", "viewed", "purged"]


def item_collected(item: Item) -> dict:
    row = EvidenceItem.objects.get(pk=item.id).custody.get(event="collected")
    return row.to_json()


def test_custody_for_an_item_not_shared_is_refused(partner) -> None:
    item = Item(DATA)
    record = partner.record(item.id, item.sha256, "collected")
    receipt = partner.send(CUSTODY_KIND, {"item_id": item.id, "records": [record.to_json()]})
    assert receipt["status"] == "refused" and receipt["reason"].startswith("not_shared")


def test_an_abandoned_partial_transfer_is_cleaned_up(partner, request_id) -> None:
    item = offered(partner, request_id)
    partner.send(CHUNK_KIND, item.chunk(0))
    partial = inbound.partial_path(incoming(item))
    assert partial.exists()

    with TestCase.captureOnCommitCallbacks(execute=True):
        cleaned = partials.clean_orphans(timezone.now() + timedelta(seconds=1))

    assert cleaned == 1
    assert not partial.exists()
    assert incoming(item).status == TransferStatus.ABANDONED
    assert AuditEvent.objects.filter(action="evidence:transfer:abandoned").count() == 1
    assert partner.send(CHUNK_KIND, item.chunk(1))["status"] == "refused"
    # A new offer starts over.
    assert partner.send(OFFER_KIND, item.offer(partner, request_id))["status"] == "applied"
    assert incoming(item).received == 0
    assert Peer.objects.filter(node_id=partner.node_id).exists()


def test_an_item_arrives_into_any_storage(users, partner, request_id, settings) -> None:
    """The partial file is local; the finished blob goes through the storage
    API like any other (here Django's in-memory storage, as an object store)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    item = offered(partner, request_id)
    for index in range(len(item.pieces)):
        partner.send(CHUNK_KIND, item.chunk(index))
    arrived = EvidenceItem.objects.get(pk=item.id)
    actor = Actor.of(users[Role.INVESTIGATOR])
    assert b"".join(services.download(actor, arrived)) == DATA
