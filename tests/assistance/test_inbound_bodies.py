"""What a partner sends is checked before anything is applied (issue 11,
"Replicas that never split"): every body against its kind's strict schema,
every step's payload against the step's own schema as it travels. A malformed
message is refused whole, with the reason, through the real inbox (a signed
negative receipt, the seq consumed, audited), and the replica is left exactly
as it was. Also: a step the requesting officer asked for on a version the
request has since left is refused, not applied; and the follow-up draft of a
converted preservation is local work that cannot refuse the conversion.

In process: the partner is played by the test (its keys pinned as a Peer row),
its bodies built with the `wire.*_body` builders and then tampered with."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accord.assistance import services, wire
from accord.assistance.machine import TRANSITIONS
from accord.assistance.models import AssistanceRequest, RequestEvent
from accord.core import services as core_services
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.dialogue import services as dialogue_services
from accord.dialogue import wire as dialogue_wire
from accord.dialogue.models import Position, Round
from accord.federation.envelope import open_body
from accord.federation.models import InboxMessage, MessageStatus, OutboxMessage
from tests.assistance.flow import request_body
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db

CONDITIONS = [{"kind": "speciality", "text": "This case only"}]
REFUSE = AuditAction.INBOX_REFUSE.value
NUL_REFUSED = "text may not contain NUL characters"


@pytest.fixture
def remote(db) -> RemotePeer:
    return RemotePeer.create("yy.bodies")


@pytest.fixture
def deliver(client, remote, django_capture_on_commit_callbacks):
    """Send one message from the partner through the inbox, as its node would,
    and run what waits for the commit; returns this node's receipt."""

    def send(kind: str, body: dict[str, Any]) -> dict[str, Any]:
        envelope = remote.envelope(remote.next_in_seq(), body, kind=kind)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                INBOX, data=json.dumps(batch(envelope)), content_type="application/json"
            )
        assert response.status_code == 200, response.content
        [receipt] = response.json()["receipts"]
        return receipt

    return send


def act(users, role: Role) -> Actor:
    return Actor.of(users[role])


def outgoing(users, remote: RemotePeer, request_type: str = "data_order") -> AssistanceRequest:
    """A request this node drafted, validated and submitted to the partner."""
    data = request_body(request_type, remote.node_id)
    data.pop("peer")
    request = services.create_request(act(users, Role.INVESTIGATOR), remote.peer, data)
    for role, step in (
        (Role.INVESTIGATOR, "send_for_validation"),
        (Role.PROSECUTOR, "validate"),
        (Role.CENTRAL_AUTHORITY, "submit"),
    ):
        request = services.perform(act(users, role), request, step, version=request.version)
    return request


def step_body(
    request: AssistanceRequest, action: str, payload: dict[str, Any], action_id: str | None = None
) -> dict[str, Any]:
    """The partner's `assistance.transition` for its next step on `request`."""
    request.refresh_from_db()
    transition = TRANSITIONS[action]
    event = RequestEvent(
        version=request.version + 1,
        action=action,
        from_state=request.state,
        to_state=transition.leaves(request.state),
        side=transition.side,
        actor_name="Partner officer",
        actor_role=Role.CENTRAL_AUTHORITY.value,
        at=timezone.now(),
        payload=payload,
    )
    return wire.transition_body(request, event, action_id).model_dump(mode="json")


def partner_steps(deliver, request: AssistanceRequest, *steps: tuple[str, dict]) -> None:
    for action, payload in steps:
        receipt = deliver(wire.TRANSITION_KIND, step_body(request, action, payload))
        assert receipt["status"] == "applied", receipt


def hold_until() -> str:
    return (datetime.now(UTC) + timedelta(days=90)).isoformat(timespec="microseconds")


