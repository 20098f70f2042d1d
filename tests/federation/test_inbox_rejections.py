"""The inbox's rules (DESIGN.md, Federation protocol v1, "Inbox"): what it
applies and receipts, what it rejects before applying (a clear 4xx with a
machine-readable reason, counted per reason and address rather than kept or
audited one by one, the seq left unconsumed), and what it refuses for its
content (the seq consumed, a signed negative receipt, nothing applied, and the
channel not blocked)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, override_settings
from nacl.public import Box, PrivateKey, PublicKey
from nacl.signing import SigningKey
from nacl.utils import random as random_bytes
from uuid6 import uuid7

from accord.core.identity import key_fingerprint, this_node
from accord.core.models import AuditEvent, FailureTally
from accord.federation import kinds
from accord.federation.envelope import (
    ENVELOPE_FIELDS,
    Envelope,
    b64encode,
    format_time,
    seal_body,
    verify_receipt,
)
from accord.federation.models import InboxMessage, MessageStatus, Note, Peer

pytestmark = pytest.mark.django_db

INBOX = "/federation/v1/inbox"
PEER_ID = "zz.peer"
PING_KIND = "core.ping"
NOTE_KIND = "core.note"
PING = {"n": 0, "padding": ""}
NOTE = {"subject": "Case A-17", "text": "Please check.", "language": "en", "author": "Officer"}
REJECT = "federation:inbox:reject"
REFUSE = "federation:inbox:refuse"
APPLY = "federation:inbox:apply"


# ---------------------------------------------------------------- a remote peer


@dataclass
class RemotePeer:
    """A peer node played by the test: its own keys, pinned here as a Peer row."""

    node_id: str
    signing_key: SigningKey
    encryption_key: PrivateKey
    peer: Peer

    @classmethod
    def create(cls, node_id: str = PEER_ID) -> RemotePeer:
        signing, encryption = SigningKey.generate(), PrivateKey.generate()
        signing_public = bytes(signing.verify_key)
        peer = Peer.objects.create(
            node_id=node_id,
            url="http://127.0.0.1:9",
            party="Peerland",
            agency="Peer Agency",
            signing_key=b64encode(signing_public),
            encryption_key=b64encode(bytes(encryption.public_key)),
            fingerprint=key_fingerprint(signing_public),
        )
        return cls(node_id, signing, encryption, peer)

    def seal(self, body: dict[str, Any]) -> str:
        return seal_body(body, self.encryption_key, this_node().encryption_public)

    def envelope(
        self,
        seq: int,
        body: dict[str, Any] | None = None,
        *,
        kind: str = PING_KIND,
        message_id: str | None = None,
        ciphertext: str | None = None,
        recipient: str | None = None,
        sent_at: datetime | None = None,
        in_reply_to: str | None = None,
    ) -> Envelope:
        return Envelope(
            id=message_id or str(uuid7()),
            kind=kind,
            sender=self.node_id,
            recipient=recipient or this_node().node_id,
            seq=seq,
            sent_at=format_time(sent_at or datetime.now(UTC)),
            in_reply_to=in_reply_to,
            body=ciphertext if ciphertext is not None else self.seal(body or PING),
        ).signed(self.signing_key)

    def next_in_seq(self) -> int:
        return Peer.objects.get(pk=self.peer.pk).next_in_seq


def batch(*envelopes: Envelope | dict[str, Any]) -> dict[str, Any]:
    return {"envelopes": [e.as_dict() if isinstance(e, Envelope) else e for e in envelopes]}


def check_receipt(receipt: Any, envelope: Envelope, status: str = "applied") -> None:
    """The receipt is this node's signature over exactly this message."""
    verify_receipt(
        receipt,
        message_id=envelope.id,
        sender=envelope.sender,
        recipient=envelope.recipient,
        seq=envelope.seq,
        body_hash=envelope.body_sha256,
        keys=[this_node().signing_public],
    )
    assert receipt["status"] == status


@dataclass(frozen=True)
class Snapshot:
    inbox: int
    notes: int
    next_in_seq: int
    rejections: int
    reject_events: int


def rejections_counted() -> int:
    return sum(FailureTally.objects.filter(channel="inbox").values_list("count", flat=True))


def last_rejection() -> FailureTally:
    row = FailureTally.objects.filter(channel="inbox").order_by("-last_at", "-pk").first()
    assert row is not None
    return row


