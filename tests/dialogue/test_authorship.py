"""Who writes what in the dialogue record. Only the central authority changes
anything (every other role is refused, and the refusal audited as
core:access:denied); and a side writes only its own delegation, positions and
signatures, and the status of what it owes, whatever its role (a change to what
the other side authors is refused and audited as dialogue:record:refused). The
receiving node holds the partner to the same rules: a message in which the
sender writes for the other side is refused.

In one process: this node is xx.test, the partner (partner.test) a pinned Peer
whose messages are built here and handed to the handlers as the inbox would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from nacl.signing import SigningKey

from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.dialogue import services, signing, wire
from accord.dialogue.fields import now_iso
from accord.dialogue.models import (
    Dialogue,
    Outcome,
    Position,
)
from accord.dialogue.policy import NotYours
from accord.dialogue.types import CommitmentStatus
from accord.federation import kinds
from accord.federation.models import OutboxMessage, Peer
from tests.dialogue.conftest import Partner, Record, audit_count, b64, snapshot

pytestmark = pytest.mark.django_db

DENIED = "core:access:denied"
REFUSED = "dialogue:record:refused"
API = "/api/v1/dialogue"
NOT_CA = [role for role in Role if role != Role.CENTRAL_AUTHORITY]


def call(client: Client, method: str, path: str, body: dict[str, Any] | None = None):
    return client.generic(
        method, path, data=json.dumps(body or {}), content_type="application/json"
    )


# ---------------------------------------------------------------- every role

# Every change the API offers, on the record's own objects: (method, path, body, status
# for the central authority).
Change = Callable[[Record], tuple[str, str, dict[str, Any], int]]
API_CHANGES: dict[str, Change] = {
    "create a dialogue": lambda r: (
        "POST",
        f"{API}/dialogues",
        {
            "peer": r.dialogue.peer.node_id,
            "track": "economic",
            "title_en": "Economic dialogue",
            "title_zh": "经济对话",
        },
        201,
    ),
    "add a round": lambda r: (
        "POST",
        f"{API}/dialogues/{r.dialogue.pk}/rounds",
        {"number": 3, "date": "2019-01-10", "venue_en": "Geneva", "venue_zh": "日内瓦"},
        201,
    ),
    "set the delegation": lambda r: (
        "PUT",
        f"{API}/rounds/{r.round1.pk}/delegation",
        {"people": [{"role": "member", "name": "Wang Xiaohong"}]},
        200,
    ),
    "propose an outcome": lambda r: (
        "POST",
        f"{API}/rounds/{r.round1.pk}/outcomes",
        {"topic": "immigration", "text_en": "Repatriation", "text_zh": "遣返"},
        201,
    ),
    "amend an outcome": lambda r: (
        "POST",
        f"{API}/outcomes/{r.agreed.pk}/versions",
        {"text_en": "Amended", "text_zh": "修订"},
        201,
    ),
    "sign an outcome": lambda r: (
        "POST",
        f"{API}/outcomes/{r.theirs.pk}/signatures",
        {"version": 1},
        201,
    ),
    "open a disagreement": lambda r: (
        "POST",
        f"{API}/dialogues/{r.dialogue.pk}/disagreements",
        {"topic": "other", "issue_en": "Scope of the dialogue"},
        201,
    ),
    "state a position": lambda r: (
        "PUT",
        f"{API}/disagreements/{r.disagreement.pk}/position",
        {"text_en": "A new position"},
        200,
    ),
    "set a disagreement's status": lambda r: (
        "POST",
        f"{API}/disagreements/{r.disagreement.pk}/status",
        {"status": "managed"},
        200,
    ),
    "add a commitment": lambda r: (
        "POST",
        f"{API}/outcomes/{r.agreed.pk}/commitments",
        {"title_en": "Train officers", "owner_node": r.here, "due_date": "2031-01-01"},
        201,
    ),
    "report on a commitment": lambda r: (
        "POST",
        f"{API}/commitments/{r.we_owe.pk}/status",
        {"status": "in_progress"},
        200,
    ),
}

# The changes that need dialogue.sign; the others need dialogue.manage.
SIGNING = {"propose an outcome", "amend an outcome", "sign an outcome"}

PAGE_CHANGES: dict[str, Callable[[Record], tuple[str, dict[str, Any]]]] = {
    "create a dialogue": lambda r: (
        "/dialogue/new/",
        {
            "peer": r.dialogue.peer.node_id,
            "track": "economic",
            "title_en": "Economic dialogue",
            "title_zh": "经济对话",
        },
    ),
    "add a round": lambda r: (
        f"/dialogue/{r.dialogue.pk}/rounds/",
        {"number": "3", "date": "2019-01-10", "venue_en": "Geneva"},
    ),
    "edit a round": lambda r: (
        f"/dialogue/{r.dialogue.pk}/rounds/",
        {
            "round_id": str(r.round1.pk),
            "number": "1",
            "date": "2017-10-05",
            "venue_en": "Washington",
        },
    ),
    "set the delegation": lambda r: (
        f"/dialogue/rounds/{r.round1.pk}/delegation/",
        {"role": "member", "name": "Wang Xiaohong", "title": ""},
    ),
    "propose an outcome": lambda r: (
        f"/dialogue/rounds/{r.round1.pk}/outcomes/",
        {"topic": "immigration", "text_en": "Repatriation", "text_zh": "遣返"},
    ),
    "amend an outcome": lambda r: (
        f"/dialogue/outcomes/{r.agreed.pk}/amend/",
        {"text_en": "Amended", "text_zh": "修订"},
    ),
    "sign an outcome": lambda r: (f"/dialogue/outcomes/{r.theirs.pk}/sign/", {"version": "1"}),
    "open a disagreement": lambda r: (
        f"/dialogue/{r.dialogue.pk}/disagreements/",
        {"topic": "other", "issue_en": "Scope of the dialogue"},
    ),
    "state a position": lambda r: (
        f"/dialogue/disagreements/{r.disagreement.pk}/position/",
        {"text_en": "A new position"},
    ),
    "set a disagreement's status": lambda r: (
        f"/dialogue/disagreements/{r.disagreement.pk}/status/",
        {"status": "managed"},
    ),
    "add a commitment": lambda r: (
        f"/dialogue/outcomes/{r.agreed.pk}/commitments/",
        {"title_en": "Train officers", "owner_node": r.here, "due_date": "2031-01-01"},
    ),
    "report on a commitment": lambda r: (
        f"/dialogue/commitments/{r.we_owe.pk}/status/",
        {"status": "in_progress"},
    ),
}


@pytest.mark.parametrize("role", NOT_CA)
@pytest.mark.parametrize("change", sorted(API_CHANGES))
def test_only_the_central_authority_changes_the_record_through_the_api(
    record, client_for, role, change
):
    method, path, body, _status = API_CHANGES[change](record)
    before, denied = snapshot(), audit_count(DENIED)

    response = call(client_for(role), method, path, body)

    assert response.status_code == 403, response.content
    assert audit_count(DENIED) == denied + 1
    event = AuditEvent.objects.filter(action=DENIED).latest("seq")
    assert event.actor == f"user:{role.value}-user"
    assert event.target_id == ("dialogue.sign" if change in SIGNING else "dialogue.manage")
    assert snapshot() == before


@pytest.mark.parametrize("change", sorted(API_CHANGES))
def test_the_central_authority_makes_each_change_through_the_api(record, client_for, change):
    method, path, body, status = API_CHANGES[change](record)
    before, denied, refused = snapshot(), audit_count(DENIED), audit_count(REFUSED)

    response = call(client_for(Role.CENTRAL_AUTHORITY), method, path, body)

    assert response.status_code == status, response.content
    assert (audit_count(DENIED), audit_count(REFUSED)) == (denied, refused)
    after = snapshot()
    assert after != before
    # Every change travels to the partner.
    assert len(after["outbox"]) == len(before["outbox"]) + 1


@pytest.mark.parametrize("role", NOT_CA)
@pytest.mark.parametrize("change", sorted(PAGE_CHANGES))
def test_only_the_central_authority_changes_the_record_through_the_pages(
    record, client_for, role, change
):
    path, form = PAGE_CHANGES[change](record)
    before, denied = snapshot(), audit_count(DENIED)

    response = client_for(role).post(path, form)

    assert response.status_code == 403
    assert audit_count(DENIED) == denied + 1
    assert snapshot() == before


@pytest.mark.parametrize("change", sorted(PAGE_CHANGES))
def test_the_central_authority_makes_each_change_through_the_pages(record, client_for, change):
    path, form = PAGE_CHANGES[change](record)
    before, refused = snapshot(), audit_count(REFUSED)

    response = client_for(Role.CENTRAL_AUTHORITY).post(path, form, follow=True)

    assert response.status_code == 200
    levels = [m.level_tag for m in response.context["messages"]]
    assert levels == ["success"], [str(m) for m in response.context["messages"]]
    assert audit_count(REFUSED) == refused
    assert snapshot() != before


@pytest.mark.parametrize("role", NOT_CA)
def test_only_the_central_authority_proposes_and_signs_from_the_shell(record, users, role):
    before, denied = snapshot(), audit_count(DENIED)
    username = users[role].username
    with pytest.raises(CommandError, match="permission"):
        call_command(
            "dialogue",
            "propose",
            str(record.round1.pk),
            "--topic",
            "narcotics",
            "--text-en",
            "t",
            "--text-zh",
            "t",
            "--as",
            username,
        )
    with pytest.raises(CommandError, match="permission"):
        call_command("dialogue", "sign", str(record.theirs.pk), "--version", "1", "--as", username)
    assert audit_count(DENIED) == denied + 2
    assert snapshot() == before


def test_the_central_authority_signs_from_the_shell(record, users, capsys):
    username = users[Role.CENTRAL_AUTHORITY].username
    call_command("dialogue", "sign", str(record.theirs.pk), "--version", "1", "--as", username)
    assert f"outcome {record.theirs.pk} version 1 signed" in capsys.readouterr().out
    sides = signing.parties(record.dialogue)
    assert signing.status_of(record.theirs.latest(), sides) == "agreed"


# ---------------------------------------------------------------- the wrong side


def refusal_event() -> AuditEvent:
    return AuditEvent.objects.filter(action=REFUSED).latest("seq")


def test_a_side_cannot_report_on_a_commitment_the_other_side_owes(record, client_for):
    before, refused = snapshot(), audit_count(REFUSED)

    response = call(
        client_for(Role.CENTRAL_AUTHORITY),
        "POST",
        f"{API}/commitments/{record.they_owe.pk}/status",
        {"status": "done"},
    )

    assert response.status_code == 403, response.content
    assert "owes a commitment reports on it" in response.json()["detail"]
    assert audit_count(REFUSED) == refused + 1
    event = refusal_event()
    assert (event.target_type, event.target_id) == ("dialogue.commitment", str(record.they_owe.pk))
    assert event.data["what"] == "commitment_status"
    assert snapshot() == before  # unchanged, and nothing sent


def test_a_side_reports_on_the_commitment_it_owes(record, client_for):
    sent = OutboxMessage.objects.count()
    response = call(
        client_for(Role.CENTRAL_AUTHORITY),
        "POST",
        f"{API}/commitments/{record.we_owe.pk}/status",
        {"status": "in_progress", "note": "Two requests answered"},
    )
    assert response.status_code == 200, response.content
    record.we_owe.refresh_from_db()
    assert record.we_owe.status == "in_progress"
    last = record.we_owe.history[-1]
    assert (last["node"], last["status"], last["note"]) == (
        record.here,
        "in_progress",
        "Two requests answered",
    )
    assert OutboxMessage.objects.count() == sent + 1


def test_the_partners_report_on_a_commitment_it_owes_is_applied(record, partner):
    partner.report(record.they_owe, "done")
    record.they_owe.refresh_from_db()
    assert record.they_owe.status == "done"
    assert record.they_owe.history[-1]["node"] == partner.node


def test_a_side_cannot_edit_a_round_the_other_side_recorded(record, ca, client_for):
    before, refused = snapshot(), audit_count(REFUSED)
    data = {"number": 2, "date": "2018-06-15", "venue_en": "Shanghai"}

    with pytest.raises(NotYours):
        services.save_round(ca, record.dialogue, data, round_=record.round2)
    response = client_for(Role.CENTRAL_AUTHORITY).post(
        f"/dialogue/{record.dialogue.pk}/rounds/",
        {
            "round_id": str(record.round2.pk),
            "number": "2",
            "date": "2018-06-15",
            "venue_en": "Shanghai",
        },
        follow=True,
    )

    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert messages == [("error", "The other side keeps this round's record.")]
    assert audit_count(REFUSED) == refused + 2
    event = refusal_event()
    assert (event.target_id, event.data["what"]) == (str(record.round2.pk), "save_round")
    assert snapshot() == before


def test_a_side_edits_a_round_it_recorded(record, ca):
    services.save_round(
        ca,
        record.dialogue,
        {"number": 1, "date": "2017-10-04", "venue_en": "Washington"},
        round_=record.round1,
    )
    record.round1.refresh_from_db()
    assert record.round1.venue_en == "Washington"


def test_a_side_cannot_amend_an_outcome_the_other_side_proposed(record, client_for):
    before, refused = snapshot(), audit_count(REFUSED)

    response = call(
        client_for(Role.CENTRAL_AUTHORITY),
        "POST",
        f"{API}/outcomes/{record.theirs.pk}/versions",
        {"text_en": "Our words", "text_zh": "我方的措辞"},
    )

    assert response.status_code == 403, response.content
    assert audit_count(REFUSED) == refused + 1
    assert refusal_event().data["what"] == "amend_outcome"
    assert snapshot() == before


def test_a_side_sets_only_its_own_delegation(record, partner, client_for):
    response = call(
        client_for(Role.CENTRAL_AUTHORITY),
        "PUT",
        f"{API}/rounds/{record.round1.pk}/delegation",
        {
            "people": [
                {"role": "co_chair", "name": "Zhao Kezhi"},
                {"role": "member", "name": "Wang Xiaohong"},
            ]
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["node"] == record.here

    def names(node: str) -> list[str]:
        return [d.name for d in record.round1.delegates.filter(node=node).order_by("position")]

    assert names(record.here) == ["Zhao Kezhi", "Wang Xiaohong"]
    assert names(partner.node) == ["Jeff Sessions"]  # the partner's, untouched
    # And the partner's own delegation, when it changes it, leaves this side's alone.
    partner.delegation(record.round1, [{"role": "co_chair", "name": "Kirstjen Nielsen"}])
    assert names(partner.node) == ["Kirstjen Nielsen"]
    assert names(record.here) == ["Zhao Kezhi", "Wang Xiaohong"]


def test_a_side_states_only_its_own_position(record, partner, client_for):
    theirs = Position.objects.get(disagreement=record.disagreement, node=partner.node)
    response = call(
        client_for(Role.CENTRAL_AUTHORITY),
        "PUT",
        f"{API}/disagreements/{record.disagreement.pk}/position",
        {"text_en": "Evidence through agreed channels only"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["node"] == record.here
    positions = {p.node: p for p in record.disagreement.positions.all()}
    assert positions[record.here].text_en == "Evidence through agreed channels only"
    assert (positions[partner.node].text_en, positions[partner.node].stated_at) == (
        theirs.text_en,
        theirs.stated_at,
    )


def test_a_side_signs_only_for_itself(record, partner, client_for):
    response = call(
        client_for(Role.CENTRAL_AUTHORITY),
        "POST",
        f"{API}/outcomes/{record.theirs.pk}/signatures",
        {"version": 1},
    )
    assert response.status_code == 201, response.content
    version = record.theirs.latest()
    signatures = {s.node: s for s in version.signatures.all()}
    assert set(signatures) == {record.here, partner.node}
    assert signatures[record.here].public_key == b64(this_node().signing_public)
    assert signatures[partner.node].public_key == partner.peer.signing_key
    assert signing.status_of(version, signing.parties(record.dialogue)) == "agreed"


def test_signing_twice_or_an_old_version_is_refused_and_audited(record, ca):
    before, refused = snapshot(), audit_count(REFUSED)
    with pytest.raises(NotYours, match="already signed"):
        services.sign_outcome(ca, record.pending, 1)  # signed when proposed
    services.amend_outcome(ca, record.agreed, "Amended", "修订")
    amended = snapshot()
    with pytest.raises(NotYours, match="Only the latest version"):
        services.sign_outcome(ca, record.agreed, 1)
    assert audit_count(REFUSED) == refused + 2
    assert [e.data["what"] for e in AuditEvent.objects.filter(action=REFUSED)] == [
        "sign_outcome",
        "sign_outcome",
    ]
    assert snapshot() == amended != before  # only the amendment changed the record


# ---------------------------------------------------------------- forged messages


def forged_round_update(r: Record, p: Partner) -> tuple[str, Any]:
    body = wire.round_body(r.round1).model_copy(update={"venue_en": "Rewritten"})
    return wire.ROUND_KIND, body


def forged_amendment(r: Record, p: Partner) -> tuple[str, Any]:
    """A version 2 of this node's outcome, proposed by the partner in its own name."""
    sha = signing.content_hash(signing.outcome_content(r.agreed, 2, "Changed", "改"))
    return wire.OUTCOME_KIND, wire.OutcomeBody(
        id=str(r.agreed.pk),
        round_id=str(r.round1.pk),
        topic="narcotics",
        author_node=p.node,
        created_at=r.agreed.created_at.isoformat(),
        version=2,
        text_en="Changed",
        text_zh="改",
        content_sha256=sha,
        signature=p.block(sha),
    )


