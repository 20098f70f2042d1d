"""Sending an evidence item to the partner of its request, in process: the
outbox holds a window of chunks at a time, the next ones are queued as the
partner applies the earlier ones, a refusal fails the transfer with the
partner's reason and a retry goes on from the last chunk applied; the
partner's receipt completes it and both chains end up on both sides."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from accord.assistance.models import AssistanceRequest
from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.policy import Refused
from accord.core.roles import Role
from accord.evidence import blobs, custody, policy, services, transfer
from accord.evidence.models import EvidenceItem, Transfer, TransferStatus
from accord.evidence.wire import CUSTODY_KIND, RECEIPT_KIND
from accord.federation.models import MessageStatus, OutboxMessage
from accord.federation.signals import messages_applied, messages_refused
from tests.assistance.arrivals import submitted
from tests.evidence.transfer_kit import CHUNK_KIND, OFFER_KIND, Partner
from tests.evidence.world import add, make_case, make_people
from tests.federation.test_inbox_rejections import RemotePeer

pytestmark = pytest.mark.django_db

DATA = hashlib.sha256(b"seed").digest() * 640  # 20480 bytes: 9 chunks of 2304
WINDOW = 4


@pytest.fixture(autouse=True)
def small_chunks(settings) -> None:
    settings.FEDERATION_MAX_BODY_BYTES = 8192  # chunks of 2304 bytes
    settings.EVIDENCE_TRANSFER_WINDOW = WINDOW


@pytest.fixture
def partner(db) -> Partner:
    return Partner(RemotePeer.create("us.requester"))


@pytest.fixture
def request_(users, partner) -> AssistanceRequest:
    request = submitted(users, partner.remote.peer)
    # Its submission was delivered: the outbox holds only what the tests send.
    OutboxMessage.objects.filter(peer=partner.remote.peer).update(status=MessageStatus.APPLIED)
    return request


@pytest.fixture
def item(users, request_) -> EvidenceItem:
    return add(users[Role.INVESTIGATOR], DATA, request=request_)


def send(users, item: EvidenceItem, peer=None, role: Role = Role.INVESTIGATOR) -> Transfer:
    peer = peer or item.request.peer
    return transfer.transfer_item(Actor.of(users[role]), item, peer, ip="127.0.0.1")


def pending(partner: Partner) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(
            peer=partner.remote.peer, status=MessageStatus.PENDING
        ).order_by("seq")
    )


def settle(partner: Partner, status: str = MessageStatus.APPLIED, reason: str = "") -> None:
    """The partner's receipts for everything pending arrive, as the deliverer stores them."""
    with transaction.atomic():
        messages = pending(partner)
        for message in messages:
            message.status, message.refusal_reason = status, reason
            message.save(update_fields=["status", "refusal_reason"])
        signal = messages_applied if status == MessageStatus.APPLIED else messages_refused
        signal.send(sender=OutboxMessage, peer=partner.remote.peer, messages=messages)


def chunks_sent(partner: Partner) -> dict[int, bytes]:
    found = {}
    for body in partner.sent(CHUNK_KIND):
        data = base64.b64decode(body["data"])
        assert hashlib.sha256(data).hexdigest() == body["sha256"]
        found[body["index"]] = data
    return found


def test_the_outbox_holds_one_window_at_a_time(users, partner, item) -> None:
    started = send(users, item)

    assert (started.chunks, started.chunk_bytes) == (9, 2304)
    assert [m.kind for m in pending(partner)] == [OFFER_KIND] + [CHUNK_KIND] * WINDOW
    [offer] = partner.sent(OFFER_KIND)
    assert (offer["sha256"], offer["size"], offer["first_chunk"]) == (item.sha256, len(DATA), 0)
    assert offer["request_id"] == str(item.request_id)
    assert [r["event"] for r in offer["custody"]] == ["collected"]

    rounds, pieces = 0, {}
    while pending(partner):
        pieces |= chunks_sent(partner)
        assert len([m for m in pending(partner) if m.kind == CHUNK_KIND]) <= WINDOW
        settle(partner)
        rounds += 1
    assert rounds == 3
    assert b"".join(pieces[i] for i in range(9)) == DATA
    # Applied chunks leave no sealed copy of the bytes in the outbox.
    sent = OutboxMessage.objects.filter(kind=CHUNK_KIND)
    assert sent.count() == 9 and not sent.exclude(body="").exists()
    done = Transfer.objects.get(pk=started.pk)
    assert (done.confirmed, done.next_index, done.status) == (9, 9, TransferStatus.ACTIVE)
    assert AuditEvent.objects.filter(action="evidence:transfer:start").count() == 1