def snapshot(remote: RemotePeer) -> Snapshot:
    return Snapshot(
        inbox=InboxMessage.objects.count(),
        notes=Note.objects.count(),
        next_in_seq=remote.next_in_seq(),
        rejections=rejections_counted(),
        reject_events=AuditEvent.objects.filter(action=REJECT).count(),
    )


def assert_rejected(
    response: HttpResponse,
    status: int,
    reason: str,
    remote: RemotePeer,
    before: Snapshot,
    *,
    receipts: list | None = None,
) -> dict[str, Any]:
    """A clear 4xx with its reason, counted (not a row and an audit event
    each), and nothing applied: no inbox row, no note, the seq not consumed."""
    assert response.status_code == status, response.content
    answer = response.json()
    assert answer["error"]["reason"] == reason, answer
    assert answer["receipts"] == (receipts or [])
    after = snapshot(remote)
    assert (after.inbox, after.notes, after.next_in_seq) == (
        before.inbox,
        before.notes,
        before.next_in_seq,
    )
    assert after.rejections == before.rejections + 1
    assert after.reject_events == before.reject_events
    assert last_rejection().reason == reason
    return answer


def assert_refused(
    response: HttpResponse, envelope: Envelope, reason_prefix: str, before: Snapshot
) -> InboxMessage:
    """Authentic and in order but refused for its content: a signed negative
    receipt, the seq consumed, nothing else applied, no rejection recorded."""
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["error"] is None
    [receipt] = answer["receipts"]
    check_receipt(receipt, envelope, status="refused")
    assert receipt["reason"].startswith(reason_prefix), receipt["reason"]
    message = InboxMessage.objects.get(pk=envelope.id)
    assert message.status == MessageStatus.REFUSED
    assert message.seq == envelope.seq
    assert message.refusal_reason == receipt["reason"]
    assert message.receipt == receipt
    assert Note.objects.count() == before.notes
    assert rejections_counted() == before.rejections
    event = AuditEvent.objects.filter(action=REFUSE).order_by("-seq").first()
    assert event is not None and event.target_id == envelope.id
    return message


@pytest.fixture
def remote(db) -> RemotePeer:
    return RemotePeer.create()


@pytest.fixture
def post(client: Client, django_capture_on_commit_callbacks) -> Callable[..., HttpResponse]:
    """POST to the inbox and run what the inbox defers to its commit (the
    rejection records), as a real request's commit would."""

    def send(payload: Any = None, *, raw: bytes | None = None) -> HttpResponse:
        data = raw if raw is not None else json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(INBOX, data=data, content_type="application/json")

    return send


# ---------------------------------------------------------------- accepted


def test_a_batch_of_three_pings_is_applied_with_signed_receipts(remote, post):
    envelopes = [remote.envelope(seq, {"n": seq, "padding": ""}) for seq in (1, 2, 3)]

    response = post(batch(*envelopes))

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["error"] is None and answer["duplicates"] == []
    assert len(answer["receipts"]) == 3
    for receipt, envelope in zip(answer["receipts"], envelopes, strict=True):
        check_receipt(receipt, envelope)
        assert receipt["message_id"] == envelope.id
        assert receipt["seq"] == envelope.seq
        assert receipt["body_sha256"] == envelope.body_sha256
        assert receipt["kind"] == PING_KIND and receipt["reason"] is None
    rows = list(InboxMessage.objects.filter(peer=remote.peer).order_by("seq"))
    assert [row.seq for row in rows] == [1, 2, 3]
    assert [str(row.id) for row in rows] == [e.id for e in envelopes]
    assert all(row.status == MessageStatus.APPLIED for row in rows)
    assert [row.receipt for row in rows] == answer["receipts"]
    assert remote.next_in_seq() == 4
    assert AuditEvent.objects.filter(action=APPLY).count() == 3
    assert rejections_counted() == 0


def test_a_note_is_applied_as_an_incoming_note(remote, post):
    envelope = remote.envelope(1, NOTE, kind=NOTE_KIND)

    response = post(batch(envelope))

    assert response.status_code == 200, response.content
    check_receipt(response.json()["receipts"][0], envelope)
    note = Note.objects.get()
    assert note.direction == Note.Direction.IN
    assert note.peer == remote.peer
    assert str(note.message_id) == envelope.id
    assert (note.subject, note.text, note.language, note.author_name) == (
        NOTE["subject"],
        NOTE["text"],
        NOTE["language"],
        NOTE["author"],
    )
    assert note.author is None


