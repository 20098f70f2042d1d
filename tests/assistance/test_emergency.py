"""Emergencies (DOMAIN.md, "Deadlines": the informal channel first, the written
confirmation after; Budapest Art. 25(3)): the informal first contact is
recorded with time, channel and persons, travels with the request to the
partner, and the written confirmation (the submission through Accord) is
tracked against its own deadline, ACCORD_EMERGENCY_CONFIRMATION_HOURS after
the contact, around the clock."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accord.assistance import clock, inbound, queries, services, wire
from accord.assistance.models import AssistanceRequest, Reminder
from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.kinds import Refusal
from accord.federation.models import Peer
from tests.assistance.arrivals import arrive, submitted
from tests.assistance.flow import Officers, Pair, get, request_body
from tests.live import ensure_peered

db = pytest.mark.django_db
live = pytest.mark.live

API = "/api/v1/assistance/requests"
EMERGENCY = {"urgency": "emergency", "urgency_reason": "A hostage's life is at risk"}
NOT_EMERGENCY = "Only an emergency request records an informal first contact"


def contact(at: datetime, **overrides) -> dict:
    return {
        "at": at.isoformat(),
        "channel": "phone",
        "made_by": "Li Ming, duty officer",
        "reached_name": "Jane Smith",
        "reached_function": "24/7 point of contact, DOJ CCIPS",
        "note": "Asked to preserve the account at once",
        **overrides,
    }


def ago(hours: float) -> datetime:
    return (timezone.now() - timedelta(hours=hours)).replace(microsecond=0)


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="us.emergency",
        url="http://127.0.0.1:9/",
        party="United States",
        agency="DoJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def body(peer: Peer, **overrides) -> dict:
    data = request_body("data_order", peer.node_id, **overrides)
    data.pop("peer")
    return data


def draft(users, peer: Peer, **overrides) -> AssistanceRequest:
    return services.create_request(
        Actor.of(users[Role.INVESTIGATOR]), peer, body(peer, **overrides)
    )


def emergency_draft(users, peer: Peer, at: datetime, **overrides) -> AssistanceRequest:
    return draft(users, peer, **EMERGENCY, first_contact=contact(at), **overrides)


# ---------------------------------------------------------------- recording it


@db
def test_an_emergency_draft_records_its_first_contact_and_the_confirmation_due(
    users, peer, settings
):
    settings.EMERGENCY_CONFIRMATION_HOURS = 36
    at = datetime(2026, 10, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    request = emergency_draft(users, peer, at)
    request.refresh_from_db()
    assert request.first_contact == {
        "at": "2026-10-01T01:30:00Z",  # kept in UTC, one form on both replicas
        "channel": "phone",
        "made_by": "Li Ming, duty officer",
        "reached_name": "Jane Smith",
        "reached_function": "24/7 point of contact, DOJ CCIPS",
        "note": "Asked to preserve the account at once",
    }
    assert request.confirmation_due == at + timedelta(hours=36)


@db
def test_the_confirmation_runs_in_hours_around_the_clock_not_business_days(users, peer, settings):
    settings.EMERGENCY_CONFIRMATION_HOURS = 48
    friday_evening = datetime(2026, 10, 30, 20, 0, tzinfo=UTC)
    request = emergency_draft(users, peer, friday_evening)
    assert request.confirmation_due == datetime(2026, 11, 1, 20, 0, tzinfo=UTC)  # a Sunday


@db
def test_recording_it_on_a_draft_is_an_audited_update(users, peer):
    request = draft(users, peer, **EMERGENCY)
    assert request.first_contact is None and request.confirmation_due is None
    services.update_draft(
        Actor.of(users[Role.INVESTIGATOR]),
        request,
        body(peer, **EMERGENCY, first_contact=contact(ago(2))),
    )
    request.refresh_from_db()
    assert request.first_contact["reached_name"] == "Jane Smith"
    update = AuditEvent.objects.filter(action="assistance:request:update").latest("pk")
    assert {"first_contact", "confirmation_due"} <= set(update.data["changed"])


@db
def test_a_first_contact_on_a_request_that_is_no_emergency_is_refused_and_changes_nothing(
    users, peer
):
    request = draft(users, peer, urgency="urgent", urgency_reason="Data may be deleted")
    updates = AuditEvent.objects.filter(action="assistance:request:update").count()
    with pytest.raises(ValidationError) as refused:
        services.update_draft(
            Actor.of(users[Role.INVESTIGATOR]),
            request,
            body(
                peer,
                urgency="urgent",
                urgency_reason="Data may be deleted",
                first_contact=contact(ago(1)),
            ),
        )
    assert any(NOT_EMERGENCY in message for message in refused.value.messages)
    request.refresh_from_db()
    assert (request.first_contact, request.confirmation_due, request.version) == (None, None, 1)
    assert AuditEvent.objects.filter(action="assistance:request:update").count() == updates
    with pytest.raises(ValidationError):
        draft(users, peer, first_contact=contact(ago(1)))  # standard urgency, on creation
    assert AssistanceRequest.objects.count() == 1


@db
def test_a_first_contact_in_the_future_is_refused(users, peer):
    with pytest.raises(ValidationError) as refused:
        emergency_draft(users, peer, timezone.now() + timedelta(hours=1))
    assert "The first contact cannot be in the future." in refused.value.messages
    assert not AssistanceRequest.objects.exists()


@db
def test_a_first_contact_needs_its_time_zone_and_the_persons(users, peer):
    naive = {**contact(ago(1)), "at": ago(1).replace(tzinfo=None).isoformat()}
    with pytest.raises(ValidationError) as refused:
        draft(users, peer, **EMERGENCY, first_contact={**naive, "reached_function": ""})
    text = " ".join(refused.value.messages)
    assert "first_contact.at" in text and "first_contact.reached_function" in text


@db
def test_only_an_investigator_records_it_and_only_on_a_draft(users, peer):
    request = draft(users, peer, **EMERGENCY)
    with_contact = body(peer, **EMERGENCY, first_contact=contact(ago(1)))
    with pytest.raises(services.TransitionRefused) as refused:
        services.update_draft(Actor.of(users[Role.CENTRAL_AUTHORITY]), request, with_contact)
    assert refused.value.status == 403
    request.refresh_from_db()
    assert request.first_contact is None
    sent = submitted(users, peer, **EMERGENCY)
    with pytest.raises(services.TransitionRefused) as refused:
        services.update_draft(Actor.of(users[Role.INVESTIGATOR]), sent, with_contact)
    assert refused.value.status == 409
    sent.refresh_from_db()
    assert sent.first_contact is None
    assert AuditEvent.objects.filter(action="assistance:request:action-refused").count() == 2


# ---------------------------------------------------------------- the confirmation deadline


@db
def test_an_unconfirmed_first_contact_past_its_deadline_is_overdue_everywhere(
    users, peer, client_for
):
    late = emergency_draft(users, peer, ago(300))  # 240 h by default: 60 h overdue
    on_time = emergency_draft(users, peer, ago(1))
    listed = queries.list_requests(
        Actor.of(users[Role.INVESTIGATOR]), queries.Filters(overdue=True)
    )
    assert list(listed) == [late]
    investigator = client_for(Role.INVESTIGATOR)
    page = investigator.get(reverse("assistance:detail", args=[late.pk])).content.decode()
    assert 'data-testid="confirmation-overdue"' in page and "overdue by 2" in page
    assert "Jane Smith, 24/7 point of contact, DOJ CCIPS" in page
    rows = {r["reference"]: r for r in investigator.get(API).json()["items"]}
    assert rows[late.reference]["overdue"] and not rows[on_time.reference]["overdue"]
    listing = investigator.get(reverse("assistance:list") + "?overdue=1").content.decode()
    assert late.reference in listing and on_time.reference not in listing


@db
def test_the_submission_confirms_it_in_writing_and_says_how_late(users, peer, client_for):
    request = submitted(users, peer, **EMERGENCY, first_contact=contact(ago(250)))
    assert request.submitted_at is not None
    view = client_for(Role.CENTRAL_AUTHORITY).get(f"{API}/{request.pk}").json()
    confirmation = view["confirmation"]
    # The API writes times to the millisecond.
    confirmed = datetime.fromisoformat(confirmation["confirmed_at"])
    assert abs(confirmed - request.submitted_at) < timedelta(milliseconds=1)
    assert 10 * 3600 <= confirmation["late_seconds"] < 10 * 3600 + 120
    assert confirmation["overdue"] is False
    confirm = next(d for d in view["deadlines"] if d["key"] == "confirm")
    assert confirm["owner"] == "requesting" and confirm["met_at"] is not None
    page = client_for(Role.CENTRAL_AUTHORITY).get(reverse("assistance:detail", args=[request.pk]))
    assert 'data-testid="confirmation-late"' in page.content.decode()
    assert "late by 10" in page.content.decode()
    overdue = queries.list_requests(Actor.system("test"), queries.Filters(overdue=True))
    assert request not in overdue


@db
def test_reminders_go_out_at_half_four_fifths_and_the_whole_until_it_is_submitted(
    users, peer, settings
):
    settings.EMERGENCY_CONFIRMATION_HOURS = 10
    at = ago(1)
    request = emergency_draft(users, peer, at)
    assert clock.tick(at + timedelta(hours=4)).reminders == 0
    # The central authority and the request's team (its author).
    assert clock.tick(at + timedelta(hours=5.5)).reminders == 2
    assert clock.tick(at + timedelta(hours=8.5)).reminders == 2
    assert clock.tick(at + timedelta(hours=10, seconds=1)).reminders == 2
    sent = Reminder.objects.filter(request=request)
    assert {r.deadline for r in sent} == {"confirm"}
    assert sorted({r.threshold for r in sent}) == [50, 80, 100]
    assert {r.user.role for r in sent} == {Role.CENTRAL_AUTHORITY, Role.INVESTIGATOR}


@db
def test_a_submitted_emergency_is_no_longer_reminded_of_its_confirmation(users, peer, settings):
    settings.EMERGENCY_CONFIRMATION_HOURS = 10
    at = ago(1)
    request = submitted(users, peer, **EMERGENCY, first_contact=contact(at))
    clock.tick(at + timedelta(hours=11))
    assert not Reminder.objects.filter(request=request, deadline="confirm").exists()


# ---------------------------------------------------------------- the API, the pages, the CLI


@db
def test_the_api_records_it_and_refuses_it_on_a_request_that_is_no_emergency(
    client_for, users, peer
):
    investigator = client_for(Role.INVESTIGATOR)
    at = ago(3)
    created = investigator.post(
        API,
        request_body("data_order", peer.node_id, **EMERGENCY, first_contact=contact(at)),
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    view = created.json()
    assert view["content"]["first_contact"]["channel"] == "phone"
    due = at + timedelta(hours=240)
    assert datetime.fromisoformat(view["content"]["confirmation_due"]) == due
    assert datetime.fromisoformat(view["confirmation"]["due_at"]) == due
    assert view["confirmation"]["confirmed_at"] is None
    vocabulary = investigator.get("/api/v1/assistance/vocabulary").json()
    channels = {c["code"] for c in vocabulary["contact_channels"]}
    assert channels == {"phone", "email", "network_24_7", "other"}
    standard = request_body("data_order", peer.node_id, first_contact=contact(at))
    refused = investigator.put(f"{API}/{view['id']}", standard, content_type="application/json")
    assert refused.status_code == 422
    assert any(NOT_EMERGENCY in message for message in refused.json()["detail"])
    assert get_content(investigator, view["id"])["urgency"] == "emergency"
    # The node counts the due time; nobody writes it.
    chosen = request_body(
        "data_order",
        peer.node_id,
        **EMERGENCY,
        first_contact=contact(at),
        confirmation_due=(at + timedelta(days=300)).isoformat(),
    )
    assert (
        investigator.put(f"{API}/{view['id']}", chosen, content_type="application/json").status_code
        == 422
    )


def get_content(client, request_id) -> dict:
    return client.get(f"{API}/{request_id}").json()["content"]


def form_data(peer: Peer, **overrides) -> dict:
    return {
        "request_type": "data_order",
        "peer": peer.node_id,
        "legal_basis": "bilateral",
        "requesting_authority": "Shanghai PSB",
        "central_authority": "MPS",
        "summary": "Ransomware on a hospital (synthetic)",
        "purpose": "Identify the operators",
        "urgency": "emergency",
        "urgency_reason": "Patients' lives at risk",
        "language": "en",
        "signer": "Zhang Wei",
        "offence_1_label": "Ransomware",
        "offence_1_statute": "Art. 286",
        "offence_1_penalty": "15",
        "offence_1_category": "interference",
        "d_data_category": "subscriber",
        "d_identifiers": "phone +86 138 0013 8000\n",
        "d_issuer": "Procuratorate",
        **overrides,
    }


@db
def test_the_form_records_it_in_the_node_s_time_zone_and_edits_it(
    client_for, users, peer, settings
):
    settings.NODE_TIME_ZONE = "Asia/Shanghai"
    local = ago(2).astimezone(ZoneInfo("Asia/Shanghai"))
    investigator = client_for(Role.INVESTIGATOR)
    form = investigator.get(reverse("assistance:create") + "?type=data_order").content.decode()
    assert 'name="fc_at"' in form and "Asia/Shanghai" in form
    response = investigator.post(
        reverse("assistance:create"),
        form_data(
            peer,
            fc_at=local.strftime("%Y-%m-%dT%H:%M"),
            fc_channel="network_24_7",
            fc_made_by="Li Ming",
            fc_reached_name="Jane Smith",
            fc_reached_function="Duty officer",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = AssistanceRequest.objects.get()
    assert created.first_contact["at"] == local.replace(second=0).astimezone(
        UTC
    ).isoformat().replace("+00:00", "Z")
    assert created.first_contact["channel"] == "network_24_7"
    edit = investigator.get(reverse("assistance:edit", args=[created.pk])).content.decode()
    assert local.strftime("%Y-%m-%dT%H:%M:00") in edit and 'value="Jane Smith"' in edit
    page = investigator.get(reverse("assistance:detail", args=[created.pk])).content.decode()
    assert "24/7 network (Budapest Art. 35)" in page
    assert f"{local.strftime('%Y-%m-%d %H:%M')} Asia/Shanghai" in page


@db
def test_the_form_refuses_it_on_a_request_that_is_no_emergency(client_for, peer):
    response = client_for(Role.INVESTIGATOR).post(
        reverse("assistance:create"),
        form_data(
            peer,
            urgency="standard",
            urgency_reason="",
            fc_at=ago(2).strftime("%Y-%m-%dT%H:%M"),
            fc_channel="phone",
            fc_made_by="Li Ming",
            fc_reached_name="Jane Smith",
            fc_reached_function="Duty officer",
        ),
    )
    assert response.status_code == 200
    assert NOT_EMERGENCY in response.content.decode()
    assert not AssistanceRequest.objects.exists()


@db
def test_the_page_in_chinese_shows_the_first_contact(client_for, users, peer):
    request = emergency_draft(users, peer, ago(2))
    user = users[Role.INVESTIGATOR]
    user.language = "zh-hans"
    user.save()
    client = client_for(Role.INVESTIGATOR)
    page = client.get(reverse("assistance:detail", args=[request.pk])).content.decode()
    assert "特急：非正式首次联络" in page and "书面确认截止" in page
    form = client.get(reverse("assistance:edit", args=[request.pk])).content.decode()
    assert "特急：非正式首次联络" in form


@db
def test_the_print_says_which_informal_request_it_confirms(client_for, users, peer):
    request = emergency_draft(users, peer, datetime(2026, 10, 1, 1, 30, tzinfo=UTC))
    page = client_for(Role.INVESTIGATOR).get(reverse("assistance:print", args=[request.pk]))
    assert "2026-10-01 01:30 UTC · Phone call · Li Ming, duty officer → Jane Smith" in (
        page.content.decode()
    )


@db
def test_the_cli_drafts_it_from_a_json_file_and_never_takes_a_due_time(users, peer, tmp_path):
    path = tmp_path / "request.json"
    data = request_body("data_order", peer.node_id, **EMERGENCY, first_contact=contact(ago(1)))
    path.write_text(json.dumps(data))
    call_command("requests", "create", str(path), "--as", users[Role.INVESTIGATOR].username)
    created = AssistanceRequest.objects.get()
    assert created.first_contact["reached_name"] == "Jane Smith"
    assert created.confirmation_due is not None
    path.write_text(json.dumps({**data, "confirmation_due": "2030-01-01T00:00:00Z"}))
    with pytest.raises(CommandError, match="leave out confirmation_due"):
        call_command("requests", "create", str(path), "--as", users[Role.INVESTIGATOR].username)
    assert AssistanceRequest.objects.count() == 1


# ---------------------------------------------------------------- the partner's replica


def from_partner(peer: Peer, sent: AssistanceRequest, **content) -> wire.SubmitBody:
    """`sent`'s submission as if `peer` had sent it to this node."""
    body_ = wire.submit_body(sent)
    return body_.model_copy(
        update={
            "request_id": str(uuid.uuid4()),
            "reference": f"{peer.node_id.upper()}-{uuid.uuid4().hex[:6]}",
            "requesting_node": peer.node_id,
            "requested_node": this_node().node_id,
            "content": {**body_.content, **content},
        }
    )


