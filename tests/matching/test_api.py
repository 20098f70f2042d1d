"""The hit/no-hit API's answers beyond the role gate (the authorisation
matrix checks that): need-to-know hides another team's case and its hits
(404), a decided query cannot be decided again (409), what is wrong with an
input is named (422), and no answer carries the asker's secret or values."""

from __future__ import annotations

import base64
import os

import pytest
from django.test import Client
from django.utils import timezone
from uuid6 import uuid7

from accord.assistance.models import AssistanceRequest
from accord.cases import services as cases
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent, User
from accord.core.roles import Role
from accord.federation.models import OutboxMessage, Peer
from accord.matching.models import Direction, Hit, Query, QueryStatus
from tests.matching.hits import answered_hit

pytestmark = pytest.mark.django_db

API = "/api/v1/matching"


@pytest.fixture
def partner(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="yy.api",
        url="http://127.0.0.1:9/",
        party="Elsewhere",
        agency="Police",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


@pytest.fixture
def case(users):
    actor = Actor.of(users[Role.INVESTIGATOR])
    opened = cases.create_case(actor, {"title": "Phishing", "title_language": "en"})
    cases.add_observable(actor, opened, "domain", "Evil.Example")
    return opened


@pytest.fixture
def hit(case, partner) -> Hit:
    return answered_hit(
        case, partner, "yy.api/abcd/0001", secret="", values=["domain:evil.example"]
    )


def incoming(partner: Peer) -> Query:
    return Query.objects.create(
        id=uuid7(),
        direction=Direction.IN,
        peer=partner,
        case_reference="YY-2026-1",
        purpose="Their case",
        code="domain",
        count=16,
        status=QueryStatus.AWAITING_APPROVAL,
        created_at=timezone.now(),
    )


def test_the_team_sees_its_case_s_hits_and_nothing_secret(client_for, case, hit):
    response = client_for(Role.INVESTIGATOR).get(f"{API}/cases/{case.pk}")
    assert response.status_code == 200
    view = response.json()
    [shown] = view["hits"]
    assert (shown["reference"], shown["normal"], shown["request_details"]) == (
        "yy.api/abcd/0001",
        "evil.example",
        True,
    )
    [query] = view["queries"]
    assert "secret" not in query and "values" not in query


def test_another_investigator_learns_nothing_of_a_case_outside_their_team(case, hit):
    client = Client()
    client.force_login(User.objects.create_user("outsider", password="x", role=Role.INVESTIGATOR))
    assert client.get(f"{API}/cases/{case.pk}").status_code == 404
    assert client.post(f"{API}/hits/{hit.pk}/request").status_code == 404
    assert client.get(f"{API}/queries").json()["count"] == 0


def test_request_details_gives_a_draft_filed_under_the_case(client_for, case, hit):
    response = client_for(Role.INVESTIGATOR).post(f"{API}/hits/{hit.pk}/request")
    assert response.status_code == 201, response.content
    draft = response.json()
    assert draft["state"] == "draft" and draft["reference"]
    assert AuditEvent.objects.filter(
        action=AuditAction.MATCHING_DETAILS, target_id=str(hit.pk)
    ).exists()


def test_hits_followed_up_before_the_field_existed_get_their_request_from_the_audit(
    client_for, case, hit
):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accord.matching.migrations.0002_hit_request")
    first = client_for(Role.INVESTIGATOR).post(f"{API}/hits/{hit.pk}/request").json()
    latest = client_for(Role.INVESTIGATOR).post(f"{API}/hits/{hit.pk}/request").json()
    Hit.objects.filter(pk=hit.pk).update(request=None)  # as before the migration
    migration.link_from_audit(apps, None)
    hit.refresh_from_db()
    assert hit.request is not None and hit.request.reference == latest["reference"]
    assert first["reference"] != latest["reference"]


def test_request_details_drafts_in_the_users_language(client_for, case, hit):
    english = client_for(Role.INVESTIGATOR).post(f"{API}/hits/{hit.pk}/request")
    assert AssistanceRequest.objects.get(reference=english.json()["reference"]).language == "en"
    chinese = client_for(Role.INVESTIGATOR).post(
        f"{API}/hits/{hit.pk}/request", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert chinese.status_code == 201, chinese.content
    draft = AssistanceRequest.objects.get(reference=chinese.json()["reference"])
    assert draft.language == "zh-hans"
    # The text is written in it too: the hit, the case and the value in Chinese.
    assert "命中" in draft.summary and case.reference in draft.summary


def test_a_decided_query_cannot_be_decided_again(client_for, partner):
    query = incoming(partner)
    ca = client_for(Role.CENTRAL_AUTHORITY)
    declined = ca.post(
        f"{API}/queries/{query.pk}/decline",
        data={"reason": "No link to our cases"},
        content_type="application/json",
    )
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    assert OutboxMessage.objects.filter(peer=partner, kind="matching.refused").exists()
    again = ca.post(f"{API}/queries/{query.pk}/approve")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action=AuditAction.MATCHING_REFUSED).exists()


def test_a_decline_without_a_reason_is_refused_with_the_reason(client_for, partner):
    query = incoming(partner)
    response = client_for(Role.CENTRAL_AUTHORITY).post(
        f"{API}/queries/{query.pk}/decline", data={"reason": " "}, content_type="application/json"
    )
    assert response.status_code == 422
    assert "declined" in str(response.json()["detail"])
    assert Query.objects.get(pk=query.pk).status == QueryStatus.AWAITING_APPROVAL


def test_a_policy_names_what_is_wrong_with_it(client_for, partner):
    ca = client_for(Role.CENTRAL_AUTHORITY)
    body = {"types": ["domain", "tarot"], "max_values": 0, "per_day": 10}
    path = f"{API}/policies/{partner.node_id}"
    response = ca.put(path, data=body, content_type="application/json")
    assert response.status_code == 422
    detail = " ".join(response.json()["detail"])
    assert "tarot" in detail and "1 to" in detail
    body = {"types": ["domain"], "max_values": 50, "per_day": 500, "needs_approval": True}
    saved = ca.put(path, data=body, content_type="application/json")
    assert saved.status_code == 200
    [row] = [p for p in ca.get(f"{API}/policies").json() if p["peer"] == partner.node_id]
    assert row["policy"]["types"] == ["domain"] and row["policy"]["needs_approval"] is True


def test_asking_an_unknown_partner_names_it(client_for, case):
    body = {"peers": ["nowhere.test"], "purpose": "p"}
    response = client_for(Role.INVESTIGATOR).post(
        f"{API}/cases/{case.pk}/queries", data=body, content_type="application/json"
    )
    assert response.status_code == 422
    assert "nowhere.test" in str(response.json()["detail"])