def assert_refused(receipt: dict[str, Any], reason: str, request: AssistanceRequest, before: dict):
    """Refused with its reason, recorded and audited as refused, nothing applied."""
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith(reason), receipt["reason"]
    message = InboxMessage.objects.get(pk=receipt["message_id"])
    assert message.status == MessageStatus.REFUSED
    audited = AuditEvent.objects.filter(action=REFUSE, target_id=message.pk).get()
    assert audited.data["reason"] == receipt["reason"]
    request.refresh_from_db()
    assert wire.shared_view(request) == before


# ---------------------------------------------------------------- transitions


@pytest.fixture
def screening(users, remote, deliver) -> AssistanceRequest:
    request = outgoing(users, remote)
    partner_steps(deliver, request, ("acknowledge", {}), ("start_screening", {}))
    request.refresh_from_db()
    return request


TAMPERED_CONDITIONS = [
    ({"comment": ""}, "invalid_step: conditions: Field required"),
    ({"conditions": "speciality"}, "invalid_step: conditions: Input should be a valid array"),
    (
        {"conditions": [{"kind": "speciality", "text": 5}]},
        "invalid_step: conditions.0.text: Input should be a valid string",
    ),
    (
        {"conditions": [{"kind": "whatever", "text": "x"}]},
        "invalid_step: conditions.0.kind: Input should be",
    ),
    (
        {"conditions": CONDITIONS, "comment": "", "secret": "x"},
        "invalid_step: secret: Extra inputs are not permitted",
    ),
    (
        {"conditions": [{"kind": "speciality", "text": "x\x00y"}]},
        "invalid_body: event: Value error, text may not contain NUL characters",
    ),
]


@pytest.mark.parametrize(("payload", "reason"), TAMPERED_CONDITIONS)
def test_a_malformed_step_is_refused_and_nothing_is_applied(screening, deliver, payload, reason):
    before = wire.shared_view(screening)
    body = step_body(screening, "accept_with_conditions", {})
    body["event"]["payload"] = payload  # this node's own builder would not carry a NUL
    assert_refused(deliver(wire.TRANSITION_KIND, body), reason, screening, before)


def test_a_well_formed_step_still_applies(screening, deliver):
    payload = {"conditions": CONDITIONS, "comment": ""}
    receipt = deliver(wire.TRANSITION_KIND, step_body(screening, "accept_with_conditions", payload))
    assert receipt["status"] == "applied", receipt
    screening.refresh_from_db()
    assert screening.state == "accepted_with_conditions"
    assert screening.conditions == CONDITIONS
    assert wire.shared_view(screening)["events"][-1]["payload"] == payload


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda body: body.update(extra=1), "invalid_body: extra: Extra inputs are not permitted"),
        (
            lambda body: body["event"].update(version=str(body["event"]["version"])),
            "invalid_body: event.version: Input should be a valid integer",
        ),
        (
            lambda body: body["event"].update(at="yesterday"),
            "invalid_body: event.at: Value error, not an ISO 8601 timestamp",
        ),
        (
            lambda body: body["event"].update(actor_name="Officer\x00"),
            "invalid_body: event: Value error, text may not contain NUL characters",
        ),
    ],
)
def test_a_malformed_body_is_refused_before_its_handler_runs(screening, deliver, tamper, reason):
    before = wire.shared_view(screening)
    body = step_body(screening, "accept", {})
    tamper(body)
    assert_refused(deliver(wire.TRANSITION_KIND, body), reason, screening, before)


@pytest.fixture
def accepted_preservation(users, remote, deliver) -> AssistanceRequest:
    request = outgoing(users, remote, "preservation")
    partner_steps(deliver, request, ("acknowledge", {}), ("start_screening", {}), ("accept", {}))
    request.refresh_from_db()
    return request


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        # The requested node fills in the expiry before the step travels.
        ({"comment": ""}, "invalid_step: expires_at: Field required"),
        ({"expires_at": None, "comment": ""}, "invalid_step: expires_at: Input should be"),
        ({"expires_at": "2030-01-01T00:00:00"}, "invalid_step: expires_at: Input should have"),
        ({"expires_at": 1_900_000_000}, "invalid_step: expires_at: Input should be"),
    ],
)
def test_a_preservation_without_its_expiry_is_refused(
    accepted_preservation, deliver, payload, reason
):
    before = wire.shared_view(accepted_preservation)
    receipt = deliver(wire.TRANSITION_KIND, step_body(accepted_preservation, "preserve", payload))
    assert_refused(receipt, reason, accepted_preservation, before)