@db
def test_the_partner_keeps_the_due_time_the_requesting_side_set(users, peer, settings):
    at = ago(5)
    settings.EMERGENCY_CONFIRMATION_HOURS = 24  # the requesting node's setting
    sent = submitted(users, peer, **EMERGENCY, first_contact=contact(at))
    body_ = from_partner(peer, sent)
    settings.EMERGENCY_CONFIRMATION_HOURS = 100  # the partner's differs
    inbound.receive_submit(peer, body_)
    received = AssistanceRequest.objects.get(pk=body_.request_id)
    assert received.outgoing is False
    assert received.first_contact == sent.first_contact
    assert received.confirmation_due == at + timedelta(hours=24)
    assert wire.shared_view(received)["content"] == wire.shared_view(sent)["content"]


@db
def test_a_body_without_a_first_contact_leaves_the_fields_out_and_is_received(users, peer):
    request = submitted(users, peer)
    content = wire.submit_body(request).content
    assert "first_contact" not in content and "confirmation_due" not in content
    received = arrive(users, peer)
    assert received.first_contact is None and received.confirmation_due is None


@db
def test_a_partner_body_with_a_first_contact_on_a_standard_request_is_refused(users, peer):
    wrong = from_partner(peer, submitted(users, peer), first_contact=contact(ago(1)))
    with pytest.raises(Refusal, match=NOT_EMERGENCY):
        inbound.receive_submit(peer, wrong)
    assert not AssistanceRequest.objects.filter(pk=wrong.request_id).exists()


