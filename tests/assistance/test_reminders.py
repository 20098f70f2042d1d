"""The clock: deadline reminders at 50 %, 80 % and 100 % to the responsible
officers (in the app, and by e-mail when configured), and preservation holds
that lapse by themselves. In one process, with the partner node as a pinned peer."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accord.assistance import clock, inbound, services, wire
from accord.assistance.deadlines import deadlines_of
from accord.assistance.models import Reminder
from accord.core.audit import Actor
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.models import OutboxMessage, Peer
from tests.assistance.arrivals import arrive

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="cn.clock",
        url="http://127.0.0.1:9/",
        party="China",
        agency="MPS",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


@pytest.fixture
def officer_with_mail(users, settings):
    """Reminders e-mailed (to the locmem outbox); the central authority has an address."""
    settings.EMAIL_REMINDERS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    officer = users[Role.CENTRAL_AUTHORITY]
    officer.email = "ca@example.org"
    officer.save()
    return officer


def test_reminders_go_out_at_half_four_fifths_and_the_whole_of_a_deadline(users, peer):
    request = arrive(users, peer)
    start, due = request.submitted_at, request.acknowledge_due
    span = due - start
    assert clock.tick(start + span * 0.4).reminders == 0
    assert clock.tick(start + span * 0.55).reminders == 1  # the central authority
    assert clock.tick(start + span * 0.6).reminders == 0  # once per threshold
    assert clock.tick(start + span * 0.85).reminders == 1
    assert clock.tick(due + timedelta(seconds=1)).reminders == 1
    sent = Reminder.objects.filter(request=request).order_by("threshold")
    assert [r.threshold for r in sent] == [50, 80, 100]
    assert {r.user.role for r in sent} == {Role.CENTRAL_AUTHORITY}
    assert AuditEvent.objects.filter(action="assistance:reminder:send").count() == 3


def test_a_met_deadline_reminds_nobody(users, peer):
    request = arrive(users, peer)
    services.perform(
        Actor.of(users[Role.CENTRAL_AUTHORITY]), request, "acknowledge", version=request.version
    )
    request.refresh_from_db()
    clock.tick(request.acknowledge_due + timedelta(hours=1))
    assert not Reminder.objects.filter(request=request, deadline="acknowledge").exists()


def test_reminders_are_emailed_when_mail_is_configured(
    users, peer, officer_with_mail, django_capture_on_commit_callbacks
):
    officer = officer_with_mail
    request = arrive(users, peer)
    with django_capture_on_commit_callbacks(execute=True):
        clock.tick(request.acknowledge_due + timedelta(minutes=1))
    assert len(mail.outbox) == 3  # 50, 80 and 100 % all passed
    assert all(request.reference in message.body for message in mail.outbox)
    assert mail.outbox[0].to == ["ca@example.org"]
    assert Reminder.objects.filter(user=officer, emailed=True).count() == 3


def test_a_preservation_hold_lapses_when_its_time_is_up(users, peer):
    request = arrive(users, peer, "preservation")
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    for step in ("acknowledge", "start_screening", "accept", "preserve"):
        request.refresh_from_db()
        services.perform(officer, request, step, version=request.version)
    request.refresh_from_db()
    assert request.state == "preserved"
    assert request.hold_expires - request.responded_at >= timedelta(days=60)
    sent_before = OutboxMessage.objects.filter(peer=peer).count()
    assert clock.tick(request.hold_expires - timedelta(minutes=1)).lapsed == 0
    assert clock.tick(request.hold_expires + timedelta(seconds=1)).lapsed == 1
    request.refresh_from_db()
    assert request.state == "lapsed"
    assert request.events.order_by("-version").first().action == "lapse"
    # The partner hears of it through the channel, like any other step.
    assert OutboxMessage.objects.filter(peer=peer).count() == sent_before + 1
    assert clock.tick(request.hold_expires + timedelta(days=1)).lapsed == 0


def test_a_hold_shorter_than_sixty_days_is_refused(users, peer):
    request = arrive(users, peer, "preservation")
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    for step in ("acknowledge", "start_screening", "accept"):
        request.refresh_from_db()
        services.perform(officer, request, step, version=request.version)
    request.refresh_from_db()
    soon = (request.received_at + timedelta(days=10)).isoformat()
    with pytest.raises(services.TransitionRefused) as refused:
        services.perform(
            officer, request, "preserve", {"expires_at": soon}, version=request.version
        )
    assert refused.value.status == 422
    request.refresh_from_db()
    assert request.state == "accepted"


def test_opening_the_request_reads_its_reminders(users, peer, client_for):
    from django.urls import reverse

    request = arrive(users, peer)
    clock.tick(request.acknowledge_due + timedelta(minutes=1))
    client = client_for(Role.CENTRAL_AUTHORITY)
    listed = client.get("/api/v1/assistance/reminders").json()
    assert {r["threshold"] for r in listed} == {50, 80, 100}
    assert all(r["read_at"] is None for r in listed)
    assert request.reference in client.get(reverse("web:dashboard")).content.decode()
    client.get(reverse("assistance:detail", args=[request.pk]))
    listed = client.get("/api/v1/assistance/reminders").json()
    assert all(r["read_at"] is not None for r in listed)


def test_waiting_for_asked_information_stops_the_clock(users, peer):
    """Deadlines move by the time the requested side waited for the answers."""
    request = arrive(users, peer)
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    for step, payload in (
        ("acknowledge", {}),
        ("start_screening", {}),
        ("request_information", {"questions": "Which account?"}),
    ):
        request.refresh_from_db()
        services.perform(officer, request, step, payload, version=request.version)
    request.refresh_from_db()
    decide, respond = request.decision_due, request.response_due
    # The question went out three days ago (as the shared timeline records it).
    asked = request.events.get(action="request_information")
    asked.at -= timedelta(days=3)
    asked.save(update_fields=["at"])
    inbound.receive_action(
        peer,
        wire.ActionBody(
            request_id=str(request.pk),
            action_id=str(uuid.uuid4()),
            action="provide_information",
            base_version=request.version,
            actor_name="Li Na",
            actor_role="central_authority",
            payload={"answers": "Account 4471"},
        ),
    )
    request.refresh_from_db()
    assert request.state == "screening"  # the clock resumes where it stopped
    answered = request.events.get(action="provide_information").at
    waited = answered - asked.at
    assert timedelta(days=3) <= waited < timedelta(days=3, minutes=5)
    assert request.decision_due == decide + waited
    assert request.response_due == respond + waited


def test_the_end_of_a_postponement_reminds_the_requested_side(users, peer):
    request = arrive(users, peer)
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    until = (timezone.now() + timedelta(days=10)).date()
    postponement = {
        "grounds": [
            {
                "ground": "domestic_investigation",
                "rationale": "Our own case against the same suspect",
            }
        ],
        "until": until.isoformat(),
    }
    for step, payload in (("acknowledge", {}), ("start_screening", {}), ("postpone", postponement)):
        request.refresh_from_db()
        services.perform(officer, request, step, payload, version=request.version)
    request.refresh_from_db()
    [resume] = [d for d in deadlines_of(request) if d.key == "resume"]
    assert resume.due_at.date() == until and resume.owner == "requested"
    clock.tick(resume.due_at + timedelta(seconds=1))
    assert Reminder.objects.filter(
        request=request, deadline="resume", threshold=100, user=users[Role.CENTRAL_AUTHORITY]
    ).exists()
    request.refresh_from_db()
    services.perform(officer, request, "resume", version=request.version)
    request.refresh_from_db()
    assert not [d for d in deadlines_of(request) if d.key == "resume"]


def test_a_reminder_email_that_failed_is_sent_by_a_later_round(
    users, peer, officer_with_mail, django_capture_on_commit_callbacks, monkeypatch
):
    officer = officer_with_mail
    request = arrive(users, peer)
    from accord.assistance import reminders

    def down(*args, **kwargs):
        raise ConnectionRefusedError("the mail server is down")

    monkeypatch.setattr(reminders, "send_mail", down)
    with django_capture_on_commit_callbacks(execute=True):
        clock.tick(request.acknowledge_due - timedelta(hours=1))
    assert Reminder.objects.filter(user=officer).exists()
    assert not Reminder.objects.filter(user=officer, emailed=True).exists()
    monkeypatch.undo()
    waiting = Reminder.objects.filter(user=officer, emailed=False).count()
    with django_capture_on_commit_callbacks(execute=True):
        clock.tick(request.acknowledge_due - timedelta(hours=1))
    assert len(mail.outbox) == waiting > 0
    assert not Reminder.objects.filter(user=officer, emailed=False).exists()