def test_a_clock_skew_inside_the_replay_window_is_accepted(remote, post):
    window = settings.FEDERATION_REPLAY_WINDOW_SECONDS
    behind = remote.envelope(1, sent_at=datetime.now(UTC) - timedelta(seconds=window - 30))
    ahead = remote.envelope(2, sent_at=datetime.now(UTC) + timedelta(seconds=window - 30))

    response = post(batch(behind, ahead))

    assert response.status_code == 200, response.content
    assert remote.next_in_seq() == 3


def test_the_inbox_refuses_get(db, client):
    response = client.get(INBOX)

    assert response.status_code == 405


def test_the_inbox_needs_no_csrf_token(remote, django_capture_on_commit_callbacks):
    strict = Client(enforce_csrf_checks=True)
    envelope = remote.envelope(1)

    with django_capture_on_commit_callbacks(execute=True):
        response = strict.post(
            INBOX, data=json.dumps(batch(envelope)), content_type="application/json"
        )

    assert response.status_code == 200, response.content
    check_receipt(response.json()["receipts"][0], envelope)


# ---------------------------------------------------------------- rejected: authenticity


def _flip_first_byte(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 0x01
    return b64encode(bytes(raw))


def test_it_rejects_a_tampered_signature(remote, post):
    envelope = remote.envelope(1)
    document = {**envelope.as_dict(), "sig": _flip_first_byte(envelope.sig)}
    before = snapshot(remote)

    response = post(batch(document))

    assert_rejected(response, 403, "bad_signature", remote, before)
    rejection = last_rejection()
    # The envelope says it is from PEER_ID, but nothing proved it.
    assert (rejection.verified_as, rejection.address, rejection.count) == ("", "127.0.0.1", 1)


def test_it_rejects_a_signature_by_a_key_that_is_not_pinned(remote, post):
    impostor = RemotePeer(PEER_ID, SigningKey.generate(), remote.encryption_key, remote.peer)
    before = snapshot(remote)

    response = post(batch(impostor.envelope(1)))

    assert_rejected(response, 403, "bad_signature", remote, before)


def test_it_rejects_a_ciphertext_changed_after_signing(remote, post):
    envelope = remote.envelope(1, NOTE, kind=NOTE_KIND)
    forged = remote.seal({**NOTE, "text": "Transfer the funds."})
    before = snapshot(remote)

    response = post(batch({**envelope.as_dict(), "body": forged}))

    assert_rejected(response, 403, "bad_signature", remote, before)


@pytest.mark.parametrize(
    "field, value",
    [
        ("kind", NOTE_KIND),
        ("sent_at", format_time(datetime(2030, 1, 1, tzinfo=UTC))),
        ("in_reply_to", "0190c1d2-0000-7000-8000-000000000000"),
        ("recipient", "yy.other"),
        ("id", "0190c1d2-0000-7000-8000-000000000001"),
    ],
)
def test_it_rejects_any_field_changed_after_signing(remote, post, field, value):
    envelope = remote.envelope(1)
    before = snapshot(remote)

    response = post(batch({**envelope.as_dict(), field: value}))

    assert_rejected(response, 403, "bad_signature", remote, before)


def test_it_rejects_an_envelope_for_another_node(remote, post):
    envelope = remote.envelope(1, recipient="yy.other")
    before = snapshot(remote)

    response = post(batch(envelope))

    answer = assert_rejected(response, 421, "wrong_recipient", remote, before)
    assert answer["error"]["index"] == 0


def test_it_rejects_an_unknown_sender(remote, post):
    stranger = RemotePeer("qq.unknown", SigningKey.generate(), PrivateKey.generate(), remote.peer)
    before = snapshot(remote)

    response = post(batch(stranger.envelope(1)))

    assert_rejected(response, 403, "unknown_sender", remote, before)
    assert last_rejection().verified_as == ""


def test_it_rejects_a_removed_peer_as_unknown(remote, post):
    Peer.objects.filter(pk=remote.peer.pk).update(active=False)
    before = snapshot(remote)

    response = post(batch(remote.envelope(1)))

    assert_rejected(response, 403, "unknown_sender", remote, before)


# ---------------------------------------------------------------- rejected: replay and order


def test_it_rejects_a_replay_older_than_the_window(remote, post):
    window = settings.FEDERATION_REPLAY_WINDOW_SECONDS
    envelope = remote.envelope(1, sent_at=datetime.now(UTC) - timedelta(seconds=window + 60))
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_rejected(response, 400, "stale", remote, before)


def test_it_rejects_a_sent_at_far_in_the_future(remote, post):
    window = settings.FEDERATION_REPLAY_WINDOW_SECONDS
    envelope = remote.envelope(1, sent_at=datetime.now(UTC) + timedelta(seconds=window + 60))
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_rejected(response, 400, "stale", remote, before)


def test_an_old_applied_envelope_replayed_later_is_rejected_as_stale(remote, post):
    window = settings.FEDERATION_REPLAY_WINDOW_SECONDS
    old = remote.envelope(1, sent_at=datetime.now(UTC) - timedelta(seconds=window - 5))
    assert post(batch(old)).status_code == 200
    replay = {**old.as_dict()}
    before = snapshot(remote)

    with override_settings(FEDERATION_REPLAY_WINDOW_SECONDS=window - 60):
        response = post(batch(replay))

    assert_rejected(response, 400, "stale", remote, before)
    assert InboxMessage.objects.count() == 1


def test_a_resent_envelope_is_a_duplicate_answered_with_the_original_receipt(remote, post):
    envelope = remote.envelope(1)
    first = post(batch(envelope))
    assert first.status_code == 200
    original = first.json()["receipts"][0]
    before = snapshot(remote)

    response = post(batch(envelope))

    answer = assert_rejected(response, 409, "duplicate", remote, before, receipts=[original])
    assert answer["duplicates"] == [envelope.id]
    assert answer["error"]["ids"] == [envelope.id]
    check_receipt(answer["receipts"][0], envelope)
    assert InboxMessage.objects.filter(pk=envelope.id).count() == 1
    assert remote.next_in_seq() == 2


def test_a_retransmission_signed_again_later_is_a_duplicate_too(remote, post):
    """The deliverer signs each attempt with a fresh sent_at: same id, seq and
    ciphertext, different signature bytes."""
    envelope = remote.envelope(1)
    original = post(batch(envelope)).json()["receipts"][0]
    again = remote.envelope(
        1,
        message_id=envelope.id,
        ciphertext=envelope.body,
        sent_at=datetime.now(UTC) + timedelta(seconds=5),
    )
    assert again.sig != envelope.sig
    before = snapshot(remote)

    response = post(batch(again))

    assert_rejected(response, 409, "duplicate", remote, before, receipts=[original])


@pytest.mark.parametrize("change", ["body", "seq", "kind"])
def test_an_id_reused_for_a_different_message_is_rejected(remote, post, change):
    envelope = remote.envelope(1)
    first = post(batch(envelope))
    assert first.status_code == 200
    original_hash = envelope.body_sha256
    if change == "body":
        reused = remote.envelope(2, {"n": 99, "padding": ""}, message_id=envelope.id)
    elif change == "seq":
        reused = remote.envelope(2, message_id=envelope.id, ciphertext=envelope.body)
    else:
        reused = remote.envelope(
            1, NOTE, kind=NOTE_KIND, message_id=envelope.id, ciphertext=remote.seal(NOTE)
        )
    before = snapshot(remote)

    response = post(batch(reused))

    answer = assert_rejected(response, 409, "duplicate", remote, before)
    assert answer["duplicates"] == []
    message = InboxMessage.objects.get()
    assert str(message.id) == envelope.id and message.body_sha256 == original_hash
    assert Note.objects.count() == 0


def test_a_gap_in_seq_is_rejected_with_the_expected_seq(remote, post):
    before = snapshot(remote)

    response = post(batch(remote.envelope(2)))

    answer = assert_rejected(response, 409, "out_of_order", remote, before)
    assert answer["error"]["expected_seq"] == 1
    assert last_rejection().verified_as == PEER_ID  # its signature verified


def test_a_gap_after_applied_messages_names_the_next_seq(remote, post):
    assert post(batch(remote.envelope(1), remote.envelope(2))).status_code == 200
    before = snapshot(remote)

    response = post(batch(remote.envelope(4)))

    answer = assert_rejected(response, 409, "out_of_order", remote, before)
    assert answer["error"]["expected_seq"] == 3


def test_a_seq_already_consumed_by_another_message_is_out_of_order(remote, post):
    assert post(batch(remote.envelope(1))).status_code == 200
    before = snapshot(remote)

    response = post(batch(remote.envelope(1, {"n": 7, "padding": ""})))

    answer = assert_rejected(response, 409, "out_of_order", remote, before)
    assert answer["error"]["expected_seq"] == 2


def test_a_batch_stops_at_the_first_envelope_it_cannot_apply(remote, post):
    """Messages before the failure are applied and receipted; the failure and
    everything after it are not, and the sender learns where to resume."""
    first, second, third = (remote.envelope(seq) for seq in (1, 2, 3))
    bad = {**second.as_dict(), "sig": _flip_first_byte(second.sig)}

    response = post(batch(first, bad, third))

    assert response.status_code == 403
    answer = response.json()
    assert answer["error"]["reason"] == "bad_signature" and answer["error"]["index"] == 1
    [receipt] = answer["receipts"]
    check_receipt(receipt, first)
    assert list(InboxMessage.objects.values_list("seq", flat=True)) == [1]
    assert remote.next_in_seq() == 2
    assert last_rejection().reason == "bad_signature"


# ---------------------------------------------------------------- rejected: structure


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"envelopes": [', b"NaN"],
    ids=["syntax", "empty", "not-utf8", "truncated", "nan"],
)
def test_it_rejects_a_request_that_is_not_json(remote, post, raw):
    before = snapshot(remote)

    response = post(raw=raw)

    assert_rejected(response, 400, "malformed", remote, before)
    assert last_rejection().verified_as == ""


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {},
        "envelopes",
        None,
        {"envelopes": []},
        {"envelopes": {}},
        {"envelopes": "x"},
        {"envelope": [{}]},
    ],
    ids=["list", "empty-object", "string", "null", "no-envelopes", "object", "text", "misnamed"],
)
def test_it_rejects_a_batch_that_is_not_a_list_of_envelopes(remote, post, payload):
    before = snapshot(remote)

    response = post(payload)

    assert_rejected(response, 400, "malformed", remote, before)


