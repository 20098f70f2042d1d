"""The interface language is chosen per user and follows the user."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from accord.core.roles import Role
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(text)


def test_catalogue_is_compiled_and_translates():
    assert zh("Dashboard") != "Dashboard"


def test_choice_sticks_to_the_user_across_browsers(users):
    first = Client()
    first.force_login(users[Role.ANALYST])
    response = first.post("/language/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    users[Role.ANALYST].refresh_from_db()
    assert users[Role.ANALYST].language == "zh-hans"

    elsewhere = Client()  # another browser: no cookie
    elsewhere.force_login(users[Role.ANALYST])
    page = elsewhere.get("/").content.decode()
    assert '<html lang="zh-Hans">' in page
    assert zh("Dashboard") in page

    other_user = Client()
    other_user.force_login(users[Role.AUDITOR])
    assert '<html lang="en">' in other_user.get("/").content.decode()


def test_anonymous_choice_is_kept_in_a_cookie():
    client = Client()
    client.post("/language/", {"language": "zh-hans", "next": "/login/"})
    assert client.cookies["accord_language"].value == "zh-hans"
    assert zh("Sign in to Accord") in client.get("/login/").content.decode()


def test_unknown_language_changes_nothing(users):
    client = Client()
    client.force_login(users[Role.ANALYST])
    client.post("/language/", {"language": "xx", "next": "/"})
    users[Role.ANALYST].refresh_from_db()
    assert users[Role.ANALYST].language == ""


def test_redirect_stays_on_this_site(users):
    response = Client().post("/language/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_sign_in_restores_the_users_language_in_the_browser(users):
    from accord.core import services

    services.set_language(users[Role.ANALYST], "zh-hans")
    client = Client()
    client.post("/login/", {"username": "analyst-user", "password": TEST_PASSWORD})
    assert client.cookies["accord_language"].value == "zh-hans"
    client.post("/logout/")
    assert zh("Sign in to Accord") in client.get("/login/").content.decode()
