"""A postponement's "until" date is checked for sense as every date a person
types (core.dates): not already gone, not decades away. On the request page
the problem is shown beside the field with what was typed kept; the service
refuses it too (the API's way in), audited. In one process, through HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from accord.assistance import services
from accord.assistance.models import AssistanceRequest
from accord.assistance.services import TransitionRefused
from accord.core import dates
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.arrivals import pinned_peer
from tests.assistance.test_forms_keep_work import errors_of, screening, step

pytestmark = pytest.mark.django_db

DOMESTIC = {"g_1_ground": "domestic_investigation", "g_1_rationale": "Our own case (test)"}


@pytest.fixture
def peer(db) -> Peer:
    return pinned_peer("us.postpone")


def postponable(users, peer) -> AssistanceRequest:
    request = screening(users, peer)
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    services.record_finding(officer, request, "domestic_investigation", True, "Own case")
    request.refresh_from_db()
    return request


@pytest.mark.parametrize(
    ("offset", "message"),
    [(timedelta(days=-1), "already passed"), (timedelta(days=365 * 30), "years away")],
)
def test_a_postponement_until_a_senseless_date_is_refused_beside_the_field(
    users, client_for, peer, offset, message
):
    request = postponable(users, peer)
    day = (dates.today() + offset).isoformat()
    client = client_for(Role.CENTRAL_AUTHORITY)
    page = step(client, request, "postpone", until=day, **DOMESTIC)
    assert page.status_code == 200
    html = page.content.decode()
    assert any(message in error for error in errors_of(html, "until", "postpone"))
    assert f'value="{day}"' in html and "Our own case (test)" in html
    request.refresh_from_db()
    assert request.state == "screening"


def test_the_service_refuses_a_past_postponement_date_and_accepts_a_sensible_one(users, peer):
    request = postponable(users, peer)
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    grounds = {"grounds": [{"ground": "domestic_investigation", "rationale": "Own case"}]}
    past = (dates.today() - timedelta(days=3)).isoformat()
    with pytest.raises(TransitionRefused, match="already passed"):
        services.perform(
            officer, request, "postpone", {**grounds, "until": past}, version=request.version
        )
    refused = AuditEvent.objects.filter(action=AuditAction.REQUEST_ACTION_REFUSED).last()
    assert refused is not None and "already passed" in refused.data["reason"]
    ahead = (dates.today() + timedelta(days=90)).isoformat()
    services.perform(
        officer, request, "postpone", {**grounds, "until": ahead}, version=request.version
    )
    request.refresh_from_db()
    assert request.state == "postponed"


def test_the_page_takes_a_sensible_postponement(users, client_for, peer):
    request = postponable(users, peer)
    ahead = (dates.today() + timedelta(days=30)).isoformat()
    answer = step(client_for(Role.CENTRAL_AUTHORITY), request, "postpone", until=ahead, **DOMESTIC)
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    request.refresh_from_db()
    assert request.state == "postponed"
    assert reverse("assistance:detail", args=[request.pk]) in answer["Location"]
