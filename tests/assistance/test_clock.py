"""The clock never stops: each hold, reminder and reminder e-mail is its own
item of work, so one that fails (a hold whose partner was removed) is audited,
shown on the Federation page and tried again next round, and stops nothing
else. A converted preservation holds while its full request is decided
(Budapest Art. 29(7)). In one process, with the partners as pinned peers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from accord.assistance import clock, inbound, reminders, services, wire
from accord.assistance.models import AssistanceRequest, Reminder
from accord.core import identity
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation import peering
from accord.federation.models import Peer
from tests.assistance.arrivals import arrive
from tests.assistance.flow import Officers, Pair
from tests.live import ensure_peered, wait_until

pytestmark = pytest.mark.django_db

OPERATOR = Actor.system("test")


@pytest.fixture
def partners(monkeypatch) -> Callable[[str], Peer]:
    """Peer with a partner node (added as an operator would, its identity
    document served from memory); adding it again after removal brings it back."""
    documents: dict[str, dict] = {}

    def fetch(url: str, timeout: float = 10.0) -> dict:
        return documents[url.rstrip("/")]

    monkeypatch.setattr(peering, "fetch_identity", fetch)

    def add(node_id: str) -> Peer:
        url = f"http://{node_id}.invalid"
        if url not in documents:
            partner = identity.NodeIdentity(
                node_id, "China", "MPS", SigningKey.generate(), PrivateKey.generate()
            )
            documents[url] = partner.public_document()
        return peering.add_peer(OPERATOR, url, documents[url]["fingerprint"])

    return add


def steps(users, request: AssistanceRequest, *names: str) -> AssistanceRequest:
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    for name in names:
        request.refresh_from_db()
        services.perform(officer, request, name, version=request.version)
    request.refresh_from_db()
    return request


def hold(users, peer: Peer) -> AssistanceRequest:
    request = arrive(users, peer, "preservation")
    return steps(users, request, "acknowledge", "start_screening", "accept", "preserve")


def failures() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.CLOCK_FAILED).order_by("seq"))


def channel_page(client_for) -> str:
    return client_for(Role.NODE_ADMIN).get(reverse("federation:channel")).content.decode()


def test_a_hold_whose_partner_was_removed_stops_no_other_hold_nor_reminder(
    users, partners, client_for
):
    gone, staying = partners("cn.gone"), partners("cn.staying")
    stuck = hold(users, gone)  # expires first, so the clock meets it first
    others = [hold(users, staying), hold(users, staying)]
    order = arrive(users, staying, "data_order")
    peering.remove_peer(OPERATOR, gone)
    later = max(r.hold_expires for r in [stuck, *others]) + timedelta(minutes=1)

    result = clock.tick(later)

    assert result.lapsed == 2 and result.failed == 1
    for request in others:
        request.refresh_from_db()
        assert request.state == "lapsed"
    stuck.refresh_from_db()
    assert stuck.state == "preserved"
    # Every reminder due went out.
    assert result.reminders > 0
    assert Reminder.objects.filter(request=order, deadline="acknowledge", threshold=100).exists()
    [failure] = failures()
    assert failure.target_id == str(stuck.pk)
    assert failure.data["reference"] == stuck.reference
    assert failure.data["work"] == "lapse"
    assert failure.data["error"] == "ValidationError"
    assert "cn.gone is not an active peer" in failure.data["message"]
    page = channel_page(client_for)
    assert 'data-testid="clock-failures"' in page
    assert stuck.reference in page and "not an active peer" in page

    # The next round tries again; the same failure is not audited twice.
    assert clock.tick(later + timedelta(minutes=1)).failed == 1
    assert len(failures()) == 1

    partners("cn.gone")  # the partner is back
    result = clock.tick(later + timedelta(minutes=2))
    assert (result.lapsed, result.failed) == (1, 0)
    stuck.refresh_from_db()
    assert stuck.state == "lapsed"
    recovered = AuditEvent.objects.get(action=AuditAction.CLOCK_RECOVERED)
    assert recovered.data["items"] == [f"lapse:{stuck.pk}"]
    assert 'data-testid="clock-failures"' not in channel_page(client_for)


def test_the_failures_are_shown_in_chinese_too(users, partners, client_for):
    gone = partners("cn.gone")
    stuck = hold(users, gone)
    peering.remove_peer(OPERATOR, gone)
    clock.tick(stuck.hold_expires + timedelta(minutes=1))
    admin = users[Role.NODE_ADMIN]
    admin.language = "zh-hans"
    admin.save()
    page = channel_page(client_for)
    assert "时钟任务失败" in page and "保全期满失效" in page and stuck.reference in page


def test_a_failing_reminder_stops_no_other_reminder(users, partners, monkeypatch):
    peer = partners("cn.staying")
    broken, fine = arrive(users, peer, "data_order"), arrive(users, peer, "data_order")
    team_of = reminders.responsible

    def responsible(request):
        if request.pk == broken.pk:
            raise RuntimeError("the team list is unreadable")
        return team_of(request)

    monkeypatch.setattr(reminders, "responsible", responsible)
    due = max(broken.acknowledge_due, fine.acknowledge_due) + timedelta(minutes=1)
    result = clock.tick(due)
    assert result.failed == 3  # 50, 80 and 100 % of the broken request's deadline
    assert Reminder.objects.filter(request=fine, deadline="acknowledge").count() == 3
    assert not Reminder.objects.filter(request=broken).exists()
    assert {f.data["reference"] for f in failures()} == {broken.reference}
    assert {f.data["error"] for f in failures()} == {"RuntimeError"}

    monkeypatch.undo()
    result = clock.tick(due)
    assert result.failed == 0 and result.reminders == 3
    assert Reminder.objects.filter(request=broken, deadline="acknowledge").count() == 3
    assert len(AuditEvent.objects.get(action=AuditAction.CLOCK_RECOVERED).data["items"]) == 3


def test_a_failed_email_is_audited_once_without_the_address_and_cleared_once_sent(
    users, partners, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EMAIL_REMINDERS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    officer = users[Role.CENTRAL_AUTHORITY]
    officer.email = "ca@example.org"
    officer.save()
    request = arrive(users, partners("cn.staying"), "data_order")

    def down(*args, **kwargs):
        raise ConnectionRefusedError("the mail server refused ca@example.org")

    monkeypatch.setattr(reminders, "send_mail", down)
    with django_capture_on_commit_callbacks(execute=True):
        clock.tick(request.acknowledge_due + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert clock.tick(request.acknowledge_due + timedelta(minutes=2)).failed == 3
    logged = failures()
    assert len(logged) == 3  # one per reminder, however often it is retried
    assert {f.data["work"] for f in logged} == {"email"}
    assert all("ca@example.org" not in str(f.data) for f in logged)
    assert all("[address]" in f.data["message"] for f in logged)

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        result = clock.tick(request.acknowledge_due + timedelta(minutes=3))
    assert (result.emails, result.failed) == (3, 0)
    assert len(mail.outbox) == 3
    assert not Reminder.objects.filter(user=officer, emailed=False).exists()


def converted(users, peer: Peer) -> AssistanceRequest:
    """A hold the requester converted into a full request (its `convert`
    arrives as an action, as from the requesting node)."""
    preservation = hold(users, peer)
    inbound.receive_action(
        peer,
        wire.ActionBody(
            request_id=str(preservation.pk),
            action_id=str(uuid.uuid4()),
            action="convert",
            base_version=preservation.version,
            actor_name="Li Na",
            actor_role="central_authority",
            payload={},
        ),
    )
    preservation.refresh_from_db()
    assert preservation.state == "converted"
    return preservation


def test_a_converted_hold_lasts_until_its_full_request_is_decided(users, partners, client_for):
    peer = partners("cn.staying")
    preservation = converted(users, peer)
    full = arrive(users, peer, "stored_data", follows=preservation)
    assert full.follows == preservation
    expired = preservation.hold_expires + timedelta(minutes=1)

    assert clock.tick(expired).lapsed == 0
    preservation.refresh_from_db()
    assert preservation.state == "converted"
    client = client_for(Role.CENTRAL_AUTHORITY)
    page = client.get(reverse("assistance:detail", args=[preservation.pk])).content.decode()
    assert 'data-testid="hold-until-decided"' in page and full.reference in page

    full = steps(users, full, "acknowledge", "start_screening")
    services.record_finding(
        Actor.of(users[Role.CENTRAL_AUTHORITY]),
        full,
        "dual_criminality",
        True,
        "The same conduct is an offence here.",
    )
    assert clock.tick(expired).lapsed == 0  # still being decided
    full = steps(users, full, "accept")
    assert full.decided_at is not None

    assert clock.tick(expired).lapsed == 1  # its own expiry applies again
    preservation.refresh_from_db()
    assert preservation.state == "lapsed"


def test_a_converted_hold_with_no_full_request_here_lapses_at_its_expiry(users, partners):
    preservation = converted(users, partners("cn.staying"))
    assert clock.tick(preservation.hold_expires - timedelta(minutes=1)).lapsed == 0
    assert clock.tick(preservation.hold_expires + timedelta(minutes=1)).lapsed == 1


def test_the_link_to_the_preservation_travels_only_when_there_is_one(users, partners):
    peer = partners("cn.staying")
    preservation = hold(users, peer)
    plain = arrive(users, peer, "stored_data")
    assert plain.follows is None
    assert "follows" not in wire.submit_body(plain).model_dump(mode="json")
    linked = wire.submit_body(plain).model_copy(update={"follows": str(preservation.pk)})
    assert linked.model_dump(mode="json")["follows"] == str(preservation.pk)
    # A link to anything but a preservation this partner asked of this node is left out.
    other = arrive(users, partners("cn.other"), "stored_data", follows=preservation)
    assert other.follows is None


@pytest.mark.live
def test_between_two_nodes_the_full_request_keeps_the_converted_hold(two_live_nodes):
    """cn converts its preservation and submits the follow-up draft; us, which
    holds the data, links the two and keeps the hold until it has decided."""
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        pair = Pair(Officers(stack, cn, us), cn, us)
        marker = f"converted hold {uuid.uuid4().hex[:12]}"
        preservation, _ = pair.new("preservation", summary=marker)
        for step, state in (
            ("acknowledge", "received"),
            ("start_screening", "screening"),
            ("accept", "accepted"),
            ("preserve", "preserved"),
        ):
            view = pair.step(preservation, step, state=state)
        expired = datetime.fromisoformat(view["hold_expires"]) + timedelta(minutes=1)
        pair.step(preservation, "convert", state="converted")
        investigator = pair.officer(cn, "investigator")

        def follow_ups() -> list[dict]:
            listed = investigator.get(
                "/api/v1/assistance/requests", params={"q": marker, "state": "draft"}
            )
            return [row for row in listed.json()["items"] if row["id"] != preservation]

        [draft] = wait_until(follow_ups, timeout=10, what="the follow-up draft on cn")
        full = draft["id"]
        pair.submit(full)

        us.accord("requests", "tick", "--at", expired.isoformat())
        assert pair.agreed(preservation)["state"] == "converted"
        page = pair.us_ca.get(f"/requests/{preservation}/").text
        assert 'data-testid="hold-until-decided"' in page and draft["reference"] in page

        pair.step(full, "acknowledge", state="received")
        pair.step(full, "start_screening", state="screening")
        pair.finding(full, "dual_criminality", True, "Fraud is an offence in both systems")
        pair.step(full, "accept", state="accepted")
        us.accord("requests", "tick", "--at", expired.isoformat())

        def lapsed() -> bool:
            return pair.agreed(preservation)["state"] == "lapsed"

        wait_until(lapsed, timeout=30, what="the converted hold to lapse on both nodes")
