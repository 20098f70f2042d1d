"""A request that has ended (refused here; withdrawn, closed, lapsed and
released are final the same way) shows no running deadline:
its detail page keeps the deadlines' history, each unmet one marked as no
longer running, with no countdown, no overdue mark and no progress bar; the
list shows no next deadline for it (the same rule: deadlines.running)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accord.assistance import services
from accord.assistance.models import AssistanceRequest, State
from accord.core.audit import Actor
from accord.core.roles import Role
from tests.assistance.arrivals import arrive, pinned_peer

pytestmark = pytest.mark.django_db

GROUNDS = [{"ground": "essential_interests", "rationale": "Security matter"}]


def step(users, request: AssistanceRequest, action: str, payload: dict | None = None) -> None:
    request.refresh_from_db()
    services.perform(
        Actor.of(users[Role.CENTRAL_AUTHORITY]), request, action, payload, version=request.version
    )


def deadline_items(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="deadline-(\w+)">(.*?)</li>', html, re.S))


def test_a_refused_request_shows_its_deadlines_as_no_longer_running(users, client_for):
    request = arrive(users, pinned_peer("us.ended"))
    client = client_for(Role.CENTRAL_AUTHORITY)
    page = reverse("assistance:detail", args=[request.pk])
    step(users, request, "acknowledge")
    step(users, request, "start_screening")
    running = deadline_items(client.get(page).content.decode())
    for key in ("decide", "respond"):
        assert " left" in running[key] and 'class="bar' in running[key], running

    for action, payload in (
        ("consult", {"comment": "Would a use limit do?"}),
        ("refuse", {"grounds": GROUNDS}),
    ):
        step(users, request, action, payload)
    request.refresh_from_db()
    assert request.state == State.REFUSED

    html = client.get(page).content.decode()
    shown = deadline_items(html)
    # The history stays: the refusal met the decision; the response no longer runs.
    assert "met" in shown["acknowledge"] and "met" in shown["decide"]
    respond = shown["respond"]
    assert "no longer running" in respond, respond
    assert " left" not in respond and "overdue" not in respond and 'class="bar' not in respond
    # The list hides it by the same rule.
    listed = client.get(reverse("assistance:list"), {"q": request.reference}).content.decode()
    assert request.reference in listed and "Respond:" not in listed
