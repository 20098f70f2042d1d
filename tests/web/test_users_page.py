"""The node administrator manages people from the Users page, through services."""

from __future__ import annotations

import pytest

from accord.core.audit import AuditAction
from accord.core.models import AuditEvent, User
from accord.core.roles import Role

pytestmark = pytest.mark.django_db


def test_admin_adds_a_user(client_for):
    client = client_for(Role.NODE_ADMIN)
    response = client.post(
        "/admin/users/",
        {
            "username": "wang.fang",
            "full_name": "Wang Fang",
            "email": "",
            "role": "prosecutor",
            "password": "a-long-passphrase-9",
            "password_again": "a-long-passphrase-9",
        },
    )
    assert response.status_code == 302
    made = User.objects.get(username="wang.fang")
    assert made.role == Role.PROSECUTOR and made.first_name == "Wang Fang"


def test_mismatched_passwords_create_nobody(client_for):
    before = User.objects.count()
    response = client_for(Role.NODE_ADMIN).post(
        "/admin/users/",
        {
            "username": "x1",
            "role": "analyst",
            "password": "a-long-passphrase-9",
            "password_again": "different-passphrase-9",
        },
    )
    assert response.status_code == 200
    assert "The two passwords differ." in response.content.decode()
    assert User.objects.count() == before


def test_admin_changes_a_role_and_deactivates(client_for, users):
    client = client_for(Role.NODE_ADMIN)
    target = users[Role.INVESTIGATOR]
    client.post(f"/admin/users/{target.pk}/role/", {"role": "analyst"})
    client.post(f"/admin/users/{target.pk}/active/", {})
    target.refresh_from_db()
    assert target.role == Role.ANALYST and not target.is_active
    actions = list(AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[:2])
    assert actions == [AuditAction.USER_DEACTIVATE, AuditAction.USER_ROLE_CHANGE]


def test_audit_page_verifies_the_chain(client_for):
    client = client_for(Role.AUDITOR)
    response = client.post("/audit/verify/", follow=True)
    assert "The audit log is intact" in response.content.decode()


def test_a_user_changes_their_own_password_on_the_page(client_for, users):
    from tests.live import TEST_PASSWORD

    client = client_for(Role.ANALYST)
    mismatch = client.post(
        "/account/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password": "brand-new-passphrase-1",
            "new_password_again": "brand-new-passphrase-2",
        },
    )
    assert "The two passwords differ." in mismatch.content.decode()
    users[Role.ANALYST].refresh_from_db()
    assert users[Role.ANALYST].check_password(TEST_PASSWORD)
    done = client.post(
        "/account/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password": "brand-new-passphrase-1",
            "new_password_again": "brand-new-passphrase-1",
        },
    )
    assert done.status_code == 302
    users[Role.ANALYST].refresh_from_db()
    assert users[Role.ANALYST].check_password("brand-new-passphrase-1")
    assert client.get("/").status_code == 200  # still signed in after the change
