"""What waits for me (issue 15): the inbox's entries through the service,
the dashboard, the navigation count and `GET /api/v1/waiting`, all from the
same state, cleared by acting, and never wider than need-to-know."""

from __future__ import annotations

import base64
import os
import re

import pytest
from django.test import Client
from django.urls import reverse
from uuid6 import uuid7

from accord.assistance import services as assistance
from accord.assistance.models import AssistanceRequest
from accord.cases import services as cases
from accord.core.audit import Actor
from accord.core.models import User
from accord.core.roles import Role
from accord.federation import notes
from accord.federation.models import Peer
from accord.federation.wire import NoteBody
from accord.matching.models import Hit
from accord.web import waiting
from tests.assistance.arrivals import arrive
from tests.matching.hits import answered_hit

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="yy.wait",
        url="http://127.0.0.1:9/",
        party="Elsewhere",
        agency="Police",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def kinds(user: User) -> list[tuple[str, str]]:
    return [(e.kind, e.title) for e in waiting.entries(user)]


def step(user: User, request: AssistanceRequest, action: str) -> None:
    request.refresh_from_db()
    assistance.perform(Actor.of(user), request, action, version=request.version)


def nav_count(client: Client) -> int:
    html = client.get(reverse("web:password")).content.decode()
    marker = 'data-testid="nav-waiting" data-count="'
    return int(html.split(marker, 1)[1].split('"', 1)[0])


def hit_on(case, peer: Peer) -> Hit:
    return answered_hit(case, peer, f"{peer.node_id}/ab/1")


def test_a_new_incoming_request_waits_for_the_central_authority_not_for_an_auditor(users, peer):
    incoming = arrive(users, peer)
    central, auditor = users[Role.CENTRAL_AUTHORITY], users[Role.AUDITOR]
    assert (waiting.Kind.NEW_REQUEST, incoming.reference) in kinds(central)
    assert all(title != incoming.reference for _kind, title in kinds(auditor))
    assert waiting.counts(auditor) == {}


def test_screening_the_request_clears_its_entry(users, peer):
    incoming = arrive(users, peer)
    central = users[Role.CENTRAL_AUTHORITY]
    for action in ("acknowledge", "start_screening"):
        assert (waiting.Kind.NEW_REQUEST, incoming.reference) in kinds(central)
        step(central, incoming, action)
    assert (waiting.Kind.NEW_REQUEST, incoming.reference) not in kinds(central)
    assert waiting.Kind.NEW_REQUEST not in waiting.counts(central)


def test_a_draft_sent_for_validation_waits_for_the_prosecutor_until_validated(users, peer):
    from tests.assistance.flow import request_body

    body = request_body("data_order", peer.node_id)
    body.pop("peer")
    draft = assistance.create_request(Actor.of(users[Role.INVESTIGATOR]), peer, body)
    prosecutor = users[Role.PROSECUTOR]
    assert waiting.counts(prosecutor) == {}
    step(users[Role.INVESTIGATOR], draft, "send_for_validation")
    assert kinds(prosecutor) == [(waiting.Kind.VALIDATION, draft.reference)]
    step(prosecutor, draft, "validate")
    assert waiting.Kind.VALIDATION not in waiting.counts(prosecutor)
    # Validated, it waits for the central authority, who submits it.
    assert (waiting.Kind.SUBMISSION, draft.reference) in kinds(users[Role.CENTRAL_AUTHORITY])


def test_a_hit_on_a_confidential_case_shows_only_to_its_team(users, peer):
    author = users[Role.INVESTIGATOR]
    case = cases.create_case(
        Actor.of(author), {"title": "Quiet", "title_language": "en", "confidential": True}
    )
    cases.add_observable(Actor.of(author), case, "domain", "Evil.Example")
    hit_on(case, peer)
    outsider = User.objects.create_user("outsider", password="x", role=Role.INVESTIGATOR)
    assert kinds(author) == [(waiting.Kind.HIT, case.reference)]
    assert kinds(outsider) == []
    client = Client()
    client.force_login(outsider)
    assert client.get("/api/v1/waiting").json() == {"count": 0, "counts": {}, "entries": []}
    assert case.reference not in client.get(reverse("web:dashboard")).content.decode()


def test_turning_a_hit_into_a_request_clears_it(users, peer):
    author = users[Role.INVESTIGATOR]
    case = cases.create_case(Actor.of(author), {"title": "Phish", "title_language": "en"})
    cases.add_observable(Actor.of(author), case, "domain", "Evil.Example")
    hit = hit_on(case, peer)
    from accord.matching import services as matching

    matching.request_details(Actor.of(author), hit)
    assert waiting.Kind.HIT not in waiting.counts(author)


def test_an_unread_note_waits_until_its_reader_opens_its_conversation(users, client_for, peer):
    body = NoteBody(subject="Call me", text="About the botnet.", language="en", author="Officer Yy")
    notes.record_received_note(peer, str(uuid7()), body)
    investigator, analyst = users[Role.INVESTIGATOR], users[Role.ANALYST]
    assert kinds(investigator) == [(waiting.Kind.NOTE, "Call me")]
    # The list shows the conversation as unread; the entry leads into it.
    client_for(Role.INVESTIGATOR).get(reverse("federation:notes"))
    assert kinds(investigator) == [(waiting.Kind.NOTE, "Call me")]
    (entry,) = waiting.entries(investigator)
    assert client_for(Role.INVESTIGATOR).get(entry.url).status_code == 200
    assert kinds(investigator) == []
    # Each officer reads for themselves.
    assert kinds(analyst) == [(waiting.Kind.NOTE, "Call me")]
    assert notes.unread(users[Role.AUDITOR]).count() == 0  # auditors exchange no notes


