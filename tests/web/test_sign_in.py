"""Signing in and out, and failed attempts, are audited; pages need a session."""

from __future__ import annotations

import pytest
from django.test import Client

from accord.core.audit import AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db


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


def test_too_many_failures_lock_the_account_for_a_while(users, settings):
    settings.LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        client.post("/login/", {"username": "analyst-user", "password": "wrong-guess-1"})
    response = client.post("/login/", {"username": "analyst-user", "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()
    assert last_event().action == AuditAction.LOGIN_FAILED
    # Other accounts are not affected.
    other = Client().post("/login/", {"username": "auditor-user", "password": TEST_PASSWORD})
    assert other.status_code == 302
