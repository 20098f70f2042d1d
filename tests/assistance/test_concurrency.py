"""Requests under concurrent writers (docs/assistance.md, "Concurrency"):
drafts created at the same moment get distinct references, and a local step
racing the partner's message on the same request neither deadlocks nor loses
either change, because every path locks the partner's channel before the
request.

Each writer is a thread with its own database connection. SQLite serialises
writers at BEGIN, so these races exist only on PostgreSQL; on SQLite the tests
are skipped. Every race is bounded: a fixed number of rounds, threads joined
with a timeout."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from accord.assistance import services
from accord.assistance.models import AssistanceRequest, PendingAction, State
from accord.assistance.wire import ACTION_KIND, TRANSITION_KIND, EventBody, TransitionBody
from accord.core.audit import Actor
from accord.core.roles import Role
from accord.federation import inbox
from accord.federation.models import OutboxMessage
from tests.federation.test_inbox_rejections import RemotePeer, batch
from tests.objects import content

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 30
JOIN_SECONDS = 30


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: PostgreSQL (SQLite serialises at BEGIN)")


def race(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread (own connection), released together;
    return what each returned or raised."""
    start = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        try:
            start.wait(JOIN_SECONDS)
            results[index] = work[index]()
        except Exception as exc:  # reported by the test, never swallowed
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a writer never finished"
    return results


@pytest.fixture
def remote(db) -> RemotePeer:
    """The partner, with real keys, so its messages go through the real inbox."""
    return RemotePeer.create()


@pytest.fixture
def officers(users) -> dict[str, Actor]:
    return {
        "author": Actor.of(users[Role.INVESTIGATOR]),
        "validator": Actor.of(users[Role.PROSECUTOR]),
        "central": Actor.of(users[Role.CENTRAL_AUTHORITY]),
    }


def test_drafts_created_at_the_same_moment_get_distinct_references(remote, officers):
    data = content("data_order", confidential=False)

    def draft() -> str:
        return services.create_request(officers["author"], remote.peer, data).reference

    references: list[str] = []
    for _round in range(ROUNDS):
        results = race(draft, draft)
        failures = [r for r in results if isinstance(r, Exception)]
        assert failures == []
        references.extend(results)

    assert len(set(references)) == 2 * ROUNDS
    assert AssistanceRequest.objects.count() == 2 * ROUNDS


# ---------------------------------------------------------------- lock order


def submitted(remote: RemotePeer, officers: dict[str, Actor]) -> AssistanceRequest:
    request = services.create_request(
        officers["author"], remote.peer, content("data_order", confidential=False)
    )
    for action, who in (
        ("send_for_validation", "author"),
        ("validate", "validator"),
        ("submit", "central"),
    ):
        request = services.perform(officers[who], request, action, version=request.version)
    assert request.state == State.SUBMITTED
    return request


def acknowledgement(remote: RemotePeer, seq: int, request: AssistanceRequest) -> bytes:
    """The partner acknowledges the request: an `assistance.transition` envelope."""
    event = EventBody(
        version=request.version + 1,
        action="acknowledge",
        from_state=State.SUBMITTED,
        to_state=State.RECEIVED,
        side="requested",
        actor_name="Partner officer",
        actor_role=Role.CENTRAL_AUTHORITY.value,
        at=datetime.now(UTC).isoformat(),
        payload={},
    )
    body = TransitionBody(request_id=str(request.pk), event=event, action_id=None)
    envelope = remote.envelope(seq, body.model_dump(mode="json"), kind=TRANSITION_KIND)
    return json.dumps(batch(envelope)).encode()


def withdraw(central: Actor, request: AssistanceRequest) -> AssistanceRequest:
    """The officer withdraws from the page they loaded; if the partner's message
    moved the request on first, they reload and withdraw again (once)."""
    seen = AssistanceRequest.objects.get(pk=request.pk)
    payload = {"comment": "No longer needed"}
    try:
        return services.perform(central, seen, "withdraw", payload, version=seen.version)
    except services.TransitionRefused as exc:
        if exc.status != 409:
            raise
    seen = AssistanceRequest.objects.get(pk=request.pk)
    return services.perform(central, seen, "withdraw", payload, version=seen.version)


def test_a_local_step_racing_the_partners_message_neither_deadlocks_nor_loses_either(
    remote, officers
):
    """The perform path (request, then the channel to message the partner) and
    the inbox (the channel, then the request) used to lock in opposite orders:
    PostgreSQL broke the deadlock by failing one of them."""
    for seq in range(1, ROUNDS + 1):
        request = submitted(remote, officers)
        raw = acknowledgement(remote, seq, request)

        asked, received = race(
            lambda request=request: withdraw(officers["central"], request),
            lambda raw=raw: inbox.receive_batch(raw),
        )

        assert not isinstance(asked, Exception), f"round {seq}: {asked!r}"
        assert not isinstance(received, Exception), f"round {seq}: {received!r}"
        assert received.status == 200, (seq, received.error)
        assert received.receipts[0]["status"] == "applied", (seq, received.receipts)
        request.refresh_from_db()
        assert request.state == State.RECEIVED
        assert PendingAction.objects.filter(request=request, action="withdraw").count() == 1
    assert OutboxMessage.objects.filter(kind=ACTION_KIND).count() == ROUNDS