def test_a_preservation_with_its_expiry_applies(accepted_preservation, deliver):
    until = hold_until()
    body = step_body(accepted_preservation, "preserve", {"expires_at": until, "comment": ""})
    assert deliver(wire.TRANSITION_KIND, body)["status"] == "applied"
    accepted_preservation.refresh_from_db()
    assert accepted_preservation.state == "preserved"
    assert accepted_preservation.hold_expires == datetime.fromisoformat(until)


# ---------------------------------------------------------------- a submission's history


def submission(users, remote) -> dict[str, Any]:
    """The partner's `assistance.submit` of a request (drafted here with the
    same services, then addressed as coming from the partner)."""
    draft = outgoing(users, remote)
    body = wire.submit_body(draft).model_dump(mode="json")
    body.update(
        request_id=str(uuid.uuid4()),
        reference=f"YY.BODIES-{uuid.uuid4().hex[:6]}",
        requesting_node=remote.node_id,
        requested_node=this_node().node_id,
    )
    return body


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            lambda events: events[1]["payload"].update(secret="x"),
            "invalid_event: secret: Extra inputs are not permitted",
        ),
        (
            lambda events: events[1].update(action="accept"),
            "invalid_event: accept is not a step before submission",
        ),
        (
            lambda events: events[0]["payload"].update(comment="x"),
            "invalid_event: create is not a step before submission",
        ),
    ],
)
def test_a_submission_with_a_malformed_history_is_refused(users, remote, deliver, tamper, reason):
    body = submission(users, remote)
    tamper(body["events"])
    receipt = deliver(wire.SUBMIT_KIND, body)
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith(reason), receipt["reason"]
    assert not AssistanceRequest.objects.filter(pk=body["request_id"]).exists()


def test_a_well_formed_submission_is_received(users, remote, deliver):
    body = submission(users, remote)
    assert deliver(wire.SUBMIT_KIND, body)["status"] == "applied"
    received = AssistanceRequest.objects.get(pk=body["request_id"])
    assert wire.shared_view(received)["events"] == body["events"]


# ---------------------------------------------------------------- the version the user saw


def sent_to_partner(remote: RemotePeer, kind: str) -> list[dict[str, Any]]:
    """The bodies of `kind` this node queued for the partner, opened as the
    partner would open them."""
    return [
        json.loads(open_body(message.body, remote.encryption_key, this_node().encryption_public))
        for message in OutboxMessage.objects.filter(peer=remote.peer, kind=kind).order_by("pk")
    ]


def test_a_withdrawal_that_raced_an_acceptance_it_never_saw_is_refused(users, remote, deliver):
    body = submission(users, remote)
    deliver(wire.SUBMIT_KIND, body)
    request = AssistanceRequest.objects.get(pk=body["request_id"])
    ca = act(users, Role.CENTRAL_AUTHORITY)
    for step in ("acknowledge", "start_screening"):
        request = services.perform(ca, request, step, version=request.version)
    services.record_finding(
        ca, request, ground="dual_criminality", applies=True, rationale="Fraud in both"
    )
    seen = request.version
    # Meanwhile this node accepts; the partner's officer has not seen it yet.
    request = services.perform(ca, request, "accept", version=request.version)
    before = wire.shared_view(request)
    action_id = str(uuid.uuid4())
    withdrawal = wire.ActionBody(
        request_id=str(request.pk),
        action_id=action_id,
        action="withdraw",
        base_version=seen,
        actor_name="Partner officer",
        actor_role=Role.CENTRAL_AUTHORITY.value,
        payload={"comment": "No longer needed"},
    )
    receipt = deliver(wire.ACTION_KIND, withdrawal.model_dump(mode="json"))
    # The message is taken in; the step it asks for is refused, and said so.
    assert receipt["status"] == "applied"
    request.refresh_from_db()
    assert wire.shared_view(request) == before
    [answer] = sent_to_partner(remote, wire.ACTION_REFUSED_KIND)
    assert answer["action_id"] == action_id
    assert answer["reason"].startswith("The request changed since you saw it")
    assert f"version {seen}" in answer["reason"]
    # Nothing was sent that would move the partner's replica.
    sent = [b["event"]["action"] for b in sent_to_partner(remote, wire.TRANSITION_KIND)]
    assert sent == ["acknowledge", "start_screening", "accept"]

    # Asked again on the version the officer now sees, it applies.
    again = withdrawal.model_copy(
        update={"action_id": str(uuid.uuid4()), "base_version": request.version}
    )
    assert deliver(wire.ACTION_KIND, again.model_dump(mode="json"))["status"] == "applied"
    request.refresh_from_db()
    assert request.state == "withdrawn"


