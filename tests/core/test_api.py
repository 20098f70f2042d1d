from __future__ import annotations

import json

import pytest

from accord.core.roles import Role

pytestmark = pytest.mark.django_db


def test_me_reports_role_and_permissions(client_for):
    body = client_for(Role.AUDITOR).get("/api/v1/me").json()
    assert body["role"] == "auditor"
    assert "core.view_audit" in body["permissions"]
    assert "core.manage_users" not in body["permissions"]


def test_audit_events_are_paginated_and_verifiable(client_for):
    client = client_for(Role.AUDITOR)
    page = client.get("/api/v1/audit/events?limit=2").json()
    assert page["count"] >= 6 and len(page["items"]) == 2
    assert page["items"][1]["prev_hash"] == page["items"][0]["hash"]
    assert client.post("/api/v1/audit/verify").json()["ok"] is True


def test_create_user_rejects_bad_input_with_reasons(client_for):
    client = client_for(Role.NODE_ADMIN)
    response = client.post(
        "/api/v1/users",
        data=json.dumps({"username": "bob", "role": "analyst", "password": "short"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "too short" in json.dumps(response.json())


def test_openapi_schema_is_served():
    from django.test import Client

    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/me" in schema["paths"]