def forged_outcome_in_our_name(r: Record, p: Partner) -> tuple[str, Any]:
    shell = Outcome(id=uuid.uuid4(), round=r.round1, topic="fugitives", author_node=r.here)
    sha = signing.content_hash(signing.outcome_content(shell, 1, "Ours?", "我们的？"))
    return wire.OUTCOME_KIND, wire.OutcomeBody(
        id=str(shell.pk),
        round_id=str(r.round1.pk),
        topic="fugitives",
        author_node=r.here,
        created_at="2026-01-01T00:00:00+00:00",
        version=1,
        text_en="Ours?",
        text_zh="我们的？",
        content_sha256=sha,
        signature=p.block(sha, node=r.here),
    )


def forged_proposer_signature(r: Record, p: Partner) -> tuple[str, Any]:
    """The partner's proposal, carrying a signature block in this node's name."""
    shell = Outcome(id=uuid.uuid4(), round=r.round2, topic="fugitives", author_node=p.node)
    sha = signing.content_hash(signing.outcome_content(shell, 1, "Agreed?", "同意？"))
    return wire.OUTCOME_KIND, wire.OutcomeBody(
        id=str(shell.pk),
        round_id=str(r.round2.pk),
        topic="fugitives",
        author_node=p.node,
        created_at="2026-01-01T00:00:00+00:00",
        version=1,
        text_en="Agreed?",
        text_zh="同意？",
        content_sha256=sha,
        signature=p.block(sha, node=r.here),
    )


