"""The request pages in one process: forms per type, need-to-know, audited reads,
print view and the dashboard panel. (Two-node behaviour: test_lifecycle.py.)"""

from __future__ import annotations

import base64
import os

import pytest
from django.urls import reverse

from accord.assistance import services
from accord.assistance.models import AssistanceRequest
from accord.assistance.types import RequestType
from accord.core.audit import Actor
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.flow import request_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="us.page",
        url="http://127.0.0.1:9/",
        party="US",
        agency="DoJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def draft(users, peer, request_type: str = "data_order", **overrides) -> AssistanceRequest:
    body = request_body(request_type, peer.node_id, **overrides)
    body.pop("peer")
    return services.create_request(Actor.of(users[Role.INVESTIGATOR]), peer, body)


@pytest.mark.parametrize("request_type", RequestType.values)
def test_the_form_asks_for_what_each_type_needs(client_for, users, peer, request_type):
    page = client_for(Role.INVESTIGATOR).get(reverse("assistance:create") + f"?type={request_type}")
    assert page.status_code == 200
    html = page.content.decode()
    own = {
        "preservation": "d_full_request_follows",
        "data_order": "d_issuer_is_judicial",
        "general_evidence": "d_measures",
        "locate_person": "d_family_name",
        "spontaneous": "c_1_kind",
        "stored_data": "d_risk_of_loss",
        "traffic_disclosure": "d_provider_and_path",
        "identity_verification": "d_documents",
    }[request_type]
    assert f'name="{own}"' in html
    assert 'name="d_issuer_is_judicial"' in html or request_type != "data_order"


