"""Fixtures of the in-process hit/no-hit tests: a partner node played by the
test through the real inbox (its keys pinned as a Peer row), and a case
holding the values it is asked about."""

from __future__ import annotations

import json
from typing import Any

import pytest

from accord.cases import services as cases
from accord.core.audit import Actor
from accord.core.roles import Role
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch

OURS = {"203.0.113.7", "198.51.100.1", "192.0.2.99"}


@pytest.fixture
def remote(db) -> RemotePeer:
    return RemotePeer.create("yy.match")


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def send(remote: RemotePeer, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        envelope = remote.envelope(remote.next_in_seq(), body, kind=kind)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                INBOX, data=json.dumps(batch(envelope)), content_type="application/json"
            )
        assert response.status_code == 200, response.content
        [receipt] = response.json()["receipts"]
        return receipt

    return send


@pytest.fixture
def case(users):
    actor = Actor.of(users[Role.INVESTIGATOR])
    opened = cases.create_case(actor, {"title": "Phishing", "title_language": "en"})
    for value in sorted(OURS):
        cases.add_observable(actor, opened, "ipv4", value)
    cases.add_observable(actor, opened, "email", "li.wei@example.cn")
    return opened
