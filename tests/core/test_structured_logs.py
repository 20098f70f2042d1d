"""Structured logs (accord.ops.logs): with the JSON format of settings.LOGGING,
each request is one JSON line with its route, status, duration, user id and
request id, and each delivery batch one line with its message ids; neither
ever carries a body, a name or a query string."""

from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

from accord.core.audit import Actor
from accord.core.roles import Role
from accord.federation.delivery import Deliverer
from accord.federation.models import OutboxMessage
from accord.federation.notes import send_pings
from tests.core.test_metrics import receipted
from tests.federation.test_inbox_rejections import RemotePeer

pytestmark = pytest.mark.django_db

Lines = Callable[[], list[dict]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """The node's JSON formatter and request-id filter, as settings.LOGGING
    defines them, on a handler that writes to a buffer."""
    config = copy.deepcopy(settings.LOGGING)  # configuring pops keys from what it reads
    configurator = logging.config.DictConfigurator(config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configurator.configure_formatter(config["formatters"]["json"]))
    handler.addFilter(configurator.configure_filter(config["filters"]["request_id"]))
    logger = logging.getLogger("accord")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


def events(lines: Lines, kind: str) -> list[dict]:
    return [line for line in lines() if line.get("event") == kind]


def test_a_request_is_one_json_line_with_ids_and_no_content(client_for, users, json_lines):
    analyst = users[Role.ANALYST]
    response = client_for(Role.ANALYST).post(
        "/notes/?draft=Operation-NIGHTJAR",
        {"peer": "nowhere.test", "subject": "Operation NIGHTJAR", "text": "Meet at dawn"},
    )
    (line,) = events(json_lines, "request")
    assert line["method"] == "POST"
    assert line["route"] == "notes/"
    assert line["status"] == response.status_code
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_id"] == analyst.pk
    assert line["request_id"] == response["X-Request-ID"]
    assert line["level"] == "INFO" and line["logger"] == "accord.request" and line["time"]
    output = json.dumps(json_lines())
    for secret in ("NIGHTJAR", "Meet at dawn", analyst.username, "draft="):
        assert secret not in output


def test_a_path_with_values_is_logged_as_its_route(client_for, json_lines):
    client_for(Role.NODE_ADMIN).get("/federation/messages/01890000-0000-7000-8000-000000000000/")
    (line,) = events(json_lines, "request")
    assert line["route"] == "federation/messages/<uuid:message_id>/"
    assert "01890000" not in json.dumps(line)


def test_the_load_balancers_request_id_is_kept_and_a_strange_one_replaced(client, json_lines):
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.1")
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="<script> x")
    assert kept["X-Request-ID"] == "lb-7f3a.1"
    assert replaced["X-Request-ID"] != "<script> x" and len(replaced["X-Request-ID"]) == 32
    logged = [line["request_id"] for line in events(json_lines, "request")]
    assert logged == ["lb-7f3a.1", replaced["X-Request-ID"]]


def test_an_anonymous_request_has_no_user_id(client, json_lines):
    client.get("/healthz")
    (line,) = events(json_lines, "request")
    assert (line["route"], line["status"], line["user_id"]) == ("healthz", 200, None)


def test_a_delivery_batch_logs_its_message_ids_and_outcome_never_the_bodies(json_lines):
    remote = RemotePeer.create("zz.logs")
    send_pings(Actor.system("test"), remote.peer, 2, size=16)
    messages = list(OutboxMessage.objects.filter(peer=remote.peer).order_by("seq"))
    deliverer = Deliverer(timeout=2)
    deliverer.send_batch(remote.peer, messages)  # nobody listens at the peer's address
    for message in messages:
        message.refresh_from_db()
    deliverer.settle(remote.peer, messages, receipted(remote, messages, "applied"))

    failed, delivered = events(json_lines, "delivery_batch")
    ids = [str(message.id) for message in messages]
    assert (failed["peer"], failed["message_ids"], failed["outcome"]) == (
        "zz.logs",
        ids,
        "transient_failure",
    )
    assert failed["error"].startswith("network:") and failed["level"] == "WARNING"
    assert failed["duration_ms"] is None
    assert (delivered["message_ids"], delivered["outcome"]) == (ids, "delivered")
    assert (delivered["applied"], delivered["refused"], delivered["http_status"]) == (2, 0, 200)
    assert (delivered["first_seq"], delivered["last_seq"]) == (1, 2)
    output = json.dumps(json_lines())
    for message in messages:
        assert message.body[:40] not in output
