"""Schemathesis against the node's own OpenAPI schema (issue 14, finding 12):
requests generated from each operation's schema, sent to a live test server
as a signed-in user of each role, never answer a 5xx and never answer
something the schema does not describe. Bounded: a few examples an operation,
so the run stays well under a minute on either database."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from accord.api import api
from accord.core.roles import Role

EXAMPLES = 2
ROLES = (Role.CENTRAL_AUTHORITY, Role.INVESTIGATOR, Role.NODE_ADMIN, Role.AUDITOR)


def session_for(live_server, users, role: Role) -> requests.Session:
    from django.test import Client

    client = Client()
    client.force_login(users[role])
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.cookies.set("csrftoken", "a" * 32)
    session.headers["X-CSRFToken"] = "a" * 32
    session.headers["Referer"] = live_server.url + "/"
    return session


def fuzz(operation, session: requests.Session, base_url: str, sent: list[int]) -> None:
    """Send EXAMPLES generated requests for one operation; raise on a failed check."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=30)
        sent.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    call()


@pytest.mark.django_db(transaction=True)
def test_no_operation_answers_a_server_error_or_off_schema(live_server, users):
    schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    sent: list[int] = []
    for role in ROLES:
        # Closed after each role: an open keep-alive connection would keep a
        # server thread, and its database session, past the test.
        with session_for(live_server, users, role) as session:
            for operation in operations:
                try:
                    fuzz(operation, session, live_server.url, sent)
                except Exception as exc:  # collected: one report for every operation
                    failures.append(f"{role} {operation.label}: {str(exc)[:400]}")
    assert failures == [], "\n".join(failures)
    assert len(sent) >= len(ROLES) * len(operations)