def test_it_rejects_a_bare_envelope_outside_a_batch(remote, post):
    before = snapshot(remote)

    response = post(remote.envelope(1).as_dict())

    assert_rejected(response, 400, "malformed", remote, before)


@pytest.mark.parametrize("missing", [*ENVELOPE_FIELDS, "sig"])
def test_it_rejects_an_envelope_missing_a_field(remote, post, missing):
    document = remote.envelope(1).as_dict()
    del document[missing]
    before = snapshot(remote)

    response = post(batch(document))

    assert_rejected(response, 400, "malformed", remote, before)


@pytest.mark.parametrize(
    "field, value",
    [
        ("extra", "field"),
        ("seq", "1"),
        ("seq", 0),
        ("seq", -1),
        ("seq", True),
        ("seq", 1.0),
        ("id", ""),
        ("kind", 7),
        ("sender", None),
        ("body", ""),
        ("sig", ""),
        ("sent_at", "2025-01-01 00:00:00"),
        ("in_reply_to", 12),
    ],
)
def test_it_rejects_an_envelope_with_a_bad_field(remote, post, field, value):
    document = {**remote.envelope(1).as_dict(), field: value}
    before = snapshot(remote)

    response = post(batch(document))

    assert_rejected(response, 400, "malformed", remote, before)