def test_a_draft_is_created_from_the_form(client_for, users, peer):
    form = {
        "request_type": "data_order",
        "peer": peer.node_id,
        "legal_basis": "bilateral",
        "requesting_authority": "Shanghai PSB",
        "central_authority": "MPS",
        "summary": "电信诈骗（测试）",
        "purpose": "Identify",
        "urgency": "standard",
        "language": "zh-hans",
        "signer": "张伟",
        "offence_1_label": "诈骗",
        "offence_1_statute": "Art. 266",
        "offence_1_penalty": "10",
        "offence_1_category": "fraud",
        "d_data_category": "subscriber",
        "d_identifiers": "phone +86 138 0013 8000\n",
        "d_issuer": "Procuratorate",
    }
    response = client_for(Role.INVESTIGATOR).post(reverse("assistance:create"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    created = AssistanceRequest.objects.get()
    assert created.details["identifiers"] == [
        {"kind": "phone", "value": "+8613800138000", "observed_at": None}
    ]
    assert created.state == "draft" and created.outgoing


def test_traffic_data_for_a_minor_offence_is_refused_with_a_reason(client_for, peer):
    form = {
        "request_type": "data_order",
        "peer": peer.node_id,
        "legal_basis": "bilateral",
        "requesting_authority": "A",
        "central_authority": "B",
        "summary": "S",
        "purpose": "P",
        "urgency": "standard",
        "language": "en",
        "signer": "X",
        "offence_1_label": "Minor",
        "offence_1_statute": "Art. 1",
        "offence_1_penalty": "1",
        "offence_1_category": "fraud",
        "d_data_category": "traffic",
        "d_identifiers": "account someone",
        "d_issuer": "Police",
        "d_issuer_is_judicial": "",
    }
    response = client_for(Role.INVESTIGATOR).post(reverse("assistance:create"), form)
    assert response.status_code == 200
    assert "at least 3 years" in response.content.decode()
    assert "judicial issuer" in response.content.decode()
    assert not AssistanceRequest.objects.exists()


def test_only_investigators_draft(users, peer):
    with pytest.raises(services.TransitionRefused) as refused:
        body = request_body("spontaneous", peer.node_id)
        body.pop("peer")
        services.create_request(Actor.of(users[Role.CENTRAL_AUTHORITY]), peer, body)
    assert refused.value.status == 403
    assert not AssistanceRequest.objects.exists()
    assert AuditEvent.objects.filter(action="assistance:request:action-refused").count() == 1


def test_every_read_of_a_request_is_audited(client_for, users, peer):
    request = draft(users, peer)
    before = AuditEvent.objects.filter(action="assistance:request:read").count()
    page = client_for(Role.INVESTIGATOR).get(reverse("assistance:detail", args=[request.pk]))
    assert page.status_code == 200
    assert request.reference in page.content.decode()
    assert AuditEvent.objects.filter(action="assistance:request:read").count() == before + 1


def test_a_confidential_request_is_hidden_from_those_without_need_to_know(client_for, users, peer):
    request = draft(users, peer, confidential=True, confidentiality_reasons="Ongoing operation")
    author = Actor.of(users[Role.INVESTIGATOR])
    services.perform(author, request, "send_for_validation", version=request.version)
    request.refresh_from_db()
    services.perform(Actor.of(users[Role.PROSECUTOR]), request, "validate", version=request.version)
    from accord.core import services as core

    other = core.create_user(
        Actor.system("test"), "other-investigator", Role.INVESTIGATOR, "correct-horse-battery-9"
    )
    client = client_for(None)
    client.force_login(other)
    listing = client.get(reverse("assistance:list"))
    assert request.reference not in listing.content.decode()
    assert client.get(reverse("assistance:detail", args=[request.pk])).status_code == 404
    # The central authority and the auditor see it; so does the team.
    for role in (Role.CENTRAL_AUTHORITY, Role.AUDITOR, Role.INVESTIGATOR, Role.PROSECUTOR):
        listing = client_for(role).get(reverse("assistance:list"))
        assert request.reference in listing.content.decode(), role


def test_a_non_confidential_request_is_listed_but_not_opened_by_outsiders(client_for, users, peer):
    request = draft(users, peer)
    services.perform(
        Actor.of(users[Role.INVESTIGATOR]), request, "send_for_validation", version=request.version
    )
    from accord.core import services as core

    other = core.create_user(
        Actor.system("test"), "other-investigator", Role.INVESTIGATOR, "correct-horse-battery-9"
    )
    client = client_for(None)
    client.force_login(other)
    assert request.reference in client.get(reverse("assistance:list")).content.decode()
    assert client.get(reverse("assistance:detail", args=[request.pk])).status_code == 404


def test_the_print_view_speaks_the_language_asked_for(client_for, users, peer):
    request = draft(users, peer)
    client = client_for(Role.INVESTIGATOR)
    english = client.get(reverse("assistance:print", args=[request.pk]) + "?lang=en")
    assert "Request for mutual legal assistance" in english.content.decode()
    chinese = client.get(reverse("assistance:print", args=[request.pk]) + "?lang=zh-hans")
    assert 'lang="zh-hans"' in chinese.content.decode()
    assert AuditEvent.objects.filter(action="assistance:request:export").count() == 2


def test_a_draft_is_edited_only_by_an_investigator_while_it_is_a_draft(client_for, users, peer):
    request = draft(users, peer)
    form_page = client_for(Role.INVESTIGATOR).get(reverse("assistance:edit", args=[request.pk]))
    assert form_page.status_code == 200
    body = request_body("data_order", peer.node_id, summary="Changed")
    body.pop("peer")
    with pytest.raises(services.TransitionRefused):
        services.update_draft(Actor.of(users[Role.CENTRAL_AUTHORITY]), request, body)
    services.update_draft(Actor.of(users[Role.INVESTIGATOR]), request, body)
    request.refresh_from_db()
    assert request.summary == "Changed"


def test_the_dashboard_shows_the_turnaround_panel(client_for, users, peer):
    draft(users, peer)
    page = client_for(Role.CENTRAL_AUTHORITY).get(reverse("web:dashboard"))
    assert 'data-testid="request-metrics"' in page.content.decode()
    analyst = client_for(Role.ANALYST).get(reverse("web:dashboard"))
    assert 'data-testid="request-metrics"' not in analyst.content.decode()
