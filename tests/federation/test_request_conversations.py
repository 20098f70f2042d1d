"""The request page shows the conversations with the partner about the request
and offers to start one: the link opens the notes form addressed to the
request's peer, about that request, with a subject naming it; only readers of
the request and of notes see the threads, and only who may send notes gets
the link."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from accord.core.audit import Actor
from accord.core.roles import Role
from accord.federation import notes
from accord.federation.models import NoteThread
from tests.assistance.arrivals import pinned_peer, submitted

pytestmark = pytest.mark.django_db


def _selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, name
    chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select.group(1))
    return chosen.group(1) if chosen else ""


def test_the_request_page_lists_its_threads_and_writes_to_the_partner(users, client_for):
    peer = pinned_peer("us.talk")
    request = submitted(users, peer)
    officer = client_for(Role.INVESTIGATOR)
    page = officer.get(reverse("assistance:detail", args=[request.pk])).content.decode()
    assert "No notes about this request yet." in page
    link = re.search(r'href="([^"]+)" data-testid="write-to-partner"', page)
    assert link and "Write to us.talk about this request" in page
    form = officer.get(unescape(link.group(1))).content.decode()
    assert _selected(form, "peer") == "us.talk"
    assert _selected(form, "request") == str(request.pk)
    assert f'value="About request {request.reference}"' in form
    # Sent from there, the thread is about the request and shows on its page.
    sent = officer.post(
        "/notes/",
        {
            "peer": "us.talk",
            "subject": f"About request {request.reference}",
            "text": "When may we expect the records?",
            "language": "en",
            "request": str(request.pk),
        },
    )
    thread = NoteThread.objects.get()
    assert sent.status_code == 302 and thread.request_id == request.pk
    page = officer.get(reverse("assistance:detail", args=[request.pk])).content.decode()
    assert f'href="/notes/{thread.pk}/"' in page and "1 note" in page


def test_a_thread_about_a_request_is_not_shown_where_the_request_is_not(users, client_for):
    peer = pinned_peer("us.quiet")
    other = submitted(users, peer)
    mine = submitted(users, peer)
    notes.send_note(
        Actor.of(users[Role.INVESTIGATOR]), peer, "On the other", "t", "en", request_id=other.pk
    )
    page = client_for(Role.INVESTIGATOR).get(reverse("assistance:detail", args=[mine.pk]))
    assert "On the other" not in page.content.decode()


def test_a_mangled_or_foreign_request_in_the_link_names_no_request(users, client_for):
    pinned_peer("us.mangled")
    officer = client_for(Role.INVESTIGATOR)
    for asked in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        form = officer.get(f"/notes/?request={asked}")
        assert form.status_code == 200
        assert _selected(form.content.decode(), "request") == ""