def signature_on(outcome: Outcome, p: Partner, **block: Any) -> wire.SignatureBody:
    version = outcome.latest()
    assert version is not None
    sha = block.pop("sha", version.content_sha256)
    return wire.SignatureBody(
        outcome_id=str(outcome.pk),
        version=1,
        content_sha256=version.content_sha256,
        signature=p.block(sha, **block),
    )


def forged_signature_for_us(r: Record, p: Partner) -> tuple[str, Any]:
    """This node's 'signature' on the partner's outcome, made by the partner."""
    return wire.SIGNATURE_KIND, signature_on(r.theirs, p, node=r.here)


def replayed_signature_of_ours(r: Record, p: Partner) -> tuple[str, Any]:
    """This node's genuine signature (from the agreed outcome) replayed onto the
    partner's outcome in this node's name."""
    ours = r.agreed.latest().signatures.get(node=r.here)
    version = r.theirs.latest()
    return wire.SIGNATURE_KIND, wire.SignatureBody(
        outcome_id=str(r.theirs.pk),
        version=1,
        content_sha256=version.content_sha256,
        signature=wire.signature_block(ours),
    )


def signature_with_an_unpinned_key(r: Record, p: Partner) -> tuple[str, Any]:
    return wire.SIGNATURE_KIND, signature_on(r.pending, p, key=SigningKey.generate())


