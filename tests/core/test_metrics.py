"""GET /metrics (accord.ops): who may scrape it, what a refused scrape leaves
behind (a count, not an audit event each), and that every value it reports
is what the database holds, built through the services a node runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from accord.assistance.metrics import compute
from accord.assistance.models import AssistanceRequest
from accord.cases.jobs import run_import
from accord.core import services as core_services
from accord.core.audit import Actor
from accord.core.models import AuditEvent, FailureTally
from accord.core.roles import Role
from accord.federation.delivery import Deliverer
from accord.federation.envelope import Envelope, make_receipt
from accord.federation.models import OutboxMessage
from accord.federation.notes import send_pings
from accord.federation.outbox import outbox_envelope
from accord.ops.metrics import NodeCollector
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch
from tests.objects import Builder, make_partner, make_people

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token-" + "k" * 32
DENIED = "core:access:denied"
Samples = dict[tuple[str, frozenset], float]


def scrape(client: Client | None = None, token: str | None = TOKEN, **headers: str) -> Samples:
    client = client or Client()
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    with override_settings(METRICS_TOKEN=TOKEN):
        response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def receipted(remote: RemotePeer, messages: list[OutboxMessage], status: str) -> httpx.Response:
    """The peer's answer to a batch: a receipt signed with its key for each message."""
    now = datetime.now(UTC)
    receipts = [
        make_receipt(
            Envelope(**outbox_envelope(message, now)),
            status,
            "a reason" if status == "refused" else None,
            now,
            remote.signing_key,
        )
        for message in messages
    ]
    return httpx.Response(200, json={"receipts": receipts})


# ---------------------------------------------------------------- who may scrape


def test_a_scrape_without_credentials_is_refused_and_counted_not_audited():
    events = AuditEvent.objects.count()
    for _ in range(3):
        response = Client().get("/metrics")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    tally = FailureTally.objects.get(channel="metrics")
    assert (tally.reason, tally.count) == ("no_credentials", 3)
    assert AuditEvent.objects.count() == events


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_wrong_token_is_refused_and_counted():
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + TOKEN[:-1] + "x")
    assert response.status_code == 401
    assert FailureTally.objects.get(channel="metrics").reason == "wrong_token"
    assert b"accord_" not in response.content


def test_no_token_is_accepted_while_none_is_configured():
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


@override_settings(METRICS_TOKEN=TOKEN, ANONYMOUS_LIMIT=2)
def test_an_address_past_its_allowance_waits_but_the_right_token_still_scrapes():
    for _ in range(2):
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    throttled = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_an_officer_without_the_permission_is_refused_and_audited(client_for):
    denied = AuditEvent.objects.filter(action=DENIED).count()
    assert client_for(Role.INVESTIGATOR).get("/metrics").status_code == 403
    event = AuditEvent.objects.filter(action=DENIED).latest("seq")
    assert AuditEvent.objects.filter(action=DENIED).count() == denied + 1
    assert (event.target_id, event.data["what"]) == ("core.view_metrics", "metrics")


@pytest.mark.parametrize("role", [Role.NODE_ADMIN, Role.AUDITOR])
def test_a_node_administrator_or_auditor_signed_in_may_read_them(client_for, role):
    samples = scrape(client_for(role), token=None)
    assert value(samples, "accord_audit_events") >= 1


# ---------------------------------------------------------------- what it reports


def test_the_outbox_metrics_are_the_queue_the_receipts_and_their_latency():
    remote = RemotePeer.create("zz.metrics")
    send_pings(Actor.system("test"), remote.peer, 3)
    first, second, third = OutboxMessage.objects.filter(peer=remote.peer).order_by("seq")
    now = datetime.now(UTC)
    OutboxMessage.objects.filter(pk=first.pk).update(created_at=now - timedelta(seconds=100))
    OutboxMessage.objects.filter(pk=third.pk).update(created_at=now - timedelta(hours=1))
    deliverer = Deliverer()
    for message, status in ((first, "applied"), (second, "refused")):
        message.refresh_from_db()
        deliverer.settle(remote.peer, [message], receipted(remote, [message], status))

    samples = scrape()
    peer = {"peer": "zz.metrics"}
    assert value(samples, "accord_outbox_depth", **peer) == 1
    oldest = value(samples, "accord_outbox_oldest_undelivered_seconds", **peer)
    assert 3600 <= oldest < 3600 + 120
    assert value(samples, "accord_outbox_receipts_total", status="applied", **peer) == 1
    assert value(samples, "accord_outbox_receipts_total", status="refused", **peer) == 1
    latency = "accord_outbox_receipt_latency_seconds"
    assert value(samples, latency + "_bucket", le="60.0", **peer) == 1  # the second
    assert value(samples, latency + "_bucket", le="300.0", **peer) == 2  # and the first
    assert value(samples, latency + "_count", **peer) == 2
    assert 100 <= value(samples, latency + "_sum", **peer) < 100 + 120
    assert value(samples, "accord_peer_blocked", **peer) == 0
    assert value(samples, "accord_peer_last_delivery_timestamp_seconds", **peer) >= now.timestamp()


