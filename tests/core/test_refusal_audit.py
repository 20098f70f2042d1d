"""A refused action leaves nothing of itself behind but the record that it was
refused: that record is committed even when the refusal is raised deep inside
the action's transaction, which rolls back (accord.core.audit.refusals_kept).
These tests run without the test-case transaction, so "recorded" means
committed, and the audit chain verifies after every refusal."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from accord.assistance import services as assistance
from accord.assistance.models import AssistanceRequest, RequestEvent, State
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.core.policy import Refused
from accord.core.roles import Role
from accord.dialogue import services as dialogue
from accord.dialogue.models import OutcomeSignature
from accord.dialogue.policy import NotYours
from accord.federation.models import OutboxMessage
from tests.objects import content, make_partner

pytestmark = pytest.mark.django_db(transaction=True)

SYSTEM = Actor.system("test")


def events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def refusal(what: str) -> audit.Entry:
    return audit.make_entry(SYSTEM, AuditAction.ACCESS_DENIED, data={"what": what})


@audit.refusals_kept()
def change_then_refuse(what: str) -> None:
    """A service that changes something, audits it, then refuses under its lock."""
    with transaction.atomic():
        audit.record(SYSTEM, AuditAction.NOTE_SEND, data={"what": what})
        audit.refuse(refusal(what), Refused("no", 409))


def assert_chain_intact() -> None:
    result = audit.verify()
    assert result.ok, result.describe()


def test_a_refusal_inside_the_transaction_is_kept_and_the_change_is_not():
    with pytest.raises(Refused):
        change_then_refuse("inside")

    assert not connection.in_atomic_block
    assert [e.data["what"] for e in events(AuditAction.ACCESS_DENIED)] == ["inside"]
    assert events(AuditAction.NOTE_SEND) == []
    assert_chain_intact()


def test_a_refusal_in_a_service_called_by_a_service_is_recorded_once():
    @audit.refusals_kept()
    def outer() -> None:
        with transaction.atomic():
            audit.record(SYSTEM, AuditAction.NOTE_SEND, data={"what": "outer"})
            change_then_refuse("nested")

    with pytest.raises(Refused):
        outer()

    assert [e.data["what"] for e in events(AuditAction.ACCESS_DENIED)] == ["nested"]
    assert events(AuditAction.NOTE_SEND) == []
    assert_chain_intact()


def test_a_refusal_the_service_handles_itself_is_recorded_with_what_it_did_instead():
    @audit.refusals_kept()
    def tolerant() -> None:
        with transaction.atomic():
            try:
                change_then_refuse("handled")
            except Refused:
                audit.record(SYSTEM, AuditAction.NOTE_SEND, data={"what": "instead"})

    tolerant()

    assert [e.data["what"] for e in events(AuditAction.ACCESS_DENIED)] == ["handled"]
    assert [e.data["what"] for e in events(AuditAction.NOTE_SEND)] == ["instead"]
    assert_chain_intact()


def test_a_refusal_outside_any_service_boundary_is_recorded_at_once():
    with pytest.raises(Refused):
        audit.refuse(refusal("plain"), Refused("no"))

    assert [e.data["what"] for e in events(AuditAction.ACCESS_DENIED)] == ["plain"]


# ---------------------------------------------------------------- the apps


def test_a_step_refused_under_the_request_lock_is_audited_and_changes_nothing(users):
    """The officer's page showed version 1; another step moved the request on
    before this one took the lock. The check on the page's copy passes; the
    check under the lock refuses, inside the step's transaction."""
    author = Actor.of(users[Role.INVESTIGATOR])
    request = assistance.create_request(
        author, make_partner(), content("data_order", confidential=False)
    )
    on_the_page = AssistanceRequest.objects.get(pk=request.pk)
    assistance.perform(author, request, "send_for_validation", version=1)
    before = (
        AssistanceRequest.objects.filter(pk=request.pk).values().get(),
        RequestEvent.objects.filter(request=request).count(),
        OutboxMessage.objects.count(),
    )

    with pytest.raises(assistance.TransitionRefused) as refused:
        assistance.perform(author, on_the_page, "send_for_validation", version=1)

    assert refused.value.status == 409
    after = (
        AssistanceRequest.objects.filter(pk=request.pk).values().get(),
        RequestEvent.objects.filter(request=request).count(),
        OutboxMessage.objects.count(),
    )
    assert after == before
    assert before[0]["state"] == State.PENDING_VALIDATION
    (event,) = events(AuditAction.REQUEST_ACTION_REFUSED)
    assert event.target_id == str(request.pk)
    assert event.data["action"] == "send_for_validation"
    assert event.data["status"] == 409
    assert_chain_intact()


def test_an_outcome_signature_refused_under_its_lock_is_audited_and_changes_nothing(users):
    """This node signs a version it has already signed (a second click, or a
    colleague at the same time): refused under the version's lock."""
    ca = Actor.of(users[Role.CENTRAL_AUTHORITY])
    record = dialogue.create_dialogue(
        ca, make_partner(), "law_enforcement_cyber", "Dialogue", "对话"
    )
    round_ = dialogue.save_round(
        ca, record, {"number": 1, "date": "2017-10-04", "venue_en": "Washington", "topics": []}
    )
    outcome = dialogue.propose_outcome(ca, round_, "narcotics", "Both sides agree.", "双方同意。")
    signatures, sent = OutcomeSignature.objects.count(), OutboxMessage.objects.count()

    with pytest.raises(NotYours):
        dialogue.sign_outcome(ca, outcome, 1)

    assert (OutcomeSignature.objects.count(), OutboxMessage.objects.count()) == (signatures, sent)
    (event,) = events(AuditAction.DIALOGUE_REFUSED)
    assert event.data["what"] == "sign_outcome"
    assert (event.target_type, event.target_id) == ("dialogue.outcome", str(outcome.pk))
    assert_chain_intact()