def signature_over_other_content(r: Record, p: Partner) -> tuple[str, Any]:
    return wire.SIGNATURE_KIND, signature_on(r.pending, p, sha="0" * 64)


def second_signature(r: Record, p: Partner) -> tuple[str, Any]:
    version = r.agreed.latest()
    return wire.SIGNATURE_KIND, wire.SignatureBody(
        outcome_id=str(r.agreed.pk),
        version=1,
        content_sha256=version.content_sha256,
        signature=p.block(version.content_sha256),
    )


def forged_position(r: Record, p: Partner) -> tuple[str, Any]:
    return wire.POSITION_KIND, wire.PositionBody(
        disagreement_id=str(r.disagreement.pk),
        node=r.here,
        text_en="We concede everything",
        text_zh="",
        stated_at=now_iso(),
        actor_name="Forger",
    )


def forged_delegation(r: Record, p: Partner) -> tuple[str, Any]:
    return wire.DELEGATION_KIND, wire.DelegationBody(
        round_id=str(r.round1.pk),
        node=r.here,
        people=[{"role": "co_chair", "name": "Somebody else", "title": "", "position": 0}],
    )


def forged_commitment_report(r: Record, p: Partner) -> tuple[str, Any]:
    """The partner declares done a commitment this node owes."""
    return wire.COMMITMENT_KIND, wire.commitment_body(r.we_owe).model_copy(
        update={"status": CommitmentStatus.DROPPED, "updated_at": now_iso()}
    )


