"""The channel lock (outbox.lock_peer) keeps channel users apart, but lets
through the foreign-key checks of rows that refer to the peer. PostgreSQL
makes those checks at commit, after the transaction took the audit head: under
FOR UPDATE a draft's commit waited for the channel's holder while the holder
waited for the audit head — a deadlock bench/load.py found (50 officers
drafting while notes went out)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, transaction

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.federation.models import Note
from accord.federation.outbox import lock_peer
from tests.live import suite_database_url
from tests.peers import pinned_peer

pytestmark = pytest.mark.skipif(
    not suite_database_url().startswith(("postgres://", "postgresql://")),
    reason="row locks and deferred foreign-key checks are PostgreSQL's; SQLite locks the file",
)


@pytest.mark.django_db(transaction=True)
def test_a_row_that_refers_to_the_peer_commits_while_the_channel_is_held():
    peer = pinned_peer("yy.lock")
    held, release = threading.Event(), threading.Event()

    def hold_the_channel() -> None:
        try:
            with transaction.atomic():
                lock_peer(peer)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_channel)
    holder.start()
    try:
        assert held.wait(30)
        with transaction.atomic():
            # A wait on any lock here fails the test instead of hanging it.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            note = Note.objects.create(
                direction=Note.Direction.IN,
                peer=peer,
                message_id=uuid.uuid4(),
                author_name="Officer",
                subject="s",
                text="t",
                language="en",
            )
            audit.record(Actor.system("test"), AuditAction.PING_SEND, note)
        # Committed (the foreign-key check passed) while the channel is still held.
        assert holder.is_alive()
    finally:
        release.set()
        holder.join(30)
    assert Note.objects.filter(pk=note.pk).exists()