# ---------------------------------------------------------------- the follow-up of a conversion


@pytest.fixture
def preserved(users, accepted_preservation, deliver) -> AssistanceRequest:
    until = hold_until()
    partner_steps(
        deliver, accepted_preservation, ("preserve", {"expires_at": until, "comment": ""})
    )
    accepted_preservation.refresh_from_db()
    return accepted_preservation


def convert(users, deliver, request: AssistanceRequest) -> dict[str, Any]:
    """This node's central authority converts the hold; the partner confirms it."""
    ca = act(users, Role.CENTRAL_AUTHORITY)
    services.perform(ca, request, "convert", version=request.version)
    pending = request.pending_actions.get(outcome="")
    body = step_body(request, "convert", {"comment": ""}, action_id=str(pending.pk))
    receipt = deliver(wire.TRANSITION_KIND, body)
    assert receipt["status"] == "applied", receipt
    request.refresh_from_db()
    assert request.state == "converted"
    # This replica holds what the partner's holds: the step it sent, as sent.
    assert wire.shared_view(request)["events"][-1] == body["event"]
    return body


def deactivate(users, role: Role) -> None:
    core_services.set_active(act(users, Role.NODE_ADMIN), users[role], False)


def test_a_conversion_drafts_the_follow_up_as_the_preservations_author(users, preserved, deliver):
    convert(users, deliver, preserved)
    follow_up = AssistanceRequest.objects.get(follows=preserved)
    assert follow_up.created_by == users[Role.INVESTIGATOR]
    assert follow_up.state == "draft" and follow_up.request_type == "stored_data"
    assert not AuditEvent.objects.filter(action=AuditAction.REQUEST_FOLLOW_UP_FAILED).exists()


def test_a_conversion_after_its_author_left_is_applied_and_the_failure_audited(
    users, preserved, deliver
):
    deactivate(users, Role.INVESTIGATOR)
    convert(users, deliver, preserved)
    assert not AssistanceRequest.objects.filter(follows=preserved).exists()
    failure = AuditEvent.objects.get(action=AuditAction.REQUEST_FOLLOW_UP_FAILED)
    assert failure.target_id == str(preserved.pk)
    assert failure.data["follow_up"] == ""
    [problem] = failure.data["problems"]
    assert problem.startswith(users[Role.INVESTIGATOR].username)


def test_a_conversion_after_its_author_left_is_drafted_by_another_investigator_of_the_team(
    users, preserved, deliver
):
    colleague = core_services.create_user(
        Actor.system("test"), "colleague", Role.INVESTIGATOR, TEST_PASSWORD
    )
    services.add_member(act(users, Role.CENTRAL_AUTHORITY), preserved, colleague)
    deactivate(users, Role.INVESTIGATOR)
    convert(users, deliver, preserved)
    follow_up = AssistanceRequest.objects.get(follows=preserved)
    assert follow_up.created_by == colleague
    failure = AuditEvent.objects.get(action=AuditAction.REQUEST_FOLLOW_UP_FAILED)
    assert failure.data["follow_up"] == follow_up.reference
    assert failure.data["author"] == "colleague"


