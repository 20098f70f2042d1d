"""The follow-up of a converted preservation is never lost (issue 11, "A
workflow both sides can rely on"): it is drafted when the partner's
confirmation of the conversion is committed, and should the process die
before that callback runs, the clock drafts it. However the two meet, there is
one draft; one that nobody may draft is audited once, not at every round, and
drafted as soon as someone may.

In process: the partner is played by the test (tests/assistance/
test_inbound_bodies.py), its confirmation delivered through the real inbox.
A lost callback is a conversion delivered without running what waits for the
commit."""

from __future__ import annotations

import functools
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from accord.assistance import clock, follow_up, inbound, services, wire
from accord.assistance.models import AssistanceRequest
from accord.core import services as core_services
from accord.core.audit import Actor, AuditAction
from accord.core.clockwork import Round
from accord.core.models import AuditEvent
from accord.core.roles import Role
from tests.assistance.test_concurrency import race
from tests.assistance.test_inbound_bodies import (
    act,
    deactivate,
    hold_until,
    outgoing,
    step_body,
)
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch
from tests.live import TEST_PASSWORD

FAILED = AuditAction.REQUEST_FOLLOW_UP_FAILED


@pytest.fixture
def remote(db) -> RemotePeer:
    return RemotePeer.create("yy.follow")


@pytest.fixture
def deliver(client, remote: RemotePeer, django_capture_on_commit_callbacks):
    """Send one message from the partner through the inbox; what waits for
    the commit runs only when `callbacks` (else it is lost, as when the
    process dies between the commit and the callback)."""

    def send(kind: str, body: dict[str, Any], *, callbacks: bool = True) -> dict[str, Any]:
        envelope = remote.envelope(remote.next_in_seq(), body, kind=kind)
        with django_capture_on_commit_callbacks(execute=callbacks):
            response = client.post(
                INBOX, data=json.dumps(batch(envelope)), content_type="application/json"
            )
        assert response.status_code == 200, response.content
        [receipt] = response.json()["receipts"]
        assert receipt["status"] == "applied", receipt
        return receipt

    return send


def hold(users, remote: RemotePeer, deliver) -> AssistanceRequest:
    """A preservation this node asked for, which the partner now holds."""
    request = outgoing(users, remote, "preservation")
    for action, payload in (
        ("acknowledge", {}),
        ("start_screening", {}),
        ("accept", {}),
        ("preserve", {"expires_at": hold_until(), "comment": ""}),
    ):
        deliver(wire.TRANSITION_KIND, step_body(request, action, payload))
    request.refresh_from_db()
    return request


@pytest.fixture
def preserved(users, remote, deliver) -> AssistanceRequest:
    return hold(users, remote, deliver)


def convert(users, deliver, request: AssistanceRequest, *, callbacks: bool) -> None:
    """This node's central authority converts the hold; the partner confirms it."""
    services.perform(
        act(users, Role.CENTRAL_AUTHORITY), request, "convert", version=request.version
    )
    pending = request.pending_actions.get(outcome="")
    body = step_body(request, "convert", {"comment": ""}, action_id=str(pending.pk))
    deliver(wire.TRANSITION_KIND, body, callbacks=callbacks)
    request.refresh_from_db()
    assert request.state == "converted"


def follow_ups(preservation: AssistanceRequest) -> list[AssistanceRequest]:
    return list(AssistanceRequest.objects.filter(follows=preservation))