def received_record(partner: Partner, item: EvidenceItem) -> custody.Record:
    return partner.record(str(item.pk), item.sha256, "received")


def test_the_receipt_completes_it_and_the_chains_cross(users, partner, item) -> None:
    send(users, item)
    while pending(partner):
        settle(partner)
    received = received_record(partner, item)

    answer = partner.send(
        RECEIPT_KIND,
        {"item_id": str(item.pk), "sha256": item.sha256, "custody": [received.to_json()]},
    )

    assert answer["status"] == "applied", answer
    done = Transfer.objects.get(item=item)
    assert done.status == TransferStatus.DONE and done.finished_at is not None
    events = {(row.node, row.event) for row in item.custody.all()}
    here = this_node().node_id
    assert {(here, "collected"), (here, "transferred"), (partner.node_id, "received")} <= events
    [update] = partner.sent(CUSTODY_KIND)
    assert [r["event"] for r in update["records"]] == ["transferred"]
    assert AuditEvent.objects.filter(action="evidence:transfer:done").count() == 1

    # A later record on this side follows to the partner.
    with TestCase.captureOnCommitCallbacks(execute=True):
        b"".join(services.download(Actor.of(users[Role.INVESTIGATOR]), item))
    assert [r["event"] for r in partner.sent(CUSTODY_KIND)[-1]["records"]] == ["downloaded"]
    assert partner.send(RECEIPT_KIND, answer_again(item, received))["status"] == "applied"


def test_the_clock_sends_custody_records_left_unsent(users, partner, item) -> None:
    send(users, item)
    while pending(partner):
        settle(partner)
    partner.send(RECEIPT_KIND, answer_again(item, received_record(partner, item)))
    # As if the node had stopped before sending its records on.
    Transfer.objects.filter(item=item).update(records_sent=1)
    OutboxMessage.objects.filter(kind=CUSTODY_KIND).delete()

    assert transfer.tick()["records"] == 1
    [update] = partner.sent(CUSTODY_KIND)
    assert [r["event"] for r in update["records"]] == ["transferred"]
    assert transfer.tick()["records"] == 0


def answer_again(item: EvidenceItem, received: custody.Record) -> dict:
    return {"item_id": str(item.pk), "sha256": item.sha256, "custody": [received.to_json()]}


def test_a_refused_chunk_fails_the_transfer_and_a_retry_goes_on(users, partner, item) -> None:
    send(users, item)
    settle(partner)  # the offer and chunks 0-3 applied
    settle(partner, MessageStatus.REFUSED, "chunk_damaged: chunk 4 does not match its SHA-256")

    failed = Transfer.objects.get(item=item)
    assert failed.status == TransferStatus.FAILED
    assert failed.reason.startswith("chunk_damaged")
    assert failed.confirmed == 4
    assert AuditEvent.objects.filter(action="evidence:transfer:failed").count() == 1

    send(users, item)

    offer = partner.sent(OFFER_KIND)[-1]
    assert offer["first_chunk"] == 4
    assert [body["index"] for body in partner.sent(CHUNK_KIND)[-WINDOW:]] == [4, 5, 6, 7]
    assert Transfer.objects.get(item=item).status == TransferStatus.ACTIVE