def test_receipts_are_counted_once_across_scrapes_and_never_past_a_waiting_message():
    remote = RemotePeer.create("zz.counted")
    send_pings(Actor.system("test"), remote.peer, 3)
    first, second, third = OutboxMessage.objects.filter(peer=remote.peer).order_by("seq")
    deliverer = Deliverer()
    peer = {"peer": "zz.counted"}
    applied = "accord_outbox_receipts_total"

    deliverer.settle(remote.peer, [first], receipted(remote, [first], "applied"))
    assert value(scrape(), applied, status="applied", **peer) == 1
    assert value(scrape(), applied, status="applied", **peer) == 1  # not counted twice
    # The third is receipted before the second (it cannot happen on a real
    # channel, which goes in seq order): it is counted once the second is.
    deliverer.settle(remote.peer, [third], receipted(remote, [third], "applied"))
    assert value(scrape(), applied, status="applied", **peer) == 1
    deliverer.settle(remote.peer, [second], receipted(remote, [second], "refused"))
    samples = scrape()
    assert value(samples, applied, status="applied", **peer) == 2
    assert value(samples, applied, status="refused", **peer) == 1
    assert value(samples, "accord_outbox_receipt_latency_seconds_count", **peer) == 3


def test_the_inbox_and_its_rejections_are_counted_by_peer_and_by_reason(
    django_capture_on_commit_callbacks,
):
    remote = RemotePeer.create("zz.sender")
    client = Client()
    answer = client.post(INBOX, batch(remote.envelope(1)), content_type="application/json")
    assert answer.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # the count is kept after commit
        junk = client.post(INBOX, b"not json", content_type="application/json")
    assert junk.status_code == 400

    samples = scrape()
    peer = {"peer": "zz.sender"}
    assert value(samples, "accord_inbox_messages_total", status="applied", **peer) == 1
    assert value(samples, "accord_inbox_messages_total", status="refused", **peer) == 0
    rejected = value(samples, "accord_rejections_last_hour", channel="inbox", reason="malformed")
    assert rejected == 1


def test_requests_are_counted_by_direction_and_state_and_the_overdue_ones_as_the_dashboard_does():
    builder = Builder(make_partner(), make_people())
    for name in ("requesting-draft", "requesting-submitted", "requested-submitted"):
        builder.build(name)
    builder.build("requested-received")

    samples = scrape()
    assert value(samples, "accord_requests", direction="outgoing", state="draft") == 1
    assert value(samples, "accord_requests", direction="outgoing", state="submitted") == 1
    assert value(samples, "accord_requests", direction="incoming", state="submitted") == 1
    assert value(samples, "accord_requests", direction="incoming", state="received") == 1
    assert value(samples, "accord_requests", direction="incoming", state="closed") == 0
    assert value(samples, "accord_requests_overdue", direction="incoming") == 0

    # A quarter later, every deadline not met has passed: the same count as
    # the turnaround metrics (assistance.metrics), which reads each request's deadlines.
    later = datetime.now(UTC) + timedelta(days=90)
    expected = compute(AssistanceRequest.objects.all(), later)["overdue"]
    assert expected["incoming"] >= 1 and expected["outgoing"] >= 1
    families = {family.name: family for family in NodeCollector(now=later).collect()}
    overdue = {s.labels["direction"]: s.value for s in families["accord_requests_overdue"].samples}
    assert overdue == expected


def test_the_audit_chain_its_last_verification_and_the_task_queue(system):
    never = scrape()
    assert value(never, "accord_audit_last_verification_timestamp_seconds") == 0
    before = datetime.now(UTC).timestamp()
    assert core_services.verify_audit(system).ok
    job_ids = [str(uuid.uuid4()) for _ in range(2)]
    for job_id in job_ids:
        run_import.enqueue(job_id)

    samples = scrape()
    assert value(samples, "accord_audit_events") == AuditEvent.objects.count()
    assert value(samples, "accord_audit_last_verification_ok") == 1
    assert value(samples, "accord_audit_last_verification_timestamp_seconds") >= before
    assert value(samples, "accord_task_queue_depth", queue="default", status="ready") == 2
    assert value(samples, "accord_task_queue_depth", queue="default", status="running") == 0
    assert value(samples, "accord_task_oldest_ready_seconds", queue="default") >= 0