def test_it_rejects_an_unsupported_protocol_version(remote, post):
    document = {**remote.envelope(1).as_dict(), "v": 2}
    before = snapshot(remote)

    response = post(batch(document))

    assert_rejected(response, 400, "unsupported_version", remote, before)


def test_it_rejects_a_signed_envelope_whose_id_is_not_a_uuid(remote, post):
    """The id is a UUID (DESIGN.md: `id (UUIDv7)`); anything else is malformed,
    not a server error."""
    envelope = remote.envelope(1, message_id="not-a-uuid")
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_rejected(response, 400, "malformed", remote, before)


def test_it_rejects_a_signed_envelope_whose_in_reply_to_is_not_a_uuid(remote, post):
    envelope = remote.envelope(1, in_reply_to="not-a-uuid")
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_rejected(response, 400, "malformed", remote, before)


def test_an_id_spelled_in_upper_case_is_still_recognised_when_resent(remote, post):
    """A UUID may be spelled in upper case by another implementation: either
    the inbox refuses that spelling up front, or a resend of the message is
    the duplicate it is (never out_of_order, which would block the channel)."""
    envelope = remote.envelope(1, message_id=str(uuid7()).upper())
    first = post(batch(envelope))
    if first.status_code == 400:
        assert first.json()["error"]["reason"] == "malformed"
        return
    assert first.status_code == 200, first.content
    original = first.json()["receipts"][0]
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_rejected(response, 409, "duplicate", remote, before, receipts=[original])