def test_a_whole_the_partner_found_damaged_is_sent_again_from_the_start(
    users, partner, item
) -> None:
    """The partner removed the chunks it held (inbound.finish_or_discard):
    the retry offers the item from chunk 0."""
    send(users, item)
    settle(partner)
    settle(partner, MessageStatus.REFUSED, "item_damaged: the item does not match its SHA-256")

    failed = Transfer.objects.get(item=item)
    assert (failed.status, failed.confirmed) == (TransferStatus.FAILED, 0)

    send(users, item)

    assert partner.sent(OFFER_KIND)[-1]["first_chunk"] == 0
    assert [body["index"] for body in partner.sent(CHUNK_KIND)[-WINDOW:]] == [0, 1, 2, 3]


def test_only_the_requests_team_sends_to_its_partner(users, partner, item) -> None:
    people = make_people()
    with pytest.raises(Refused):
        send({Role.INVESTIGATOR: people["outsider"]}, item)
    with pytest.raises(Refused):
        send(users, item, role=Role.AUDITOR)
    other = RemotePeer.create("xx.other").peer
    with pytest.raises(Refused):
        send(users, item, peer=other)
    on_case = add(people["author"], DATA, case=make_case(people))
    assert policy.offered(people["author"], on_case)["send"] is False  # no button, no "may"
    with pytest.raises(Refused):
        transfer.transfer_item(Actor.of(people["author"]), on_case, other)
    assert not Transfer.objects.exists()
    assert not OutboxMessage.objects.filter(kind=OFFER_KIND).exists()
    refusals = AuditEvent.objects.filter(action="evidence:item:refused", data__action="send")
    assert refusals.count() == 4

    send(users, item)
    with pytest.raises(Refused):
        send(users, item)  # already under way


def test_the_clock_abandons_a_stalled_transfer(users, partner, item, settings) -> None:
    send(users, item)
    settle(partner)
    stale = timezone.now() - timedelta(days=settings.EVIDENCE_ORPHAN_DAYS + 1)
    Transfer.objects.filter(item=item).update(updated_at=stale)

    result = transfer.tick()

    assert result["abandoned"] == 1
    assert Transfer.objects.get(item=item).status == TransferStatus.ABANDONED
    send(users, item)
    assert partner.sent(OFFER_KIND)[-1]["first_chunk"] == 0


def test_the_clock_tops_up_a_short_window(users, partner, item) -> None:
    send(users, item)
    Transfer.objects.filter(item=item).update(confirmed=4, in_flight=[])
    assert transfer.tick()["topped_up"] == WINDOW


@pytest.mark.parametrize(("start", "end"), [(0, 0), (0, 1000), (1500, 4321), (999, 5000)])
def test_a_range_is_read_from_the_stored_chunks_that_hold_it(db, start, end) -> None:
    data = bytes(range(256)) * 19 + b"tail"  # 4868 bytes in stored chunks of 1000
    blob, _created = blobs.store_stream(io.BytesIO(data), chunk_bytes=1000)
    assert b"".join(transfer.read_range(blob, start, end)) == data[start:end]


def test_an_item_purged_under_way_fails_its_transfer_not_the_channel(users, partner, item) -> None:
    send(users, item)
    services.purge_item(Actor.of(users[Role.INVESTIGATOR]), item, "Deletion required")

    settle(partner)  # the receipts are stored; the next chunks cannot be read

    failed = Transfer.objects.get(item=item)
    assert failed.status == TransferStatus.FAILED
    assert failed.reason.startswith("unreadable")
    assert not pending(partner)
    assert AuditEvent.objects.filter(action="evidence:transfer:failed").count() == 1
    with pytest.raises(Refused):
        send(users, item)  # a purged item is not sent again


def test_a_range_is_read_from_an_object_store_too(db, settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    data = os.urandom(5000)
    blob, _created = blobs.store_stream(io.BytesIO(data), chunk_bytes=1000)
    assert b"".join(transfer.read_range(blob, 1234, 4567)) == data[1234:4567]
