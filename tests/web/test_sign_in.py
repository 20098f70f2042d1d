"""Signing in and out, and failed attempts, are audited; pages need a session."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client

from accord.core.audit import AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db

STRANGER, OWNER = "198.51.100.9", "203.0.113.7"


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


def test_anonymous_visitor_is_sent_to_sign_in():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_sign_in_is_audited_with_the_address(users):
    client = Client(REMOTE_ADDR="203.0.113.7")
    response = client.post("/login/", {"username": "analyst-user", "password": TEST_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    event = last_event()
    assert (event.action, event.actor, event.ip) == (
        AuditAction.LOGIN,
        "user:analyst-user",
        "203.0.113.7",
    )


def test_failed_sign_in_is_audited_without_the_password(users):
    response = Client().post("/login/", {"username": "analyst-user", "password": "guess-1234"})
    assert response.status_code == 200
    assert "guess-1234" not in response.content.decode()
    event = last_event()
    assert event.action == AuditAction.LOGIN_FAILED
    assert event.data == {"username": "analyst-user"}
    assert "guess-1234" not in str(event.data)


def test_sign_out_needs_post_and_is_audited(client_for):
    client = client_for(Role.AUDITOR)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert last_event().action == AuditAction.LOGOUT
    assert client.get("/").status_code == 302


def test_dashboard_shows_node_and_role(client_for, test_node_identity):
    page = client_for(Role.CENTRAL_AUTHORITY).get("/").content.decode()
    assert test_node_identity.fingerprint in page
    assert "Central-authority officer" in page
    assert 'data-area="users"' not in page


def test_refused_page_says_so_and_is_audited(client_for):
    response = client_for(Role.ANALYST).get("/admin/users/")
    assert response.status_code == 403
    assert "recorded in the audit log" in response.content.decode()
    assert last_event().action == AuditAction.ACCESS_DENIED


def sign_in(address: str, password: str, username: str = "analyst-user") -> HttpResponse:
    client = Client(REMOTE_ADDR=address)
    return client.post("/login/", {"username": username, "password": password})


def test_a_strangers_failures_slow_down_the_stranger_not_the_owner(users, settings):
    settings.LOGIN_MAX_FAILURES = settings.AXES_FAILURE_LIMIT = 3
    assert [sign_in(STRANGER, f"wrong-guess-{n}").status_code for n in range(3)] == [200, 200, 429]
    refused = sign_in(STRANGER, TEST_PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account from your address" in refused.content.decode()
    assert last_event().action == AuditAction.LOGIN_FAILED
    # The owner, from an address with no failures, still gets in.
    assert sign_in(OWNER, TEST_PASSWORD).status_code == 302


def test_a_burst_is_audited_once_and_shown_to_the_owner_and_the_node_admin(
    users, settings, client_for
):
    settings.LOGIN_MAX_FAILURES = settings.AXES_FAILURE_LIMIT = 3
    for n in range(5):
        sign_in(STRANGER, f"wrong-guess-{n}")
    [burst] = AuditEvent.objects.filter(action=AuditAction.SIGNIN_THROTTLED)
    assert (burst.target_id, burst.ip, burst.data["failures"]) == ("analyst-user", STRANGER, 3)
    for role in (Role.ANALYST, Role.NODE_ADMIN):
        notice = client_for(role).get("/").content.decode()
        assert 'data-testid="signin-bursts"' in notice and STRANGER in notice
    assert 'data-testid="signin-bursts"' not in client_for(Role.AUDITOR).get("/").content.decode()