@pytest.mark.parametrize("seq", [2**53, 2**63], ids=["beyond-json-safe", "beyond-bigint"])
def test_it_rejects_a_seq_too_large_to_be_real(remote, post, seq):
    """A seq beyond the safe JSON integer range cannot even be canonicalised
    (RFC 8785); it is a clear 4xx, recorded, never a server error."""
    document = {**remote.envelope(1).as_dict(), "seq": seq}
    before = snapshot(remote)

    response = post(batch(document))

    assert_rejected(response, 400, "malformed", remote, before)


def test_it_rejects_an_unknown_sender_with_a_huge_seq(remote, post):
    """Structure is checked before the sender, and the rejection is recorded
    even though its seq would not fit the log's integer column."""
    stranger = RemotePeer("qq.unknown", SigningKey.generate(), PrivateKey.generate(), remote.peer)
    document = {**stranger.envelope(1).as_dict(), "seq": 2**63}
    before = snapshot(remote)

    response = post(batch(document))

    assert_rejected(response, 400, "malformed", remote, before)


# ---------------------------------------------------------------- rejected: size


def test_it_rejects_a_body_over_the_size_limit(remote, post):
    envelope = remote.envelope(1, {"n": 0, "padding": "x" * 2000})
    size = len(envelope.body)
    before = snapshot(remote)

    with override_settings(FEDERATION_MAX_BODY_BYTES=size - 1):
        response = post(batch(envelope))

    assert_rejected(response, 413, "too_large", remote, before)


def test_a_body_exactly_at_the_size_limit_is_accepted(remote, post):
    envelope = remote.envelope(1, {"n": 0, "padding": "x" * 2000})

    with override_settings(FEDERATION_MAX_BODY_BYTES=len(envelope.body)):
        response = post(batch(envelope))

    assert response.status_code == 200, response.content


def test_it_rejects_a_request_over_the_size_limit(remote, post):
    envelopes = [remote.envelope(seq, {"n": seq, "padding": "x" * 1500}) for seq in (1, 2, 3)]
    before = snapshot(remote)

    with override_settings(FEDERATION_MAX_REQUEST_BYTES=4096):
        response = post(batch(*envelopes))

    assert_rejected(response, 413, "too_large", remote, before)


def test_it_rejects_a_batch_with_too_many_envelopes(remote, post):
    envelopes = [remote.envelope(seq) for seq in (1, 2, 3)]
    before = snapshot(remote)

    with override_settings(FEDERATION_MAX_BATCH=2):
        response = post(batch(*envelopes))

    assert_rejected(response, 413, "too_large", remote, before)


# ---------------------------------------------------------------- refused for content


def _assert_channel_moves_on(remote: RemotePeer, post, seq: int) -> None:
    """One bad message never blocks the channel: the next seq is accepted."""
    following = remote.envelope(seq)
    response = post(batch(following))
    assert response.status_code == 200, response.content
    check_receipt(response.json()["receipts"][0], following)
    assert remote.next_in_seq() == seq + 1


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in NOTE.items() if k != "text"},
        {**NOTE, "priority": "high"},
        {**NOTE, "language": "fr"},
        {**NOTE, "subject": ""},
        {**NOTE, "text": 42},
        {"n": 0, "padding": ""},
    ],
    ids=["missing-text", "extra-field", "bad-language", "empty-subject", "wrong-type", "a-ping"],
)
def test_a_body_that_fails_its_schema_is_refused_and_consumes_its_seq(remote, post, body):
    envelope = remote.envelope(1, body, kind=NOTE_KIND)
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_refused(response, envelope, "invalid_body", before)
    assert remote.next_in_seq() == 2
    _assert_channel_moves_on(remote, post, 2)


def test_a_body_that_is_not_json_is_refused(remote, post):
    sealed = Box(remote.encryption_key, PublicKey(this_node().encryption_public)).encrypt(
        b"not json at all"
    )
    envelope = remote.envelope(1, kind=NOTE_KIND, ciphertext=b64encode(bytes(sealed)))
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_refused(response, envelope, "invalid_body", before)
    _assert_channel_moves_on(remote, post, 2)


