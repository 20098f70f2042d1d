"""Behind a load balancer every client arrives from the balancer's address.
With ACCORD_TRUSTED_PROXIES naming it, the client's own address is read from
X-Forwarded-For, so a stranger's failures still slow down only the stranger;
without it, the header is anyone's to write and is ignored."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest
from django.http import HttpResponse
from django.test import Client

from accord.core.audit import AuditAction
from accord.core.models import AuditEvent
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db

BALANCER, STRANGER, OWNER = "10.0.0.5", "198.51.100.9", "203.0.113.7"


@pytest.fixture
def behind_balancer(settings):
    settings.TRUSTED_PROXIES = (ipaddress.ip_network("10.0.0.0/24"),)
    settings.LOGIN_MAX_FAILURES = settings.AXES_FAILURE_LIMIT = 3


def sign_in(forwarded_for: str, password: str) -> HttpResponse:
    client = Client(REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=forwarded_for)
    return client.post("/login/", {"username": "analyst-user", "password": password})


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


def test_behind_a_trusted_balancer_a_strangers_failures_do_not_lock_out_the_owner(
    users, behind_balancer
):
    assert [sign_in(STRANGER, f"wrong-guess-{n}").status_code for n in range(3)] == [200, 200, 429]
    assert last_event().ip == STRANGER
    # The owner arrives through the same balancer and still gets in.
    assert sign_in(OWNER, TEST_PASSWORD).status_code == 302
    assert (last_event().action, last_event().ip) == (AuditAction.LOGIN, OWNER)


def test_only_the_nearest_untrusted_hop_is_believed(users, behind_balancer):
    # The client wrote a hop of its own before the balancer appended the real one.
    sign_in(f"192.0.2.1, {STRANGER}, 10.0.0.7", "wrong-guess")
    assert last_event().ip == STRANGER


def test_a_hop_that_is_not_an_address_leaves_the_balancers_address(users, behind_balancer):
    sign_in("unknown", "wrong-guess")
    assert last_event().ip == BALANCER


def test_without_trusted_proxies_the_header_is_ignored(users, settings):
    settings.LOGIN_MAX_FAILURES = settings.AXES_FAILURE_LIMIT = 3
    statuses = [sign_in(f"192.0.2.{n}", f"wrong-guess-{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]  # a stranger cannot escape by changing the header
    assert last_event().ip == BALANCER


def test_a_trusted_proxy_from_a_request_not_through_it_is_not_believed(users, behind_balancer):
    client = Client(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR=OWNER)
    client.post("/login/", {"username": "analyst-user", "password": "wrong-guess"})
    assert last_event().ip == STRANGER


def test_a_setting_that_is_not_a_network_stops_the_node_with_the_reason(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update(
        ACCORD_DATA_DIR=str(tmp_path),
        ACCORD_TRUSTED_PROXIES="10.0.0.0/8, balancer.example",
        DJANGO_SETTINGS_MODULE="accord.settings",
    )
    result = subprocess.run(
        [sys.executable, "-m", "accord.cli", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "ACCORD_TRUSTED_PROXIES must list IP addresses or networks" in result.stderr
    assert "'balancer.example'" in result.stderr