def test_a_deadline_waits_once_four_fifths_of_its_time_are_used(users, peer):
    incoming = arrive(users, peer)
    central = users[Role.CENTRAL_AUTHORITY]
    deadline = next(d for d in waiting.SOURCES if d.kind == waiting.Kind.DEADLINE)
    span = incoming.acknowledge_due - incoming.submitted_at
    early = incoming.submitted_at + span * 0.5
    late = incoming.submitted_at + span * 0.85
    assert deadline.count(central, early) == 0
    assert deadline.count(central, late) == 1
    assert deadline.count(users[Role.AUDITOR], late) == 0
    step(central, incoming, "acknowledge")  # the acknowledgement meets it
    assert deadline.count(central, late) == 0


def test_the_navigation_the_dashboard_and_the_api_agree(users, client_for, peer):
    first, second = arrive(users, peer), arrive(users, peer)
    client = client_for(Role.CENTRAL_AUTHORITY)
    found = waiting.entries(users[Role.CENTRAL_AUTHORITY])
    assert {first.reference, second.reference} <= {e.title for e in found}
    assert nav_count(client) == len(found)
    api = client.get("/api/v1/waiting").json()
    assert api["count"] == len(found) == sum(api["counts"].values())
    assert [(e["kind"], e["title"], e["url"]) for e in api["entries"]] == [
        (e.kind, e.title, e.url) for e in found
    ]
    page = client.get(reverse("web:dashboard")).content.decode()
    assert page.count('data-testid="waiting-entry"') == len(found)
    assert reverse("assistance:detail", args=[first.pk]) in page


def test_an_auditor_s_dashboard_offers_only_what_an_auditor_does(client_for):
    page = client_for(Role.AUDITOR).get(reverse("web:dashboard")).content.decode()
    assert "Work on mutual-assistance requests" not in page
    assert "Handle evidence" not in page
    assert "Read mutual-assistance requests and their timelines" in page
    assert ">soon<" not in page
    investigator = client_for(Role.INVESTIGATOR).get(reverse("web:dashboard")).content.decode()
    assert "Work on mutual-assistance requests" in investigator


def test_the_turnaround_chart_says_not_enough_data_yet(users, client_for, peer):
    incoming = arrive(users, peer)
    step(users[Role.CENTRAL_AUTHORITY], incoming, "acknowledge")  # one measurement
    page = client_for(Role.CENTRAL_AUTHORITY).get(reverse("web:dashboard")).content.decode()
    assert 'data-testid="not-enough-data"' in page
    assert not re.search(r"(?<![\d.])0\.0 h", page)


def test_the_chart_draws_bars_from_three_measurements(users, client_for, peer):
    for _n in range(3):
        step(users[Role.CENTRAL_AUTHORITY], arrive(users, peer), "acknowledge")
    page = client_for(Role.CENTRAL_AUTHORITY).get(reverse("web:dashboard")).content.decode()
    assert 'data-testid="chart-stages"' in page
    assert 'data-testid="not-enough-data"' not in page


def test_in_chinese_the_inbox_is_chinese(users, client_for, peer):
    arrive(users, peer)
    client = client_for(Role.CENTRAL_AUTHORITY)
    client.post(reverse("web:set-language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("web:dashboard")).content.decode()
    assert "Waiting for you" not in page
    assert "New incoming request" not in page
    assert "等待您处理" in page


def test_an_outcome_the_partner_proposed_waits_for_this_node_s_signature(users):
    from accord.dialogue import services as dialogue
    from tests.objects import make_record

    central = users[Role.CENTRAL_AUTHORITY]
    record = make_record(central)
    signatures = [e for e in waiting.entries(central) if e.kind == waiting.Kind.SIGNATURE]
    # Ours are signed here already: only the partner's proposal waits for us.
    assert [e.url for e in signatures] == [reverse("dialogue:detail", args=[record.dialogue.pk])]
    assert waiting.counts(users[Role.INVESTIGATOR]).get(waiting.Kind.SIGNATURE) is None
    dialogue.sign_outcome(Actor.of(central), record.theirs, record.theirs.latest().version)
    assert waiting.Kind.SIGNATURE not in waiting.counts(central)


def test_the_partner_s_questions_wait_until_answered_even_before_the_partner_confirms(db):
    from tests.objects import Builder, make_partner, make_people

    people = make_people()
    asked = Builder(make_partner(), people).build("requesting-needs_information").request
    central = people["central"]
    assert (waiting.Kind.QUESTIONS, asked.reference) in kinds(central)
    assert all(title != asked.reference for _k, title in kinds(people["auditor"]))
    asked.refresh_from_db()
    assistance.perform(
        Actor.of(central),
        asked,
        "provide_information",
        {"answers": "Account 7731."},
        version=asked.version,
    )
    asked.refresh_from_db()
    assert asked.state == "needs_information"  # the partner has not applied it yet
    assert (waiting.Kind.QUESTIONS, asked.reference) not in kinds(central)
