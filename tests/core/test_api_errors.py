"""The JSON API's edges (issue 14, finding 12): every integer bounded to what
signing and both databases hold, JSON answers for every error under /api/,
the permission checked before the body, and every error response documented."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accord.api import api
from accord.core.canonical import MAX_SAFE_INTEGER
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.kinds import StrictBody

pytestmark = pytest.mark.django_db

LISTS = {
    Role.NODE_ADMIN: ["/api/v1/users", "/api/v1/federation/inbox", "/api/v1/federation/outbox"],
    Role.AUDITOR: ["/api/v1/audit/events"],
    Role.INVESTIGATOR: ["/api/v1/federation/notes"],
}


def _integers(schema: Any, where: str) -> Iterator[tuple[str, dict]]:
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            yield where, schema
        for key, value in schema.items():
            yield from _integers(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _integers(value, f"{where}[{index}]")


def _unbounded(schema: Any, where: str) -> list[str]:
    return [
        name
        for name, integer in _integers(schema, where)
        if not -MAX_SAFE_INTEGER <= integer.get("minimum", -(2**63)) <= MAX_SAFE_INTEGER
        or not -MAX_SAFE_INTEGER <= integer.get("maximum", 2**63) <= MAX_SAFE_INTEGER
    ]


def _input_schemas(document: dict) -> Iterator[tuple[str, Any]]:
    """What a client sends: parameters and request bodies, with the component
    schemas they name."""
    components = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            yield where, operation.get("parameters", [])
            body = operation.get("requestBody", {}).get("content", {})
            for content in body.values():
                text = json.dumps(content["schema"])
                yield where, content["schema"]
                for name in components:
                    if f'"#/components/schemas/{name}"' in text:
                        yield f"{where} {name}", components[name]


def test_every_integer_a_client_sends_is_bounded_to_the_safe_range():
    document = api.get_openapi_schema()
    unbounded = [
        name for where, schema in _input_schemas(document) for name in _unbounded(schema, where)
    ]
    assert unbounded == []


def _body_schemas() -> Iterator[type]:
    stack: list[type] = [StrictBody]
    while stack:
        schema = stack.pop()
        yield schema
        stack.extend(schema.__subclasses__())


def test_every_integer_in_a_peers_body_is_bounded_to_the_safe_range():
    from django.apps import apps

    assert apps.ready  # every app's wire module is imported, so every body schema exists
    unbounded = [
        name
        for schema in _body_schemas()
        for name in _unbounded(schema.model_json_schema(), schema.__name__)
    ]
    assert unbounded == []


@pytest.mark.parametrize("parameter", ["limit", "offset"])
@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1])
def test_paging_past_what_a_database_holds_is_refused_with_the_field_named(
    client_for, parameter, value
):
    for role, paths in LISTS.items():
        client = client_for(role)
        for path in paths:
            response = client.get(path, {parameter: value})
            assert response.status_code == 422, (path, response.content)
            assert parameter in json.dumps(response.json()["detail"])


def test_a_page_as_far_as_the_safe_range_is_an_empty_page(client_for):
    response = client_for(Role.AUDITOR).get(
        "/api/v1/audit/events", {"offset": MAX_SAFE_INTEGER, "limit": 1000}
    )
    assert response.status_code == 200
    assert response.json()["items"] == []


def test_an_investigator_creating_a_user_is_refused_before_the_body_is_read(client_for):
    denied = AuditEvent.objects.filter(action="core:access:denied").count()

    response = client_for(Role.INVESTIGATOR).post(
        "/api/v1/users", "{}", content_type="application/json"
    )

    assert response.status_code == 403, response.content
    assert "username" not in response.content.decode()
    assert AuditEvent.objects.filter(action="core:access:denied").count() == denied + 1


def test_an_admin_creating_a_user_still_learns_which_fields_are_missing(client_for):
    response = client_for(Role.NODE_ADMIN).post(
        "/api/v1/users", "{}", content_type="application/json"
    )
    assert response.status_code == 422
    assert "username" in json.dumps(response.json()["detail"])


@pytest.mark.parametrize(
    "body",
    [
        '{"username": "eve", "role": "analyst", "role": "node_admin", "password": "x"}',
        '{"username": "eve", "role": "analyst", "password": "x", "n": 9007199254740992}',
        '{"username": "eve\\u0000", "role": "analyst", "password": "x"}',
        '{"username": "eve\\ud800", "role": "analyst", "password": "x"}',
        '{"username": "eve", "role": "analyst", "password": NaN}',
    ],
    ids=["duplicate-name", "unsafe-integer", "nul", "lone-surrogate", "nan"],
)
def test_a_body_that_is_not_i_json_or_not_storable_is_a_400(client_for, body):
    response = client_for(Role.NODE_ADMIN).post(
        "/api/v1/users", body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


def test_a_method_no_operation_has_answers_json(client_for):
    response = client_for(Role.NODE_ADMIN).delete("/api/v1/me")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    assert "GET" in response["Allow"]


def test_a_path_no_operation_has_answers_json(client_for):
    response = client_for(Role.NODE_ADMIN).get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_a_multipart_body_without_a_boundary_is_a_json_400_without_a_traceback(users, caplog):
    client = Client(enforce_csrf_checks=True)  # the CSRF check is what reads the form
    client.force_login(users[Role.INVESTIGATOR])
    client.cookies["csrftoken"] = "a" * 32
    with caplog.at_level(logging.INFO):
        response = client.generic(
            "POST", "/api/v1/federation/notes", b"--x--", content_type="multipart/form-data"
        )
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_server_error_answers_json(client_for, monkeypatch):
    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("accord.api.this_node", broken)
    client = client_for(Role.ANALYST)
    client.raise_request_exception = False

    response = client.get("/api/v1/node")

    assert response.status_code == 500
    assert response.json()["detail"]


def test_every_operation_documents_its_errors_with_a_json_body():
    document = Client().get("/api/v1/openapi.json").json()
    assert "ErrorOut" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"403", "422", "500"} | ({"401"} if operation.get("security") else set())
            if method != "get":
                expected |= {"400", "409"}
            if "{" in path:
                expected.add("404")
            assert expected <= set(responses), f"{method} {path}: {sorted(responses)}"
            for code in expected:
                content = responses[code]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