def forged_commitment_in_our_name(r: Record, p: Partner) -> tuple[str, Any]:
    body = wire.commitment_body(r.we_owe).model_copy(update={"id": str(uuid.uuid4())})
    return wire.COMMITMENT_KIND, body  # author_node: this node


def forged_disagreement_status(r: Record, p: Partner) -> tuple[str, Any]:
    return wire.STATUS_KIND, wire.StatusBody(
        disagreement_id=str(r.disagreement.pk),
        status="resolved",
        at=now_iso(),
        node=r.here,
        actor_name="Forger",
        note="",
    )


def forged_disagreement_in_our_name(r: Record, p: Partner) -> tuple[str, Any]:
    return wire.DISAGREEMENT_KIND, wire.DisagreementBody(
        id=str(uuid.uuid4()),
        dialogue_id=str(r.dialogue.pk),
        topic="other",
        issue_en="Ours?",
        issue_zh="",
        author_node=r.here,
        created_at="2026-01-01T00:00:00+00:00",
        opened_at=now_iso(),
        actor_name="Forger",
    )


def forged_dialogue_in_our_name(r: Record, p: Partner) -> tuple[str, Any]:
    return wire.DIALOGUE_KIND, wire.dialogue_body(r.dialogue).model_copy(
        update={"title_en": "Renamed"}
    )


