"""The assistance API fuzzed from its OpenAPI schema: whatever arrives, the
answer is a clear 4xx or a success, never a server error, and nothing changes
unless the input was valid."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.api import api
from accord.assistance import services, wire
from accord.core.audit import Actor
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.flow import request_body

pytestmark = pytest.mark.django_db

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
ACTIONS = st.sampled_from(
    [
        "validate",
        "submit",
        "accept",
        "refuse",
        "respond",
        "withdraw",
        "preserve",
        "lapse",
        "nonsense",
        "",
    ]
)


def assistance_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith("/api/v1/assistance/") and method.upper() != "GET"
    )


@pytest.fixture
def world(users, client_for):
    key = base64.b64encode(os.urandom(32)).decode()
    peer = Peer.objects.create(
        node_id="us.fuzz",
        url="http://127.0.0.1:9/",
        party="US",
        agency="DoJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )
    body = request_body("data_order", peer.node_id)
    body.pop("peer")
    draft = services.create_request(Actor.of(users[Role.INVESTIGATOR]), peer, body)
    return draft, client_for


def fill(path: str, request_id: str) -> str:
    return path.replace("{request_id}", request_id).replace("{sha256}", "0" * 64)


@pytest.mark.parametrize(("method", "path"), assistance_operations())
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=JSON, action=ACTIONS, role=st.sampled_from(list(Role)))
def test_no_input_makes_the_api_fail(world, method, path, body, action, role):
    draft, client_for = world
    if path.endswith("/actions") and isinstance(body, dict):
        body = {"action": action, "version": body.get("v", draft.version), **body}
    client = client_for(role)
    before = wire.shared_view(draft)
    response = client.generic(
        method, fill(path, str(draft.pk)), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        draft.refresh_from_db()
        assert wire.shared_view(draft) == before


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    query=st.dictionaries(
        st.sampled_from(
            [
                "direction",
                "state",
                "request_type",
                "urgency",
                "overdue",
                "topic",
                "q",
                "limit",
                "offset",
            ]
        ),
        st.text(max_size=20),
        max_size=5,
    )
)
def test_no_list_filter_makes_the_api_fail(world, query):
    _draft, client_for = world
    response = client_for(Role.CENTRAL_AUTHORITY).get("/api/v1/assistance/requests", query)
    assert response.status_code < 500


NUL = "bad\x00text"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/assistance/requests", {**request_body("spontaneous", "us.fuzz"), "summary": NUL}),
        (
            "/api/v1/assistance/requests/{request_id}/findings",
            {"ground": "dual_criminality", "applies": True, "rationale": NUL},
        ),
        ("/api/v1/assistance/requests/{request_id}/team", {"username": NUL}),
        (
            "/api/v1/assistance/requests/{request_id}/actions",
            {"action": "discard", "version": 1, "payload": {"comment": NUL}},
        ),
        ("/api/v1/assistance/requests", {**request_body("spontaneous", NUL)}),
    ],
)
def test_a_nul_character_is_refused_clearly(world, path, body):
    draft, client_for = world
    role = Role.CENTRAL_AUTHORITY if "findings" in path or "team" in path else Role.INVESTIGATOR
    response = client_for(role).post(
        fill(path, str(draft.pk)), json.dumps(body), content_type="application/json"
    )
    assert 400 <= response.status_code < 500, response.content[:300]
