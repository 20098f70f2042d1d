"""The recovery step after a restore, in process (docs/protocol.md, section
16): the restored node's side with the peer's answers played by the test, and
the answering side through its endpoint. The live drill is test_recovery.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import transaction
from django.test import Client

from accord.core.identity import this_node
from accord.core.models import AuditEvent, FailureTally
from accord.federation import outbox, recovery
from accord.federation.envelope import (
    Envelope,
    format_time,
    make_receipt,
    seal_body,
    sign_document,
    verify_document,
)
from accord.federation.models import ChannelRecovery, InboxMessage, Note, OutboxMessage, Peer
from accord.federation.wire import PingBody
from tests.federation.test_inbox_rejections import NOTE, RemotePeer, batch

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)


def own_envelope(remote: RemotePeer, seq: int, kind: str, body: dict[str, Any]) -> Envelope:
    """An envelope this node sent to `remote` (before the disaster)."""
    node = this_node()
    return Envelope(
        id=str(uuid4()),
        kind=kind,
        sender=node.node_id,
        recipient=remote.node_id,
        seq=seq,
        sent_at=format_time(NOW),
        in_reply_to=None,
        body=seal_body(body, node.encryption_key, bytes(remote.encryption_key.public_key)),
    ).signed(node.signing_key)


def held(remote: RemotePeer, envelope: Envelope) -> dict[str, Any]:
    """What the peer keeps of it: the envelope and the receipt it signed."""
    receipt = make_receipt(envelope, "applied", None, NOW, remote.signing_key)
    return {"envelope": envelope.as_dict(), "receipt": receipt}


def test_a_restored_node_learns_what_it_sent_and_takes_what_it_missed(monkeypatch):
    remote = RemotePeer.create()
    # The back-up: this node had sent seqs 1-2 and received nothing.
    Peer.objects.filter(pk=remote.peer.pk).update(next_out_seq=3)
    ChannelRecovery.objects.create(peer=remote.peer, out_seq_at_restore=3)
    # Since the restore, a local change queued a message (it waits).
    with transaction.atomic():
        queued = outbox.enqueue(remote.peer, "core.ping", PingBody(n=7))
    assert queued.seq == 3

    # After the back-up this node sent seqs 3 (a note) and 4, which the peer applied.
    sent_note = own_envelope(remote, 3, "core.note", NOTE)
    sent_ping = own_envelope(remote, 4, "core.ping", {"n": 1, "padding": ""})
    # The peer sent seq 1 (a body it dropped once applied: only this node's
    # old receipt is left) and seq 2 (a note).
    dropped = remote.envelope(1, kind="core.ping")
    old_receipt = make_receipt(dropped, "applied", None, NOW, this_node().signing_key)
    missed = remote.envelope(2, NOTE, kind="core.note")
    answers = {
        ("held", 3): {"items": [held(remote, sent_note), held(remote, sent_ping)], "next_seq": 5},
        ("resend", 1): {"items": [{"lost": old_receipt}, missed.as_dict()], "next_seq": 3},
    }
    asked = []

    def ask(peer: Peer, part: str, from_seq: int) -> dict[str, Any]:
        asked.append((part, from_seq))
        return {**answers[(part, from_seq)], "more": False}

    monkeypatch.setattr(recovery, "ask", ask)
    [outcome] = recovery.recover_due()

    assert asked == [("held", 3), ("resend", 1)]
    rows = {m.seq: m for m in OutboxMessage.objects.filter(peer=remote.peer)}
    assert str(rows[3].id) == sent_note.id and rows[3].status == "applied"
    assert rows[3].receipt["sig"] and str(rows[4].id) == sent_ping.id
    # The queued message moved past what the peer applied: no seq used twice.
    assert rows[5].id == queued.id and rows[5].status == "pending"
    peer = Peer.objects.get(pk=remote.peer.pk)
    assert peer.next_out_seq == 6 and peer.next_in_seq == 3
    # The note it sent is back in its list; the one it missed arrived.
    assert Note.objects.get(message_id=sent_note.id).direction == "out"
    assert Note.objects.get(message_id=missed.id).direction == "in"
    inbox = {m.seq: m for m in InboxMessage.objects.filter(peer=remote.peer)}
    assert inbox[1].receipt == old_receipt and inbox[1].envelope == {}
    assert inbox[2].status == "applied"
    assert not ChannelRecovery.objects.exists()
    event = AuditEvent.objects.get(action="federation:channel:recovered")
    assert event.data["learned"] == 2 and event.data["renumbered"] == 1
    assert event.data["received_lost_seqs"] == [1] and event.data["resent"] == 1
    assert event.data["content_lost_seqs"] == [4]  # a ping has no local record
    assert outcome.next_out_seq == 6


def swapped_body(item: dict[str, Any]) -> str:
    item["envelope"]["body"] = item["envelope"]["body"][::-1]  # not what was receipted
    return "the body is not the one receipted"


def changed_receipt(item: dict[str, Any]) -> str:
    item["receipt"]["status"] = "refused"  # no longer what the peer signed
    return "does not verify"


@pytest.mark.parametrize("forge", [changed_receipt, swapped_body])
def test_a_held_message_that_does_not_hold_up_stops_the_recovery(monkeypatch, forge):
    remote = RemotePeer.create()
    ChannelRecovery.objects.create(peer=remote.peer, out_seq_at_restore=1)
    forged = held(remote, own_envelope(remote, 1, "core.ping", {"n": 1, "padding": ""}))
    problem = forge(forged)

    def ask(peer: Peer, part: str, from_seq: int) -> dict[str, Any]:
        return {"items": [forged], "next_seq": 2, "more": False}

    monkeypatch.setattr(recovery, "ask", ask)
    [failure] = recovery.recover_due()
    assert isinstance(failure, recovery.RecoveryError)
    mark = ChannelRecovery.objects.get()
    assert problem in mark.last_error and mark.lease_until is None
    assert not OutboxMessage.objects.exists()
    assert Peer.objects.get(pk=remote.peer.pk).next_out_seq == 1


def test_while_recovering_the_peer_s_deliveries_are_turned_away_unconsumed(client: Client):
    remote = RemotePeer.create()
    ChannelRecovery.objects.create(peer=remote.peer, out_seq_at_restore=1)
    answer = client.post(
        "/federation/v1/inbox",
        data=json.dumps(batch(remote.envelope(1))),
        content_type="application/json",
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["reason"] == "recovering"
    assert remote.next_in_seq() == 1 and not InboxMessage.objects.exists()


# ---------------------------------------------------------------- answering


def signed_ask(
    remote: RemotePeer, part: str, from_seq: int, changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "v": 1,
        "type": recovery.ASK_TYPE,
        "sender": remote.node_id,
        "recipient": this_node().node_id,
        "sent_at": format_time(datetime.now(UTC)),
        "nonce": str(uuid4()),
        "part": part,
        "from_seq": from_seq,
    }
    document["sig"] = sign_document(document, recovery.ASK_FIELDS, remote.signing_key)
    return document | (changes or {})


def post(client: Client, document: dict[str, Any]):
    return client.post(
        recovery.RECOVERY_PATH, data=json.dumps(document), content_type="application/json"
    )


def test_the_peer_answers_what_it_holds_signed_for_the_ask(client: Client):
    remote = RemotePeer.create()  # the restored node, asking this one
    with transaction.atomic():
        first = outbox.enqueue(remote.peer, "core.ping", PingBody(n=1))
        second = outbox.enqueue(remote.peer, "core.ping", PingBody(n=2))
    # The second was applied and its body dropped: only its receipt is left.
    envelope = Envelope(**outbox.outbox_envelope(second, NOW))
    receipt = make_receipt(envelope, "applied", None, NOW, remote.signing_key)
    OutboxMessage.objects.filter(pk=second.pk).update(body="", receipt=receipt, status="applied")
    from_remote = remote.envelope(1)
    client.post(
        "/federation/v1/inbox", data=json.dumps(batch(from_remote)), content_type="application/json"
    )

    ask = signed_ask(remote, "resend", 1)
    answer = post(client, ask)
    assert answer.status_code == 200, answer.content
    document = answer.json()
    verify_document(document, recovery.ANSWER_FIELDS, [this_node().signing_public])
    assert document["nonce"] == ask["nonce"] and document["more"] is False
    assert document["next_seq"] == 3
    resent, lost = document["items"]
    assert resent["id"] == str(first.id) and resent["seq"] == 1
    Envelope.parse(resent).verify([this_node().signing_public])
    assert lost == {"lost": receipt}

    document = post(client, signed_ask(remote, "held", 1)).json()
    [item] = document["items"]
    assert item["envelope"]["id"] == from_remote.id and item["receipt"]["status"] == "applied"
    assert document["next_seq"] == 2


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"from_seq": 0}, 400, "malformed"),
        ({"part": "everything"}, 400, "malformed"),
        ({"sender": "nobody.here"}, 403, "unknown_sender"),
        ({"nonce": "changed after signing"}, 403, "bad_signature"),
        ("stale", 400, "stale"),
    ],
)
def test_an_ask_that_does_not_hold_up_is_refused_and_counted(
    client: Client, change, status, reason
):
    remote = RemotePeer.create()
    if change == "stale":
        ask = signed_ask(remote, "held", 1)
        ask["sent_at"] = format_time(datetime.now(UTC) - timedelta(hours=1))
        ask["sig"] = sign_document(ask, recovery.ASK_FIELDS, remote.signing_key)
    else:
        ask = signed_ask(remote, "held", 1, change)
    answer = post(client, ask)
    assert answer.status_code == status
    assert answer.json() == {"error": {"reason": reason}}
    assert FailureTally.objects.filter(channel="recovery", reason=reason).exists()
