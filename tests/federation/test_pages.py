"""The Federation and Notes pages, in process: what an administrator and an
officer see, and that sending a note queues exactly one message."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

import pytest
from nacl.signing import SigningKey, VerifyKey

from accord.core.roles import Role
from accord.federation.envelope import RECEIPT_FIELDS, sign_document
from accord.federation.models import Note, OutboxMessage, Peer
from tests.peers import pinned_peer

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer() -> Peer:
    return pinned_peer("us.page")


def test_an_officer_sends_a_note_from_the_notes_page(client_for, peer):
    page = client_for(Role.ANALYST)
    response = page.post(
        "/notes/",
        {"peer": "us.page", "subject": "Lead 42", "text": "Please check.", "language": "en"},
    )
    assert response.status_code == 302
    note = Note.objects.get()
    message = OutboxMessage.objects.get()
    assert (note.direction, note.message_id, message.seq) == ("out", message.id, 1)
    listing = page.get("/notes/").content.decode()
    assert "Lead 42" in listing and "queued" in listing


def test_an_empty_note_is_refused_and_nothing_is_queued(client_for, peer):
    response = client_for(Role.ANALYST).post(
        "/notes/", {"peer": "us.page", "subject": " ", "text": "x", "language": "en"}
    )
    assert response.status_code == 200
    assert not OutboxMessage.objects.exists() and not Note.objects.exists()


def test_the_channel_page_shows_peers_and_queued_messages(client_for, peer):
    client_for(Role.INVESTIGATOR).post(
        "/notes/", {"peer": "us.page", "subject": "s", "text": "t", "language": "en"}
    )
    page = client_for(Role.NODE_ADMIN).get("/federation/").content.decode()
    assert "<title>Federation · xx.test</title>" in page
    assert "us.page" in page and peer.fingerprint[:16] in page
    message = OutboxMessage.objects.get()
    assert f'href="/federation/messages/{message.id}/"' in page
    detail = client_for(Role.NODE_ADMIN).get(f"/federation/messages/{message.id}/")
    assert detail.status_code == 200 and message.body_sha256 in detail.content.decode()


def test_a_receipt_is_shown_as_json_that_copies_and_verifies(client_for):
    signing = SigningKey.generate()
    peer = pinned_peer("us.receipt", signing)
    client_for(Role.ANALYST).post(
        "/notes/", {"peer": peer.node_id, "subject": "雨", "text": "t", "language": "zh-hans"}
    )
    message = OutboxMessage.objects.get()
    receipt = {
        "v": 1,
        "type": "accord.receipt",
        "message_id": str(message.id),
        "kind": message.kind,
        "sender": "xx.test",
        "recipient": peer.node_id,
        "seq": message.seq,
        "body_sha256": message.body_sha256,
        "status": "applied",
        "reason": None,
        "received_at": "2026-12-06T03:00:00.000000Z",
    }
    receipt["sig"] = sign_document(receipt, RECEIPT_FIELDS, signing)
    OutboxMessage.objects.filter(pk=message.pk).update(receipt=receipt)

    page = client_for(Role.NODE_ADMIN).get(f"/federation/messages/{message.id}/")
    html = page.content.decode()
    shown = html_text(html, "receipt")
    assert json.loads(shown) == receipt  # JSON, not a Python dict's repr
    assert "'status'" not in html and '"status": "applied"' in shown
    assert 'data-copy="json-receipt"' in html
    signed = html_text(html, "signing-input-receipt").encode()
    VerifyKey(bytes(signing.verify_key)).verify(signed, base64.b64decode(receipt["sig"]))
    assert html_text(html, "signer-key-receipt") == peer.signing_key


def html_text(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">(.*?)</', html, re.S)
    assert match is not None, testid
    return unescape(match.group(1))
