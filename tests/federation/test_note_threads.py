"""Notes as conversations (issue 15), in process: threads with a subject,
read and unread per officer (each read and each marking audited), links to a
request shared with the peer and to this node's own case shown only to who may
open them, long text folded in the list, and the wire format that carries the
thread and the request while an old-format note is still accepted."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from uuid6 import uuid7

from accord.cases import services as cases
from accord.core import audit
from accord.core.audit import Actor
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation import kinds, notes
from accord.federation.models import Note, NoteThread
from accord.federation.wire import NoteBody
from tests.assistance.arrivals import pinned_peer, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer(db):
    return pinned_peer("us.threads")


def received(peer, text="Please call.", **links) -> Note:
    body = NoteBody(subject="Lead 7", text=text, language="en", author="Agent Smith", **links)
    return notes.record_received_note(peer, str(uuid7()), body)


def events(action: str) -> list[AuditEvent]:
    audit.seal()
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_an_old_format_note_starts_its_own_thread_and_a_reply_joins_it(peer):
    first = received(peer)
    assert str(first.thread_id) == str(first.message_id)
    assert first.thread.subject == "Lead 7" and first.thread.request_id is None
    reply = received(peer, "Called.", thread=str(first.thread_id))
    assert reply.thread_id == first.thread_id
    assert NoteThread.objects.count() == 1 and first.thread.notes.count() == 2


def test_a_note_naming_another_peers_thread_or_an_unshared_request_is_refused(users, peer):
    other = pinned_peer("xx.other")
    theirs = received(other)
    with pytest.raises(kinds.Refusal, match="not one with the sender"):
        received(peer, thread=str(theirs.thread_id))
    with pytest.raises(kinds.Refusal, match="not shared with its sender"):
        received(peer, request=str(submitted(users, other).pk))
    assert not Note.objects.filter(peer=peer).exists()


def test_the_body_leaves_out_unset_links_so_old_nodes_read_a_new_thread():
    body = NoteBody(subject="s", text="t", language="en", author="a")
    assert body.model_dump(mode="json") == {
        "subject": "s",
        "text": "t",
        "language": "en",
        "author": "a",
    }


def test_a_reply_from_the_thread_page_stays_in_the_thread_and_keeps_its_request(
    users, client_for, peer
):
    request = submitted(users, peer)
    page = client_for(Role.INVESTIGATOR)
    started = page.post(
        "/notes/",
        {
            "peer": peer.node_id,
            "subject": "About the fraud ring",
            "text": "Any news?",
            "language": "en",
            "request": str(request.pk),
        },
    )
    thread = NoteThread.objects.get()
    assert started.status_code == 302 and started.url == f"/notes/{thread.pk}/"
    assert thread.request_id == request.pk
    answer = page.post(f"/notes/{thread.pk}/", {"reply": "1", "text": "Still?", "language": "en"})
    assert answer.status_code == 302
    assert thread.notes.count() == 2 and NoteThread.objects.count() == 1
    sent = events("federation:note:send")
    assert [e.data["thread"] for e in sent] == [str(thread.pk)] * 2
    assert [e.data["request"] for e in sent] == [str(request.pk)] * 2
    html = page.get(f"/notes/{thread.pk}/").content.decode()
    assert "Still?" in html and f'href="/requests/{request.pk}/"' in html


def test_a_linked_confidential_request_or_case_is_named_only_to_who_may_open_it(
    users, client_for, peer
):
    request = submitted(users, peer, confidential=True, confidentiality_reasons="Covert")
    author = users[Role.INVESTIGATOR]
    case = cases.create_case(
        Actor.of(author), {"title": "Quiet", "title_language": "en", "confidential": True}
    )
    note = notes.send_note(
        Actor.of(author),
        peer,
        "Covert matter",
        "See the request.",
        "en",
        request_id=request.pk,
        case_id=case.pk,
    )
    url = f"/notes/{note.thread_id}/"
    for_author = client_for(Role.INVESTIGATOR).get(url).content.decode()
    assert request.reference in for_author and case.reference in for_author
    outsider = client_for(Role.ANALYST)
    for page in (outsider.get(url), outsider.get("/notes/")):
        html = page.content.decode()
        assert "Covert matter" in html
        assert request.reference not in html and case.reference not in html
    listed = outsider.get("/api/v1/federation/notes").json()["items"]
    assert listed[0]["thread"] == str(note.thread_id) and listed[0]["request"] is None
    mine = client_for(Role.INVESTIGATOR).get("/api/v1/federation/notes").json()["items"]
    assert mine[0]["request"] == str(request.pk)
    # Nor can an outsider name the case in a link, or a thread of its own.
    with pytest.raises(ValidationError):
        notes.send_note(Actor.of(users[Role.ANALYST]), peer, "s", "t", "en", case_id=case.pk)
    with pytest.raises(ValidationError):
        notes.send_note(Actor.of(users[Role.ANALYST]), peer, "s", "t", "en", request_id=request.pk)


def test_a_received_thread_is_linked_to_our_case_here_and_the_link_is_audited(
    users, client_for, peer
):
    note = received(peer)
    author = users[Role.INVESTIGATOR]
    case = cases.create_case(Actor.of(author), {"title": "Ring", "title_language": "en"})
    page = client_for(Role.INVESTIGATOR)
    linked = page.post(f"/notes/{note.thread_id}/", {"link": "1", "case": str(case.pk)})
    assert linked.status_code == 302
    assert NoteThread.objects.get().case_id == case.pk
    (event,) = events("federation:note:link")
    assert event.data["case"] == str(case.pk) and event.actor == f"user:{author.username}"
    assert f'href="/cases/{case.pk}/"' in page.get("/notes/").content.decode()


def test_unread_per_officer_and_every_read_and_marking_is_audited(users, client_for, peer):
    note = received(peer)
    page = client_for(Role.INVESTIGATOR)
    listing = page.get("/notes/").content.decode()
    assert 'data-testid="unread"' in listing and 'data-unread="1"' in listing
    assert events("federation:note:list")[-1].actor == f"user:{users[Role.INVESTIGATOR].username}"
    assert notes.unread(users[Role.INVESTIGATOR]).count() == 1  # listing is not reading

    page.get(f"/notes/{note.thread_id}/")
    assert notes.unread(users[Role.INVESTIGATOR]).count() == 0
    assert notes.unread(users[Role.ANALYST]).count() == 1
    (opened,) = events("federation:note:read")
    assert opened.target_id == str(note.thread_id)
    (marked,) = events("federation:note:mark-read")
    assert marked.data["notes"] == [note.pk] and marked.data["count"] == 1
    page.get(f"/notes/{note.thread_id}/")  # read again: nothing newly marked
    assert len(events("federation:note:mark-read")) == 1

    received(peer, "Two")
    analyst = client_for(Role.ANALYST)
    assert analyst.post(reverse("federation:notes-read")).status_code == 302
    assert notes.unread(users[Role.ANALYST]).count() == 0
    assert events("federation:note:mark-read")[-1].data["count"] == 2
    assert 'data-testid="unread"' not in analyst.get("/notes/").content.decode()


def test_long_text_is_folded_in_the_list_and_whole_on_the_thread_page(client_for, peer):
    text = "Word " * 800
    note = received(peer, text)
    page = client_for(Role.INVESTIGATOR)
    listing = page.get("/notes/").content.decode()
    fold = re.search(r'<details class="note-fold"><summary[^>]*>([^<]*)</summary>', listing)
    assert fold is not None and len(fold.group(1)) <= 160
    detail = page.get(f"/notes/{note.thread_id}/").content.decode()
    assert "note-fold" not in detail and text.strip() in detail


def test_a_thread_of_no_one_is_not_found(client_for):
    page = client_for(Role.INVESTIGATOR)
    assert page.get(f"/notes/{uuid7()}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_notes_kept_before_threads_each_start_their_own_after_the_migration():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("federation", "0008_channel_recovery")], [("federation", "0009_note_threads")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    peer = old.get_model("federation", "Peer").objects.create(
        node_id="us.old", url="http://127.0.0.1:9", party="US", agency="DoJ", fingerprint="0"
    )
    message_id = uuid7()
    old.get_model("federation", "Note").objects.create(
        direction="in",
        peer=peer,
        message_id=message_id,
        author_name="Agent",
        subject="Before threads",
        text="t",
        language="en",
    )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    note = Note.objects.get(message_id=message_id)
    assert note.thread_id == message_id and note.thread.subject == "Before threads"


def test_notes_are_marked_read_through_the_api_by_thread_or_all(users, client_for, peer):
    first = received(peer)
    second = received(peer, "Another lead.")
    received(peer, "Follow-up.", thread=str(first.thread_id))
    reader = client_for(Role.INVESTIGATOR)

    def read(body: dict) -> tuple[int, dict]:
        answer = reader.post(
            "/api/v1/federation/notes/read", data=body, content_type="application/json"
        )
        return answer.status_code, answer.json()

    assert read({"thread": str(first.thread_id)}) == (200, {"marked": 2, "unread": 1})
    listed = reader.get("/api/v1/federation/notes").json()["items"]
    assert {n["message_id"]: n["read"] for n in listed}[str(second.message_id)] is False
    marked = events("federation:note:mark-read")
    assert marked and marked[-1].actor_user_id == users[Role.INVESTIGATOR].pk
    assert read({}) == (200, {"marked": 1, "unread": 0})
    assert read({}) == (200, {"marked": 0, "unread": 0})
    # A thread the reader may not see, or none at all, is not found; nothing changes.
    status, _ = read({"thread": "00000000-0000-0000-0000-000000000000"})
    assert status == 404