def round_in_another_partners_dialogue(r: Record, p: Partner) -> tuple[str, Any]:
    other = Peer.objects.create(
        node_id="other.test",
        url="http://127.0.0.1:9/",
        party="X",
        agency="Y",
        signing_key="k",
        encryption_key="k",
        fingerprint="1" * 64,
    )
    dialogue = Dialogue.objects.create(
        id=uuid.uuid4(),
        track="economic",
        title_en="Another",
        title_zh="另一个",
        peer=other,
        author_node=r.here,
        created_at=r.dialogue.created_at,
    )
    return wire.ROUND_KIND, wire.RoundBody(
        id=str(uuid.uuid4()),
        dialogue_id=str(dialogue.pk),
        number=7,
        date="2019-01-01",
        venue_en="Elsewhere",
        venue_zh="",
        topics=[],
        documents=[],
    )


FORGERIES = {
    "the partner rewrites a round this node recorded": (forged_round_update, "not_author"),
    "the partner amends an outcome this node proposed": (forged_amendment, "not_author"),
    "the partner proposes an outcome in this node's name": (
        forged_outcome_in_our_name,
        "not_author",
    ),
    "the partner's proposal carries a signature in this node's name": (
        forged_proposer_signature,
        "not_author",
    ),
    "the partner signs in this node's name": (forged_signature_for_us, "not_author"),
    "the partner replays this node's signature": (replayed_signature_of_ours, "not_author"),
    "the partner signs with a key not pinned for it": (
        signature_with_an_unpinned_key,
        "bad_signature",
    ),
    "the partner's signature covers other content": (
        signature_over_other_content,
        "bad_signature",
    ),
    "the partner signs a version twice": (second_signature, "already_signed"),
    "the partner states this node's position": (forged_position, "not_author"),
    "the partner sets this node's delegation": (forged_delegation, "not_author"),
    "the partner reports on a commitment this node owes": (forged_commitment_report, "not_owner"),
    "the partner creates a commitment in this node's name": (
        forged_commitment_in_our_name,
        "not_author",
    ),
    "the partner sets a status in this node's name": (forged_disagreement_status, "not_author"),
    "the partner opens a disagreement in this node's name": (
        forged_disagreement_in_our_name,
        "not_author",
    ),
    "the partner renames a dialogue this node created": (
        forged_dialogue_in_our_name,
        "not_author",
    ),
    "the partner writes into a dialogue with another node": (
        round_in_another_partners_dialogue,
        "unknown_dialogue",
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_the_receiving_node_refuses_what_the_sender_does_not_author(record, partner, forgery):
    forge, reason = FORGERIES[forgery]
    kind, body = forge(record, partner)
    before = snapshot()

    with pytest.raises(kinds.Refusal) as refused:
        partner.send(kind, body)

    assert refused.value.reason.startswith(f"{reason}:"), refused.value.reason
    assert snapshot() == before


def test_the_partner_writes_what_it_authors(record, partner):
    """The same kinds, in the partner's own name, are applied."""
    partner.position(record.disagreement, "Revised: technical means and shared evidence")
    partner.delegation(record.round2, [{"role": "co_chair", "name": "Jeff Sessions"}])
    position = Position.objects.get(disagreement=record.disagreement, node=partner.node)
    assert position.text_en == "Revised: technical means and shared evidence"
    assert [d.name for d in record.round2.delegates.all()] == ["Jeff Sessions"]
    partner.send(
        wire.STATUS_KIND,
        wire.StatusBody(
            disagreement_id=str(record.disagreement.pk),
            status="managed",
            at=now_iso(),
            node=partner.node,
            actor_name="Partner official",
            note="",
        ),
    )
    record.disagreement.refresh_from_db()
    assert record.disagreement.status == "managed"
