"""Every URL pattern and API operation, called as every role and as an anonymous
visitor, behaves as the one table in accord/access.py declares. An endpoint
missing from the table fails here.

Path parameters name nothing here, so only the role gate is checked; what
each user may see and do to real objects (need-to-know, the state machine,
authorship in the dialogue) is tests/test_object_authorization.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accord.access import API, WEB, Audience, Rule
from accord.api import api
from accord.core.models import AuditEvent
from accord.core.roles import ROLE_PERMISSIONS, Role

PRINCIPALS: list[Role | None] = [None, *Role]

REQUEST_BODY = {
    "peer": "absent.test",
    "request_type": "spontaneous",
    "legal_basis": "bilateral",
    "requesting_authority": "a",
    "central_authority": "c",
    "summary": "s",
    "purpose": "p",
    "signer": "x",
    "offences": [{"label": "l", "statute": "s", "max_penalty_years": 3, "category": "fraud"}],
    "details": {"information": "i"},
}
# Path parameters, filled with values that name nothing.
NOWHERE = "01890000-0000-7000-8000-000000000001"
PATH_VALUES = {
    "{request_id}": NOWHERE,
    "{sha256}": "0" * 64,
    "{dialogue_id}": NOWHERE,
    "{round_id}": NOWHERE,
    "{outcome_id}": NOWHERE,
    "{disagreement_id}": NOWHERE,
    "{commitment_id}": NOWHERE,
    "{case_id}": NOWHERE,
    "{observable_id}": "999999",
    "{query_id}": NOWHERE,
    "{hit_id}": "999999",
    "{node_id}": "absent.test",
    "{job_id}": NOWHERE,
    "{item_id}": NOWHERE,
    "{upload_id}": NOWHERE,
    "{bundle_id}": NOWHERE,
}

# Valid bodies, so that a permitted caller gets past input validation and a
# refused one is refused for its role, not for its input.
SAMPLE_BODIES = {
    "POST /api/v1/federation/peers": {"url": "http://127.0.0.1:9", "fingerprint": "0" * 64},
    "POST /api/v1/federation/notes": {"peer": "absent.test", "subject": "s", "text": "t"},
    "POST /api/v1/users": {
        "username": "matrix-made",
        "role": "analyst",
        "password": "matrix-long-passphrase",
    },
    "POST /api/v1/assistance/requests": REQUEST_BODY,
    "POST /api/v1/dialogue/dialogues": {
        "peer": "absent.test",
        "track": "economic",
        "title_en": "t",
        "title_zh": "t",
    },
    "POST /api/v1/dialogue/dialogues/{dialogue_id}/rounds": {
        "number": 1,
        "date": "2017-10-04",
        "venue_en": "v",
    },
    "PUT /api/v1/dialogue/rounds/{round_id}/delegation": {"people": []},
    "POST /api/v1/dialogue/rounds/{round_id}/outcomes": {
        "topic": "narcotics",
        "text_en": "t",
        "text_zh": "t",
    },
    "POST /api/v1/dialogue/outcomes/{outcome_id}/versions": {"text_en": "t", "text_zh": "t"},
    "POST /api/v1/dialogue/outcomes/{outcome_id}/signatures": {"version": 1},
    "POST /api/v1/dialogue/dialogues/{dialogue_id}/disagreements": {
        "topic": "narcotics",
        "issue_en": "i",
    },
    "PUT /api/v1/dialogue/disagreements/{disagreement_id}/position": {"text_en": "p"},
    "POST /api/v1/dialogue/disagreements/{disagreement_id}/status": {"status": "managed"},
    "POST /api/v1/dialogue/outcomes/{outcome_id}/commitments": {
        "title_en": "c",
        "owner_node": "absent.test",
        "due_date": "2027-01-01",
    },
    "POST /api/v1/dialogue/commitments/{commitment_id}/status": {"status": "done"},
    "PUT /api/v1/assistance/requests/{request_id}": REQUEST_BODY,
    "POST /api/v1/assistance/requests/{request_id}/actions": {"action": "validate", "version": 1},
    "POST /api/v1/assistance/requests/{request_id}/findings": {
        "ground": "dual_criminality",
        "applies": True,
        "rationale": "r",
    },
    "POST /api/v1/assistance/requests/{request_id}/team": {"username": "nobody"},
    "POST /api/v1/cases": {"title": "Matrix case", "title_language": "en"},
    "PUT /api/v1/cases/{case_id}": {"title": "Matrix case", "title_language": "en"},
    "POST /api/v1/cases/{case_id}/status": {"status": "closed"},
    "POST /api/v1/cases/{case_id}/team": {"username": "nobody"},
    "POST /api/v1/cases/{case_id}/observables": {"type": "domain", "value": "example.org"},
    "POST /api/v1/cases/{case_id}/subjects": {"kind": "organisation", "display_name": "X"},
    "POST /api/v1/cases/{case_id}/imports/csv": {"text": "domain,example.org"},
    "POST /api/v1/cases/{case_id}/imports/stix": {"bundle": {"objects": []}},
    "POST /api/v1/matching/cases/{case_id}/queries": {"peers": ["absent.test"], "purpose": "p"},
    "POST /api/v1/matching/queries/{query_id}/decline": {"reason": "r"},
    "POST /api/v1/evidence/items/{item_id}/purge": {"reason": "r"},
    "POST /api/v1/evidence/exports": {"items": [NOWHERE]},
    "POST /api/v1/evidence/items/{item_id}/use-questions": {"question": "q"},
    "POST /api/v1/evidence/items/{item_id}/use-answers": {"question_id": NOWHERE, "answer": "a"},
    "POST /api/v1/evidence/items/{item_id}/send": {},
    "POST /api/v1/evidence/cases/{case_id}/uploads": {"name": "f", "size": 1, "sha256": "0" * 64},
    "POST /api/v1/evidence/requests/{request_id}/uploads": {
        "name": "f",
        "size": 1,
        "sha256": "0" * 64,
    },
    "PUT /api/v1/matching/policies/{node_id}": {
        "types": ["domain"],
        "max_values": 10,
        "per_day": 100,
        "needs_approval": False,
    },
}


def walk(patterns, prefix: str = "", namespace: str | None = None) -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name or "", "/" + prefix + str(pattern.pattern)


def api_operations() -> set[str]:
    schema = api.get_openapi_schema()
    return {f"{method.upper()} {path}" for path, ops in schema["paths"].items() for method in ops}


def api_paths() -> set[str]:
    return {op.split(" ", 1)[1] for op in api_operations()}


def test_every_url_pattern_is_in_the_table():
    missing = []
    for name, route in walk(get_resolver().url_patterns):
        if re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) in api_paths():
            continue  # an API operation: checked against API below
        if name not in WEB:
            missing.append(f"{name or '(unnamed)'} {route}")
    assert not missing, f"add these endpoints to accord/access.py: {missing}"


def test_every_api_operation_is_in_the_table():
    assert api_operations() == set(API), "accord/access.py API differs from the OpenAPI schema"


def test_the_table_names_no_endpoint_that_does_not_exist():
    names = {name for name, _ in walk(get_resolver().url_patterns)}
    assert set(WEB) <= names


def allowed(rule: Rule, principal: Role | None) -> bool:
    if rule.who == Audience.PUBLIC:
        return True
    if principal is None:
        return False
    if rule.who == Audience.SIGNED_IN:
        return True
    needed = rule.who if isinstance(rule.who, tuple) else (rule.who,)
    return all(permission in ROLE_PERMISSIONS[principal] for permission in needed)


def web_cases() -> Iterator:
    for name, rule in WEB.items():
        for method in rule.methods:
            for principal in PRINCIPALS:
                yield pytest.param(name, method, principal, id=f"{name}-{method}-{principal}")


def api_cases() -> Iterator:
    for operation in API:
        for principal in PRINCIPALS:
            yield pytest.param(operation, principal, id=f"{operation}-{principal}")


def assert_outcome(response, rule: Rule, principal: Role | None, what: str) -> None:
    status = response.status_code
    if rule.who == Audience.TAXII_ACCOUNT:
        # A web session is no TAXII credential: everyone without one gets 401.
        assert status == 401, f"{what}: {principal} got {status} without TAXII credentials"
        assert "Basic" in response.get("WWW-Authenticate", ""), what
        return
    redirected_to_login = status == 302 and "/login/?next=" in response.get("Location", "")
    if allowed(rule, principal):
        assert status not in (401, 403) and not redirected_to_login, f"{what}: refused ({status})"
        assert status < 500, f"{what}: server error {status}"
    elif principal is None:
        assert status == 401 or redirected_to_login, f"{what}: anonymous got {status}"
    else:
        assert status == 403, f"{what}: {principal} got {status}, expected 403"


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "principal"), list(web_cases()))
def test_web_endpoint(client_for, users, name, method, principal):
    rule = WEB[name]
    values = {
        "user_id": users[Role.ANALYST].pk,
        "node_id": "absent.test",
        "message_id": "01890000-0000-7000-8000-000000000000",
        "thread_id": NOWHERE,
        "request_id": NOWHERE,
        "sha256": "0" * 64,
        "dialogue_id": NOWHERE,
        "round_id": NOWHERE,
        "outcome_id": NOWHERE,
        "disagreement_id": NOWHERE,
        "commitment_id": NOWHERE,
        "case_id": NOWHERE,
        "observable_id": 999999,
        "root": "api1",
        "collection_id": NOWHERE,
        "object_id": "indicator--" + NOWHERE,
        "status_id": NOWHERE,
        "pk": 999999,
        "query_id": NOWHERE,
        "hit_id": 999999,
        "job_id": NOWHERE,
        "item_id": NOWHERE,
        "bundle_id": NOWHERE,
        "index": 0,
    }
    kwargs = {key: values[key] for key in rule.kwargs}
    url = reverse(name, kwargs=kwargs)
    client = client_for(principal)
    denied_before = AuditEvent.objects.filter(action="core:access:denied").count()
    response = client.generic(method, url) if method in ("GET", "DELETE") else client.post(url, {})
    assert_outcome(response, rule, principal, f"{method} {url}")
    if rule.who == Audience.TAXII_ACCOUNT:
        return
    if principal is not None and not allowed(rule, principal):
        denied_after = AuditEvent.objects.filter(action="core:access:denied").count()
        assert denied_after == denied_before + 1, "a refusal must be audited"


@pytest.mark.django_db
@pytest.mark.parametrize(("operation", "principal"), list(api_cases()))
def test_api_operation(client_for, operation, principal):
    rule = API[operation]
    method, path = operation.split(" ", 1)
    for name, value in PATH_VALUES.items():
        path = path.replace(name, value)
    client = client_for(principal)
    if method == "GET":
        response = client.get(path)
    else:
        body = SAMPLE_BODIES.get(operation, {})
        response = client.generic(
            method, path, data=json.dumps(body), content_type="application/json"
        )
    assert_outcome(response, rule, principal, operation)
