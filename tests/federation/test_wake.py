"""A deliverer sleeps until a transaction that queued messages commits
(federation.wake): PostgreSQL's NOTIFY, or a FIFO in the data directory on
SQLite. Through the public path: an officer sends a note from the Notes page,
and the wake-up channel the deliverer listens on fires; a change rolled back
wakes nobody; with nobody listening, or the FIFO full, the change still commits."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from accord.core.roles import Role
from accord.federation import outbox, wake
from accord.federation.models import OutboxMessage, Peer
from accord.federation.wire import PING_KIND, PingBody
from tests.peers import pinned_peer

pytestmark = pytest.mark.django_db(transaction=True)  # a wake-up needs a real commit


@pytest.fixture
def peer() -> Peer:
    return pinned_peer("us.wake")


@pytest.fixture
def channel():
    listener = wake.listener()
    yield listener
    listener.close()


def send_note(client_for, subject: str) -> None:
    page = client_for(Role.ANALYST)
    response = page.post(
        "/notes/",
        {"peer": "us.wake", "subject": subject, "text": "Please check.", "language": "en"},
    )
    assert response.status_code == 302


def test_a_committed_note_wakes_the_deliverer(client_for, peer, channel):
    send_note(client_for, "Lead 1")
    assert channel.wait(30)
    assert OutboxMessage.objects.filter(peer=peer).count() == 1


def test_a_rolled_back_change_wakes_nobody(peer, channel):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue(peer, PING_KIND, PingBody(n=1, padding=""))
        raise RuntimeError("the change fails after queuing its message")
    assert not OutboxMessage.objects.exists()
    assert not channel.wait(0.5)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FIFO is SQLite's channel")
def test_a_change_commits_with_nobody_listening_or_the_fifo_full(client_for, peer):
    wake.listener().close()  # the FIFO stays, with no reader
    send_note(client_for, "Nobody listens")
    full = wake.listener()
    try:
        for _ in range(70_000):  # more than a pipe holds: pokes never block
            wake.poke()
        send_note(client_for, "The pipe is full")
        assert full.wait(0)
    finally:
        full.close()
    assert OutboxMessage.objects.filter(peer=peer).count() == 2