# ---------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "ACCORD_EMERGENCY_CONFIRMATION_HOURS must be a whole number, not 'ten'"),
        ("0", "ACCORD_EMERGENCY_CONFIRMATION_HOURS must be at least 1, not 0"),
        ("100000", "ACCORD_EMERGENCY_CONFIRMATION_HOURS must be at most 8760"),
    ],
)
def test_a_bad_confirmation_setting_stops_start_up_naming_the_variable(tmp_path, value, message):
    env = {
        **os.environ,
        "ACCORD_DATA_DIR": str(tmp_path),
        "ACCORD_EMERGENCY_CONFIRMATION_HOURS": value,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "accord.cli", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr


# ---------------------------------------------------------------- two live nodes


@pytest.fixture(scope="module")
def pair(two_live_nodes) -> Iterator[Pair]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        yield Pair(Officers(stack, cn, us), cn, us)


@live
def test_the_first_contact_reaches_the_partner_s_replica(pair):
    at = ago(3)
    first = contact(at, channel="network_24_7")
    request_id = pair.draft("preservation", **EMERGENCY, first_contact=first)
    view = pair.submit(request_id)  # both replicas' shared views agree
    assert view["content"]["first_contact"]["at"] == at.astimezone(UTC).isoformat().replace(
        "+00:00", "Z"
    )
    assert view["content"]["first_contact"]["reached_name"] == "Jane Smith"
    assert datetime.fromisoformat(view["content"]["confirmation_due"]) == at + timedelta(hours=240)
    partner = get(pair.us_ca, request_id)
    assert partner["direction"] == "incoming"
    assert (
        partner["confirmation"]["confirmed_at"]
        == get(pair.cn_ca, request_id)["confirmation"]["confirmed_at"]
    )
    assert partner["confirmation"]["late_seconds"] == 0
    page = pair.us_ca.get(f"/requests/{request_id}/")
    assert page.status_code == 200 and "Jane Smith, 24/7 point of contact" in page.text