# ---------------------------------------------------------------- dialogue bodies


@pytest.fixture
def dialogue(users, remote):
    ca = act(users, Role.CENTRAL_AUTHORITY)
    return dialogue_services.create_dialogue(
        ca, remote.peer, "law_enforcement_cyber", "Dialogue", "对话"
    )


def round_body(dialogue, **changes: Any) -> dict[str, Any]:
    """The partner's record of its round, built as its node builds it."""
    round_ = Round(
        id=uuid.uuid4(),
        dialogue=dialogue,
        number=2,
        date=date(2018, 6, 14),
        venue_en="Beijing",
        venue_zh="北京",
        topics=["cybersecurity"],
        documents=[],
    )
    body = dialogue_wire.round_body(round_).model_dump(mode="json")
    body.update(changes)
    return body


def test_a_dialogue_body_keeps_its_wire_format(dialogue):
    body = round_body(dialogue)
    assert body["topics"] == ["cybersecurity"]
    assert dialogue_wire.RoundBody.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"topics": [1]}, "invalid_body: topics.0: Input should be"),
        ({"topics": ["gossip"]}, "invalid_body: topics.0: Input should be"),
        ({"number": "2"}, "invalid_body: number: Input should be a valid integer"),
        ({"minutes": "x"}, "invalid_body: minutes: Extra inputs are not permitted"),
        ({"venue_en": "Bei\x00jing"}, "invalid_body: body: Value error, text may not contain NUL"),
    ],
)
def test_a_malformed_dialogue_body_is_refused(dialogue, deliver, changes, reason):
    body = round_body(dialogue, **changes)
    receipt = deliver(dialogue_wire.ROUND_KIND, body)
    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith(reason), receipt["reason"]
    assert not Round.objects.filter(pk=body["id"]).exists()


def test_a_well_formed_dialogue_body_applies(dialogue, deliver):
    body = round_body(dialogue)
    assert deliver(dialogue_wire.ROUND_KIND, body)["status"] == "applied"
    assert Round.objects.get(pk=body["id"]).topics == ["cybersecurity"]


def test_a_partner_position_with_a_nul_is_refused_and_a_clean_one_applies(
    users, remote, dialogue, deliver
):
    ca = act(users, Role.CENTRAL_AUTHORITY)
    item = dialogue_services.open_disagreement(ca, dialogue, "cybersecurity", "Attribution", "归因")
    position = dialogue_wire.PositionBody(
        disagreement_id=str(item.pk),
        node=remote.node_id,
        text_en="National means.",
        text_zh="",
        stated_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        actor_name="Partner official",
    ).model_dump(mode="json")
    tainted = {**position, "text_en": "National\x00 means."}
    receipt = deliver(dialogue_wire.POSITION_KIND, tainted)
    assert receipt["status"] == "refused"
    assert "NUL" in receipt["reason"]
    assert not Position.objects.filter(disagreement=item).exists()
    assert deliver(dialogue_wire.POSITION_KIND, position)["status"] == "applied"
    assert Position.objects.get(disagreement=item, node=remote.node_id).text_en == "National means."


# ---------------------------------------------------------------- every kind


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("core.note", {"subject": "Case", "text": "A\x00B", "language": "en", "author": "Officer"}),
        ("core.ping", {"n": 0, "padding": "\x00"}),
        ("intel.delete", {"collection_id": str(uuid.uuid4()), "stix_id": "indicator--\x00"}),
    ],
)
def test_every_kind_refuses_a_nul_character_before_its_handler_runs(deliver, kind, body):
    receipt = deliver(kind, body)
    assert receipt["status"] == "refused"
    assert (
        receipt["reason"]
        == "invalid_body: body: Value error, text may not contain NUL characters or lone surrogates"
    )