def tick() -> str:
    out = StringIO()
    call_command("requests", "tick", stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_a_follow_up_lost_with_its_callback_is_drafted_by_the_clock_once(users, preserved, deliver):
    tick()
    assert follow_ups(preserved) == []  # not converted: nothing to follow yet

    convert(users, deliver, preserved, callbacks=False)
    assert follow_ups(preserved) == []  # the process "died" before drafting it

    tick()
    [draft] = follow_ups(preserved)
    assert draft.state == "draft" and draft.outgoing
    assert draft.request_type == "stored_data"
    assert draft.created_by == users[Role.INVESTIGATOR]
    assert draft.details["data_description"] == preserved.details["data_to_preserve"]
    assert AuditEvent.objects.filter(action=AuditAction.REQUEST_CREATE, target_id=draft.pk).exists()

    tick()
    assert follow_ups(preserved) == [draft]
    assert not AuditEvent.objects.filter(action=FAILED).exists()


@pytest.mark.django_db
def test_the_prompt_draft_and_the_clock_make_one_follow_up_between_them(users, preserved, deliver):
    convert(users, deliver, preserved, callbacks=True)
    [draft] = follow_ups(preserved)
    assert clock.tick().follow_ups == 0
    # The callback run again (or late, after the clock) drafts nothing more.
    assert follow_up.draft_follow_up(preserved.pk) is None
    assert follow_ups(preserved) == [draft]


@pytest.mark.django_db
def test_a_follow_up_nobody_may_draft_is_audited_once_and_drafted_once_someone_may(
    users, preserved, deliver
):
    deactivate(users, Role.INVESTIGATOR)  # the preservation's author has left
    convert(users, deliver, preserved, callbacks=True)
    assert follow_ups(preserved) == []
    [failure] = AuditEvent.objects.filter(action=FAILED)
    assert failure.target_id == str(preserved.pk)
    assert failure.data["follow_up"] == ""

    for _round in range(2):  # tried again at each round, not audited again
        result = clock.tick()
        assert (result.follow_ups, result.failed) == (0, 0)
    assert follow_ups(preserved) == []
    assert AuditEvent.objects.filter(action=FAILED).count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.CLOCK_FAILED).exists()

    colleague = core_services.create_user(
        Actor.system("test"), "colleague", Role.INVESTIGATOR, TEST_PASSWORD
    )
    services.add_member(act(users, Role.CENTRAL_AUTHORITY), preserved, colleague)
    assert clock.tick().follow_ups == 1
    [draft] = follow_ups(preserved)
    assert draft.created_by == colleague
    # The officers are told who drafted it instead of the planned author.
    told = AuditEvent.objects.filter(action=FAILED).order_by("-seq").first()
    assert told.data["follow_up"] == draft.reference and told.data["author"] == "colleague"
    assert clock.tick().follow_ups == 0


@pytest.mark.django_db
def test_a_failure_that_crashes_the_sweep_is_the_clocks_to_retry(
    users, preserved, deliver, monkeypatch
):
    convert(users, deliver, preserved, callbacks=False)

    def unreadable(preservation):
        raise RuntimeError("the team list is unreadable")

    monkeypatch.setattr(follow_up, "_follow_up_authors", unreadable)
    assert clock.tick().failed == 1
    assert clock.tick().failed == 1
    [failure] = AuditEvent.objects.filter(action=AuditAction.CLOCK_FAILED)
    assert failure.data["work"] == "follow_up" and failure.data["reference"] == preserved.reference
    assert follow_ups(preserved) == []

    monkeypatch.undo()
    result = clock.tick()
    assert (result.follow_ups, result.failed) == (1, 0)
    assert len(follow_ups(preserved)) == 1
    recovered = AuditEvent.objects.get(action=AuditAction.CLOCK_RECOVERED)
    assert recovered.data["items"] == [f"follow-up:{preserved.pk}"]


ROUNDS = 4


@pytest.mark.django_db(transaction=True)
def test_the_callback_and_the_clock_racing_never_make_two_drafts(
    users, remote, deliver, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: PostgreSQL (SQLite serialises at BEGIN)")
    for _round in range(ROUNDS):
        request = hold(users, remote, deliver)
        with monkeypatch.context() as lost:
            lost.setattr(inbound, "draft_follow_up", lambda pk: None)
            convert(users, deliver, request, callbacks=True)
        assert follow_ups(request) == []

        prompt = functools.partial(follow_up.draft_follow_up, request.pk)
        results = race(prompt, lambda: follow_up.sweep(Round()), prompt)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert len(follow_ups(request)) == 1


@pytest.mark.django_db
def test_the_follow_up_of_an_emergency_hold_does_not_inherit_its_first_contact(
    users, preserved, deliver
):
    """The informal first contact and its confirmation deadline were the
    preservation's; the follow-up is a written request with no such deadline."""
    contact = {
        "at": "2026-12-01T08:00:00+00:00",
        "channel": "phone",
        "made_by": "Li Wei",
        "reached_name": "Jane Smith",
        "reached_function": "24/7 point of contact",
        "note": "",
    }
    AssistanceRequest.objects.filter(pk=preserved.pk).update(
        urgency="emergency",
        urgency_reason="A life is at risk",
        first_contact=contact,
        confirmation_due="2026-12-11T08:00:00+00:00",
    )
    preserved.refresh_from_db()
    convert(users, deliver, preserved, callbacks=True)
    [draft] = follow_ups(preserved)
    assert draft.first_contact is None and draft.confirmation_due is None
