"""An evidence item arriving the bulk way, in process: the partner, played by
the test, offers it through the real inbox and sends its sealed parts as raw
bytes in signed PUTs. Parts may come in any order and more than once; one
whose bytes, signature, time, sender or transfer do not fit is refused with
a reason, audited, and changes nothing."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import TestCase
from nacl.signing import SigningKey

from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.evidence import ahead, blobs, bulk_disk, bulk_wire, inbound
from accord.evidence.models import Blob, EvidenceItem, IncomingTransfer, TransferStatus
from accord.evidence.wire import BULK_OFFER_KIND, RECEIPT_KIND
from tests.assistance.arrivals import submitted
from tests.evidence.transfer_kit import Partner
from tests.federation.test_inbox_rejections import RemotePeer

pytestmark = pytest.mark.django_db

CHUNK = 1024
DATA = bytes(range(256)) * 20 + b"the end"  # 5127 bytes: six stored chunks of 1024
REFUSED = "evidence:item:refused"


class SealedItem:
    """The partner's item as it stores it (the blob format), cut into parts of
    two stored chunks."""

    def __init__(self, data: bytes = DATA, sha256: str | None = None) -> None:
        import uuid

        self.id = str(uuid.uuid4())
        self.key = AESGCM.generate_key(bit_length=256)
        self.sha256 = sha256 or hashlib.sha256(data).hexdigest()
        self.size = len(data)
        count = blobs.chunk_count(len(data), CHUNK)
        cipher = AESGCM(self.key)
        sealed = b"".join(
            cipher.encrypt(
                blobs.nonce(i), data[i * CHUNK : (i + 1) * CHUNK], blobs.aad(i, i == count - 1)
            )
            for i in range(count)
        )
        self.part_bytes = 2 * (CHUNK + blobs.TAG_BYTES)
        self.parts = [
            sealed[i : i + self.part_bytes] for i in range(0, len(sealed), self.part_bytes)
        ]

    def offer(self, partner: Partner, request_id: str, **changes: Any) -> dict[str, Any]:
        collected = partner.record(self.id, self.sha256, "collected")
        body = {
            "item_id": self.id,
            "sha256": self.sha256,
            "size": self.size,
            "name": "phone extract.bin",
            "content_type": "application/octet-stream",
            "description": "Subscriber records",
            "request_id": request_id,
            "chunk_bytes": CHUNK,
            "key": base64.b64encode(self.key).decode(),
            "part_bytes": self.part_bytes,
            "parts": [bulk_wire.part_sha256(part, CHUNK) for part in self.parts],
            "custody": [collected.to_json()],
        }
        return body | changes


def put(
    partner: Partner,
    item: SealedItem,
    index: int,
    data: bytes | None = None,
    *,
    key: SigningKey | None = None,
    at: datetime | None = None,
    sha256: str | None = None,
) -> Any:
    """A signed PUT of part `index` (other bytes, key, time or hash on demand)."""
    body = item.parts[index] if data is None else data
    path = bulk_wire.PART_PATH.format(item=item.id, index=index)
    headers = bulk_wire.sign_request(
        key or partner.remote.signing_key,
        "PUT",
        path,
        partner.node_id,
        this_node().node_id,
        at or datetime.now(UTC),
        sha256 or bulk_wire.part_sha256(item.parts[index], CHUNK),
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        return partner.client.put(
            path,
            data=body,
            content_type="application/octet-stream",
            headers=headers,
        )


def state(partner: Partner, item: SealedItem) -> Any:
    path = bulk_wire.PARTS_PATH.format(item=item.id)
    headers = bulk_wire.sign_request(
        partner.remote.signing_key, "GET", path, partner.node_id, this_node().node_id,
        datetime.now(UTC),
    )  # fmt: skip
    return partner.client.get(path, headers=headers)


@pytest.fixture
def partner(db) -> Partner:
    return Partner(RemotePeer.create("us.provider"))


@pytest.fixture
def request_id(users, partner) -> str:
    return str(submitted(users, partner.remote.peer).pk)


def offered(partner: Partner, request_id: str, item: SealedItem | None = None) -> SealedItem:
    item = item or SealedItem()
    receipt = partner.send(BULK_OFFER_KIND, item.offer(partner, request_id))
    assert receipt["status"] == "applied", receipt
    return item


def refusals() -> list[dict[str, Any]]:
    return [event.data for event in AuditEvent.objects.filter(action=REFUSED)]


def test_parts_in_any_order_make_the_item_whole(users, partner, request_id) -> None:
    item = offered(partner, request_id)
    assert len(item.parts) == 3
    for index in (2, 0):
        assert put(partner, item, index).json()["status"] == "active"
    assert state(partner, item).json() == {"status": "active", "parts": 3, "held": "101"}

    last = put(partner, item, 1)
    assert last.status_code == 200 and last.json()["status"] == "done"
    arrived = EvidenceItem.objects.get(pk=item.id)
    plain = b"".join(blobs.read_plaintext(Blob.objects.get(pk=arrived.sha256)))
    assert plain == DATA
    assert {(e.node, e.event) for e in arrived.custody.all()} == {
        (partner.node_id, "collected"),
        (this_node().node_id, "received"),
    }
    assert partner.sent(RECEIPT_KIND)[0]["sha256"] == item.sha256
    # A late copy of a part changes nothing.
    assert put(partner, item, 0).json()["status"] == "done"
    assert EvidenceItem.objects.filter(pk=item.id).count() == 1


def test_a_part_with_other_bytes_is_refused_and_not_held(partner, request_id) -> None:
    item = offered(partner, request_id)
    wrong = put(partner, item, 0, data=b"x" * len(item.parts[0]))
    assert (wrong.status_code, wrong.json()["reason"]) == (422, "bad_part_hash")
    assert IncomingTransfer.objects.get(item_id=item.id).held == "000"
    # A request naming other bytes than the offer is refused before it is read.
    named = put(partner, item, 0, sha256="0" * 64)
    assert (named.status_code, named.json()["reason"]) == (422, "bad_part_hash")
    assert [r["reason"] for r in refusals()] == ["bad_part_hash", "bad_part_hash"]
    # The right bytes go on.
    assert put(partner, item, 0).json()["held"] == 1


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"key": SigningKey.generate()}, "bad_signature"),
        ({"at": datetime.now(UTC) - timedelta(minutes=10)}, "stale_request"),
    ],
)
def test_a_request_not_signed_now_by_the_sender_is_refused(
    partner, request_id, change, reason
) -> None:
    item = offered(partner, request_id)
    refused = put(partner, item, 0, **change)
    assert (refused.status_code, refused.json()["reason"]) == (401, reason)
    assert refusals()[-1]["reason"] == reason
    assert IncomingTransfer.objects.get(item_id=item.id).held == "000"


def test_a_part_from_another_node_or_for_no_offer_is_refused(partner, request_id) -> None:
    item = offered(partner, request_id)
    stranger = Partner(RemotePeer.create("xx.stranger"))
    # Signed by a peer, but not the one that offered the item.
    other = put(stranger, item, 0)
    assert (other.status_code, other.json()["reason"]) == (404, "unknown_transfer")
    # No offer for the item at all.
    never = put(partner, SealedItem(), 0)
    assert (never.status_code, never.json()["reason"]) == (404, "unknown_transfer")
    assert [r["reason"] for r in refusals()] == ["unknown_transfer", "unknown_transfer"]


def test_an_offer_whose_parts_do_not_fit_is_refused(partner, request_id) -> None:
    item = SealedItem()
    body = item.offer(partner, request_id, parts=item.offer(partner, request_id)["parts"][:2])
    receipt = partner.send(BULK_OFFER_KIND, body)
    assert receipt["status"] == "refused" and receipt["reason"].startswith("invalid_offer")
    assert not IncomingTransfer.objects.filter(item_id=item.id).exists()


def test_a_whole_that_does_not_match_its_hash_fails_the_transfer(
    partner, request_id, django_capture_on_commit_callbacks
) -> None:
    item = offered(partner, request_id, SealedItem(sha256="ab" * 32))
    put(partner, item, 0)
    put(partner, item, 1)
    partial = inbound.partial_path(IncomingTransfer.objects.get(item_id=item.id))
    assert partial.stat().st_size > 0
    with django_capture_on_commit_callbacks(execute=True):
        last = put(partner, item, 2)
    assert (last.status_code, last.json()["reason"]) == (422, "item_damaged")
    failed = IncomingTransfer.objects.get(item_id=item.id)
    assert (failed.status, failed.held) == (TransferStatus.FAILED, "000")
    assert not EvidenceItem.objects.filter(pk=item.id).exists()
    # The encrypted parts received go at once, not at the orphan sweep; audited.
    assert not partial.exists()
    [removed] = AuditEvent.objects.filter(action="evidence:blob:orphan", target_id=item.id)
    assert removed.data == {
        "kind": "partial",
        "peer": partner.node_id,
        "reason": "item_damaged",
        "held": 2,
        "bytes": removed.data["bytes"],
    }
    assert removed.data["bytes"] >= 2 * item.part_bytes  # the parts held, and the last one
    # Offered again, it starts over from no parts and arrives whole.
    again = put(partner, item, 0)
    assert (again.status_code, again.json()["reason"]) == (409, "not_active")


def test_parts_in_order_are_checked_as_they_come(partner, request_id) -> None:
    item = offered(partner, request_id)
    pk = IncomingTransfer.objects.get(item_id=item.id).pk
    put(partner, item, 0)
    put(partner, item, 1)
    # Decrypted and hashed already, before the last part: the final check goes on from there.
    assert ahead.advance(pk) == 2
    done = put(partner, item, 2)
    assert done.json()["status"] == "done"
    assert EvidenceItem.objects.get(pk=item.id).sha256 == item.sha256


def test_a_part_that_does_not_authenticate_is_refused_as_it_comes(partner, request_id) -> None:
    item = offered(partner, request_id)
    good = item.parts[1]
    # Its tags are the ones the offer names, but its first chunk's bytes are not
    # the sender's: that chunk does not authenticate under the offer's key.
    forged = bytes(CHUNK) + good[CHUNK:]
    put(partner, item, 0)
    refused = put(partner, item, 1, forged)
    assert (refused.status_code, refused.json()["reason"]) == (422, "bad_part_hash")
    assert IncomingTransfer.objects.get(item_id=item.id).held == "100"
    # The part as the sender stores it is taken, and the item arrives whole.
    assert put(partner, item, 1).status_code == 200
    assert put(partner, item, 2).json()["status"] == "done"
    plain = b"".join(blobs.read_plaintext(Blob.objects.get(pk=item.sha256)))
    assert plain == DATA


@pytest.mark.skipif(not bulk_disk.current_boot(), reason="no boot id to tell a restart by")
def test_parts_lost_in_a_restart_of_the_machine_are_asked_for_again(partner, request_id) -> None:
    item = offered(partner, request_id)
    put(partner, item, 0)
    put(partner, item, 1)
    incoming = IncomingTransfer.objects.get(item_id=item.id)
    # Held without an fsync of their own: the row says under which boot.
    assert (incoming.held, incoming.unsynced_boot) == ("110", bulk_disk.current_boot())
    # The machine stopped before part 1 reached the disk, and started again.
    with inbound.partial_path(incoming).open("r+b") as handle:
        handle.seek(item.part_bytes)
        handle.write(bytes(item.part_bytes))
    IncomingTransfer.objects.filter(pk=incoming.pk).update(unsynced_boot="an-earlier-boot")
    ahead.forget(incoming.pk)
    # Asked what it holds, the receiver checks the parts held again on disk first.
    assert state(partner, item).json()["held"] == "100"
    [lost] = AuditEvent.objects.filter(action="evidence:transfer:parts-lost", target_id=item.id)
    assert lost.data == {"peer": partner.node_id, "parts": [1], "lost": 1}
    assert IncomingTransfer.objects.get(pk=incoming.pk).unsynced_boot == ""
    # The sender sends it again, and the item arrives whole.
    assert put(partner, item, 1).json()["held"] == 2
    assert put(partner, item, 2).json()["status"] == "done"
    assert b"".join(blobs.read_plaintext(Blob.objects.get(pk=item.sha256))) == DATA


def test_parts_held_survive_a_killed_node_without_a_check(partner, request_id) -> None:
    item = offered(partner, request_id)
    put(partner, item, 0)
    ahead.forget(IncomingTransfer.objects.get(item_id=item.id).pk)  # a new process
    # Same boot: what the kernel had is still there, nothing is checked again.
    assert state(partner, item).json()["held"] == "100"
    assert not AuditEvent.objects.filter(action="evidence:transfer:parts-lost").exists()


def test_chunks_hashed_as_they_came_count_only_once_their_part_is_held(partner, request_id) -> None:
    """A part's first chunk arrives where the check stands and is hashed as it
    comes; the part is then refused (its second chunk does not authenticate).
    The sender, who holds the key, could have sent other bytes that
    authenticate: what was hashed is forgotten, and the part as it is finally
    held is what the item is checked against."""
    item = offered(partner, request_id)
    put(partner, item, 0)
    pk = IncomingTransfer.objects.get(item_id=item.id).pk
    assert ahead.advance(pk) == 1
    # Chunk 2 (the first of part 1) made by the key holder from other bytes,
    # then a chunk that does not authenticate.
    other = AESGCM(item.key).encrypt(blobs.nonce(2), b"x" * CHUNK, blobs.aad(2, False))
    refused = put(partner, item, 1, other + bytes(CHUNK + blobs.TAG_BYTES))
    assert (refused.status_code, refused.json()["reason"]) == (422, "bad_part_hash")
    assert put(partner, item, 1).status_code == 200
    assert put(partner, item, 2).json()["status"] == "done"
    plain = b"".join(blobs.read_plaintext(Blob.objects.get(pk=item.sha256)))
    assert plain == DATA


def test_a_part_far_ahead_of_the_check_waits_for_it_and_never_for_long(
    partner, request_id, monkeypatch
) -> None:
    """keep_pace: while a checker thread works, a part stored more than
    AHEAD_PARTS parts beyond the check is answered once the check catches up;
    if it does not, after PACE_SECONDS; and at once when no checker runs."""
    import threading
    import time

    item = offered(partner, request_id)
    incoming = IncomingTransfer.objects.get(item_id=item.id)
    progress = ahead._for(incoming)
    far = ahead.AHEAD_PARTS + 2
    started = time.monotonic()
    ahead.keep_pace(incoming, far)
    assert time.monotonic() - started < 1  # no checker thread: at once
    monkeypatch.setattr(ahead, "PACE_SECONDS", 0.3)
    ahead._running.add(incoming.pk)
    try:
        started = time.monotonic()
        ahead.keep_pace(incoming, far)
        assert time.monotonic() - started >= 0.3  # nothing moved: waited, but not for ever
        monkeypatch.setattr(ahead, "PACE_SECONDS", 30)

        def catch_up() -> None:
            time.sleep(0.2)
            progress.chunks = 2 * 2  # two parts of two chunks checked
            ahead._moved(progress)

        mover = threading.Thread(target=catch_up)
        mover.start()
        started = time.monotonic()
        ahead.keep_pace(incoming, far)
        mover.join()
        assert 0.1 < time.monotonic() - started < 10  # answered as soon as the check moved
    finally:
        ahead._running.discard(incoming.pk)
        ahead.forget(incoming.pk)


def test_after_the_final_check_a_late_checker_does_not_start_over(partner, request_id) -> None:
    item = offered(partner, request_id)
    pk = IncomingTransfer.objects.get(item_id=item.id).pk
    put(partner, item, 0)
    put(partner, item, 1)
    incoming = IncomingTransfer.objects.get(pk=pk)
    with ahead.taken(incoming) as (_digest, _size, first):
        assert first == 4  # two parts checked as they came
        # A checker thread woken by an earlier part, late: the transfer is
        # still active, but the check is the final one's now.
        assert ahead.advance(pk) == 0
        assert ahead._for(incoming).closed
    assert put(partner, item, 2).json()["status"] == "done"
    assert ahead.advance(pk) == 0
    assert pk not in ahead._progress  # nothing left behind
