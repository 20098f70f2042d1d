"""Correlation inside the node: every case page lists the other cases holding
the same normal form, as far as the viewer may know them — a case they may
open by reference and title, a case they may only list as an anonymous note,
a confidential case they may not see not at all — in a fixed number of
queries, whatever the number of observables."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accord.cases import queries, services
from accord.core.audit import Actor
from tests.cases.world import make_people, open_case

pytestmark = pytest.mark.django_db

NOTE = "Another case on this node holds this value; ask the central authority."


@pytest.fixture
def world(db):
    people = make_people()
    author, outsider = Actor.of(people["author"]), Actor.of(people["outsider"])
    viewer = open_case(people["outsider"], title="The viewer's case")
    shared = open_case(people["author"], title="Shared with the viewer")
    services.add_member(author, shared, people["outsider"])
    plain = open_case(people["author"], title="Not the viewer's, not confidential")
    secret = open_case(people["author"], title="Confidential", confidential=True)
    for case in (shared, plain, secret):
        services.add_observable(author, case, "domain", "overlap.example")
    services.add_observable(outsider, viewer, "domain", "OVERLAP.example.")
    services.add_observable(outsider, viewer, "domain", "alone.example")
    services.add_observable(author, secret, "ipv4", "192.0.2.7")
    services.add_observable(outsider, viewer, "ipv4", "192.0.2.7")
    return people, viewer, shared, plain, secret


def by_value(user, case) -> dict[str, list[queries.Link]]:
    links = queries.correlations(user, case)
    return {o.normal: links.get(o.pk, []) for o in case.observables.all()}


def test_each_other_case_shows_as_much_as_the_viewer_may_know(world):
    people, viewer, shared, _plain, _secret = world
    found = by_value(people["outsider"], viewer)
    overlap = found["overlap.example"]
    assert [link.reference for link in overlap if not link.hidden] == [shared.reference]
    assert [link.title for link in overlap if not link.hidden] == [shared.title]
    # The non-confidential case they may not open: one note, no reference.
    assert [link for link in overlap if link.hidden] == [queries.Link()]
    # The confidential case: nothing at all, not even the note.
    assert found["192.0.2.7"] == []
    assert found["alone.example"] == []


def test_the_central_authority_sees_every_case_holding_the_value(world):
    people, viewer, shared, plain, secret = world
    found = by_value(people["central"], viewer)
    assert sorted(link.reference for link in found["overlap.example"]) == sorted(
        [shared.reference, plain.reference, secret.reference]
    )
    assert [link.reference for link in found["192.0.2.7"]] == [secret.reference]


def test_a_value_held_by_the_case_alone_correlates_with_nothing(world):
    people, *_ = world
    lonely = open_case(people["author"], title="Alone")
    services.add_observable(Actor.of(people["author"]), lonely, "domain", "nowhere.example")
    assert queries.correlations(people["author"], lonely) == {}


def test_the_page_shows_the_note_and_the_link_but_never_the_hidden_references(world):
    people, viewer, shared, plain, secret = world
    client = Client()
    client.force_login(people["outsider"])
    html = client.get(reverse("cases:detail", kwargs={"case_id": viewer.pk})).content.decode()
    assert shared.reference in html and NOTE in html
    assert plain.reference not in html and plain.title not in html
    assert secret.reference not in html and secret.title not in html


def test_correlations_take_the_same_number_of_queries_for_many_observables(
    world, django_assert_max_num_queries
):
    people, viewer, shared, *_ = world
    outsider, author = Actor.of(people["outsider"]), Actor.of(people["author"])
    for number in range(60):
        services.add_observable(outsider, viewer, "domain", f"host{number}.example")
        services.add_observable(author, shared, "domain", f"host{number}.example")
    with django_assert_max_num_queries(4):
        links = queries.correlations(people["outsider"], viewer)
    assert sum(1 for found in links.values() if found) == 61  # 60 hosts and overlap.example


def test_the_page_takes_as_many_queries_for_sixty_shared_values_as_for_one(world):
    """The case page of bench/matching.py (1,000 values, most shared) must stay
    fast: no query per value or per link, and every link and remove form
    still names its own case and value."""
    people, viewer, shared, *_ = world
    client = Client()
    client.force_login(people["outsider"])
    page = reverse("cases:detail", kwargs={"case_id": viewer.pk})
    client.get(page)
    with CaptureQueriesContext(connection) as few:
        client.get(page)
    outsider, author = Actor.of(people["outsider"]), Actor.of(people["author"])
    for number in range(60):
        services.add_observable(outsider, viewer, "domain", f"host{number}.example")
        services.add_observable(author, shared, "domain", f"host{number}.example")
    with CaptureQueriesContext(connection) as many:
        html = client.get(page).content.decode()
    assert len(many) == len(few)
    link = f'<a href="{reverse("cases:detail", kwargs={"case_id": shared.pk})}" data-testid='
    assert html.count(link) == 61  # 60 hosts and overlap.example
    for observable in viewer.observables.all():
        remove = reverse(
            "cases:unobserve", kwargs={"case_id": viewer.pk, "observable_id": observable.pk}
        )
        assert f'action="{remove}"' in html
