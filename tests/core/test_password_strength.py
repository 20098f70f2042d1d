"""A guessable password is refused wherever a password is set (issue 14,
finding 11): zxcvbn's estimate must reach 4 of 4, so `admin-admin` no longer
passes, and the reason is given in the user's language."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accord.core import services
from accord.core.demo import DEMO_PASSWORD, USERNAMES
from accord.core.models import User
from accord.core.roles import Role
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db

WEAK = "admin-admin"


def test_createuser_refuses_a_guessable_password(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(WEAK + "\n"))
    with pytest.raises(CommandError, match="too guessable"):
        call_command("createuser", "admin", "--role", "node_admin", "--password-stdin")
    assert not User.objects.filter(username="admin").exists()


def test_the_user_admin_page_says_why_in_chinese(users, client_for):
    services.set_language(users[Role.NODE_ADMIN], "zh-hans")
    page = client_for(Role.NODE_ADMIN).post(
        "/admin/users/",
        {"username": "admin", "role": "node_admin", "password": WEAK, "password_again": WEAK},
    )
    assert page.status_code == 200 and "您的密码太容易猜测" in page.content.decode()
    assert not User.objects.filter(username="admin").exists()


def test_a_user_cannot_change_to_a_guessable_password(users):
    analyst = users[Role.ANALYST]
    with pytest.raises(ValidationError, match="too guessable"):
        services.change_password(analyst, TEST_PASSWORD, WEAK)
    analyst.refresh_from_db()
    assert analyst.check_password(TEST_PASSWORD)


def test_the_demo_password_is_strong_enough_for_every_demo_user():
    for role, username in USERNAMES.items():
        password_validation.validate_password(DEMO_PASSWORD, User(username=username, role=role))
