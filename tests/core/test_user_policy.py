"""The user policy: managing people follows the permission table, and no
administrator changes their own role or locks themselves out; the Users page
offers exactly what it allows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from accord.core import services
from accord.core.audit import Actor
from accord.core.policy import FORBIDDEN, UNPROCESSABLE
from accord.core.roles import Role
from accord.core.user_policy import Action, allowed

pytestmark = pytest.mark.django_db


def test_only_administrators_manage_people(users):
    assert allowed(users[Role.NODE_ADMIN], Action.CREATE_USER) is None
    refusal = allowed(users[Role.AUDITOR], Action.CREATE_USER)
    assert refusal is not None and refusal.status == FORBIDDEN
    assert allowed(users[Role.AUDITOR], Action.VERIFY_AUDIT) is None


@pytest.mark.parametrize("action", [Action.CHANGE_ROLE, Action.SET_ACTIVE])
def test_an_administrator_cannot_change_their_own_account(users, action):
    admin = users[Role.NODE_ADMIN]
    refusal = allowed(admin, action, admin)
    assert refusal is not None and refusal.status == UNPROCESSABLE
    assert allowed(admin, action, users[Role.ANALYST]) is None


def test_the_service_refuses_what_the_policy_refuses(users):
    admin = users[Role.NODE_ADMIN]
    with translation.override("en"), pytest.raises(ValidationError, match="your own role"):
        services.change_role(Actor.of(admin), admin, "analyst")


def test_the_users_page_offers_no_change_to_ones_own_account(client_for, users):
    page = client_for(Role.NODE_ADMIN).get("/admin/users/").content.decode()
    admin, analyst = users[Role.NODE_ADMIN], users[Role.ANALYST]
    assert f"/admin/users/{analyst.pk}/role/" in page
    assert f"/admin/users/{analyst.pk}/active/" in page
    assert f"/admin/users/{admin.pk}/role/" not in page
    assert f"/admin/users/{admin.pk}/active/" not in page