def test_an_unknown_kind_is_refused_and_consumes_its_seq(remote, post):
    envelope = remote.envelope(1, {"anything": True}, kind="zz.unheard-of")
    before = snapshot(remote)

    response = post(batch(envelope))

    message = assert_refused(response, envelope, "unknown_kind", before)
    assert "zz.unheard-of" in message.refusal_reason
    _assert_channel_moves_on(remote, post, 2)


def test_a_signed_envelope_with_garbage_ciphertext_is_refused(remote, post):
    envelope = remote.envelope(1, kind=NOTE_KIND, ciphertext=b64encode(random_bytes(96)))
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_refused(response, envelope, "undecryptable", before)
    _assert_channel_moves_on(remote, post, 2)


def test_a_body_encrypted_to_another_node_is_refused_as_undecryptable(remote, post):
    elsewhere = bytes(PrivateKey.generate().public_key)
    ciphertext = seal_body(NOTE, remote.encryption_key, elsewhere)
    envelope = remote.envelope(1, kind=NOTE_KIND, ciphertext=ciphertext)
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_refused(response, envelope, "undecryptable", before)
    _assert_channel_moves_on(remote, post, 2)


def test_a_signed_body_that_is_not_base64_is_rejected(remote, post):
    """The envelope's structure is checked first: a body that is not base64 is
    malformed, whoever signed it, and consumes no seq."""
    envelope = remote.envelope(1, kind=NOTE_KIND, ciphertext="*** not base64 ***")
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_rejected(response, 400, "malformed", remote, before)


def test_a_signed_body_with_non_ascii_characters_is_refused(remote, post):
    """Base64 is ASCII; a signed body that is not is either rejected up front as
    malformed or refused like any other body that does not open: never a
    server error, which the sender would retry for ever."""
    envelope = remote.envelope(1, kind=NOTE_KIND, ciphertext="é" * 40)
    before = snapshot(remote)

    response = post(batch(envelope))

    if response.status_code == 400:
        assert_rejected(response, 400, "malformed", remote, before)
        return
    assert_refused(response, envelope, "malformed", before)
    _assert_channel_moves_on(remote, post, 2)


def test_a_refused_message_does_not_block_the_rest_of_its_batch(remote, post):
    bad = remote.envelope(1, {**NOTE, "priority": "high"}, kind=NOTE_KIND)
    good = remote.envelope(2, NOTE, kind=NOTE_KIND)

    response = post(batch(bad, good))

    assert response.status_code == 200, response.content
    refused, applied = response.json()["receipts"]
    check_receipt(refused, bad, status="refused")
    check_receipt(applied, good, status="applied")
    assert [str(n.message_id) for n in Note.objects.all()] == [good.id]
    assert remote.next_in_seq() == 3


def test_a_refused_message_resent_gets_its_negative_receipt_again(remote, post):
    envelope = remote.envelope(1, {"subject": "no text"}, kind=NOTE_KIND)
    original = post(batch(envelope)).json()["receipts"][0]
    assert original["status"] == "refused"
    before = snapshot(remote)

    response = post(batch(envelope))

    assert_rejected(response, 409, "duplicate", remote, before, receipts=[original])


@pytest.mark.parametrize(
    "failure, reason",
    [(kinds.Refusal("business_rule: no"), "business_rule: no"), (RuntimeError("bug"), None)],
    ids=["refusal", "crash"],
)
def test_a_handler_failing_half_way_leaves_nothing_applied(
    remote, post, monkeypatch, failure, reason
):
    """Nothing is half-applied: what a handler wrote before failing is rolled
    back, and the message is still receipted (refused) so the channel goes on."""

    def half_then_fail(context: kinds.InboundContext, body: Any) -> None:
        Note.objects.create(
            direction=Note.Direction.IN,
            peer=context.peer,
            message_id=context.message_id,
            author_name="x",
            subject="half",
            text="half",
            language="en",
        )
        raise failure

    schema = kinds.get(PING_KIND).schema
    monkeypatch.setitem(kinds._REGISTRY, "zz.half", kinds.Kind("zz.half", schema, half_then_fail))
    envelope = remote.envelope(1, kind="zz.half")
    before = snapshot(remote)

    response = post(batch(envelope))

    message = assert_refused(response, envelope, reason or "internal_error", before)
    assert message.refusal_reason == (reason or "internal_error")
    assert Note.objects.count() == 0
    _assert_channel_moves_on(remote, post, 2)
