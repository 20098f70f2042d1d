"""The Federation and Notes pages, in process: what an administrator and an
officer see, and that sending a note queues exactly one message."""

from __future__ import annotations

import pytest

from accord.core.roles import Role
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
