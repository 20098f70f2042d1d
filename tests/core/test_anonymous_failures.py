"""Failures of requests that proved no identity are counted per channel,
reason, address and window (core.tally), not kept or audited one by one; the
counters are capped, summarised once per window in the audit log, and pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from accord.core import tally
from accord.core.audit import AuditAction
from accord.core.models import AuditEvent, FailureTally

pytestmark = pytest.mark.django_db


def sign_in_as(name: str, address: str) -> int:
    client = Client(REMOTE_ADDR=address)
    return client.post("/login/", {"username": name, "password": "guess-1234"}).status_code


def test_sign_ins_under_made_up_names_are_counted_not_audited(users):
    events = AuditEvent.objects.count()
    for n in range(30):
        assert sign_in_as(f"nobody-{n}", "203.0.113.9") == 200
    assert AuditEvent.objects.count() == events
    row = FailureTally.objects.get()
    assert (row.channel, row.reason, row.address, row.count) == (
        "signin",
        "unknown_account",
        "203.0.113.9",
        30,
    )


def test_an_ipv6_client_is_counted_as_its_64(users):
    sign_in_as("nobody", "2001:db8:1:2::1")
    sign_in_as("nobody", "2001:db8:1:2:ffff::9")
    assert list(FailureTally.objects.values_list("address", "count")) == [("2001:db8:1:2::/64", 2)]


def test_unknown_taxii_tokens_are_counted_not_audited(db):
    events = AuditEvent.objects.count()
    for n in range(5):
        response = Client(REMOTE_ADDR="198.51.100.4").get(
            "/taxii2/", HTTP_AUTHORIZATION=f"Bearer made-up-{n}"
        )
        assert response.status_code == 401
    assert AuditEvent.objects.count() == events
    row = FailureTally.objects.get()
    assert (row.channel, row.reason, row.count) == ("taxii", "unknown_token", 5)


@override_settings(ANONYMOUS_MAX_ROWS=10)
def test_the_counters_are_capped_and_new_addresses_share_one(users):
    for n in range(15):
        sign_in_as("nobody", f"192.0.2.{n}")
    assert FailureTally.objects.count() == 11
    assert FailureTally.objects.get(address=tally.OVERFLOW).count == 5


@override_settings(ANONYMOUS_LIMIT=3)
def test_basic_sign_ins_past_the_allowance_are_told_to_wait(db):
    for n in range(3):
        Client(REMOTE_ADDR="198.51.100.5").get("/taxii2/", HTTP_AUTHORIZATION=f"Bearer x{n}")
    response = Client(REMOTE_ADDR="198.51.100.5").get(
        "/taxii2/",
        HTTP_AUTHORIZATION="Basic bm9ib2R5Omd1ZXNz",  # nobody:guess
    )
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    other = Client(REMOTE_ADDR="198.51.100.6").get(
        "/taxii2/", HTTP_AUTHORIZATION="Basic bm9ib2R5Omd1ZXNz"
    )
    assert other.status_code == 401  # another address is not held back


def test_an_ended_window_is_summarised_once_then_pruned(users):
    for n in range(4):
        sign_in_as(f"nobody-{n}", "203.0.113.10")
    sign_in_as("nobody", "203.0.113.11")
    past = timezone.now() - timedelta(days=40)
    FailureTally.objects.update(window_start=past)

    assert tally.summarise() == 1 and tally.summarise() == 0
    event = AuditEvent.objects.get(action=AuditAction.ANONYMOUS_FAILURES)
    assert event.data["total"] == 5 and event.data["addresses"] == 2
    assert event.data["by_reason"] == {"signin:unknown_account": 5}
    assert event.data["busiest"][0] == ["203.0.113.10", 4]
    assert tally.prune() == 2 and not FailureTally.objects.exists()
