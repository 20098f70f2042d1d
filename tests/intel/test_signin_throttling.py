"""TAXII Basic sign-ins are throttled per (account name, address), like the
web sign-in (issue 14, finding 1): a stranger's wrong passwords slow down the
stranger only, and neither a remembered password nor a disabled account gets
past the check. In process, against the TAXII views through Django's test client."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.intel import accounts

pytestmark = pytest.mark.django_db

TAXII = "application/taxii+json;version=2.1"
PASSWORD = "paging-tool-password-0123"
STRANGER, OWNER = "198.51.100.9", "203.0.113.7"


@pytest.fixture
def tool(settings):
    settings.LOGIN_MAX_FAILURES = settings.AXES_FAILURE_LIMIT = 3
    accounts._VERIFIED.clear()
    return accounts.add_account(Actor.system("cli"), "paging-tool", PASSWORD, read=[], write=[])


def discovery(address: str, password: str) -> int:
    credentials = base64.b64encode(f"paging-tool:{password}".encode()).decode()
    return (
        Client(REMOTE_ADDR=address)
        .get("/taxii2/", HTTP_ACCEPT=TAXII, HTTP_AUTHORIZATION="Basic " + credentials)
        .status_code
    )


def test_a_strangers_wrong_passwords_slow_down_only_the_stranger(tool):
    assert [discovery(STRANGER, f"wrong-{n}") for n in range(3)] == [401, 401, 429]
    assert discovery(STRANGER, PASSWORD) == 429
    assert discovery(OWNER, PASSWORD) == 200
    [burst] = AuditEvent.objects.filter(action=AuditAction.SIGNIN_THROTTLED)
    assert (burst.target_type, burst.target_id, burst.ip) == (
        "intel.account",
        "paging-tool",
        STRANGER,
    )


def test_a_remembered_password_does_not_get_a_throttled_address_in(tool):
    assert discovery(STRANGER, PASSWORD) == 200  # verified, so remembered for minutes
    for n in range(3):
        discovery(STRANGER, f"wrong-{n}")
    assert discovery(STRANGER, PASSWORD) == 429


def test_a_remembered_password_does_not_get_a_disabled_account_in(tool):
    assert discovery(OWNER, PASSWORD) == 200
    accounts.set_active(Actor.system("cli"), tool, False)
    assert discovery(OWNER, PASSWORD) == 401
