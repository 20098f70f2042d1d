"""The evidence.* kinds of conditions and retention, through the real inbox
and outbox with a partner played by the test: the provider's question and
the answer travel and are recorded on both sides; a purge of the partner's
material is confirmed to it with the signed record, which the receiving side
checks and keeps in its copy of the chain."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.utils import timezone

from accord.assistance import services as assistance
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.evidence import custody, services, usage
from accord.evidence.conditions_wire import PURGED_KIND, USE_ANSWER_KIND, USE_QUESTION_KIND
from accord.evidence.models import UseQuestion
from accord.federation.envelope import open_body
from accord.federation.models import OutboxMessage
from tests.assistance.flow import request_body
from tests.evidence.partner import fresh, received
from tests.evidence.world import add, events, make_people
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return make_people()


@pytest.fixture
def remote(db) -> RemotePeer:
    return RemotePeer.create("yy.evidence")


@pytest.fixture
def shared(people, remote):
    body = request_body("data_order", remote.node_id)
    body.pop("peer")
    return assistance.create_request(Actor.of(people["author"]), remote.peer, body)


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


def sent(remote: RemotePeer, kind: str) -> list[dict[str, Any]]:
    """What this node queued for the partner, opened as the partner would."""
    return [
        json.loads(open_body(m.body, remote.encryption_key, this_node().encryption_public))
        for m in OutboxMessage.objects.filter(peer=remote.peer, kind=kind).order_by("seq")
    ]


def test_the_providers_question_arrives_and_the_answer_goes_back(people, remote, shared, deliver):
    item = received(shared)
    question = {
        "question_id": str(uuid.uuid4()),
        "item_id": str(item.pk),
        "sha256": item.sha256,
        "question": "Was the production used at trial?",
        "asked_by": "provider-ca",
        "asked_at": "2026-12-01T10:00:00+00:00",
    }
    assert deliver(remote, USE_QUESTION_KIND, question)["status"] == "applied"
    row = UseQuestion.objects.get(pk=question["question_id"])
    assert (row.item_id, row.asked_node, row.asked_by) == (item.pk, remote.node_id, "provider-ca")
    assert events(AuditAction.EVIDENCE_USE_ASKED, target_id=str(item.pk)) == 1

    usage.answer_use(Actor.of(people["author"]), row, "Exhibit 4, trial of 3 March.")
    [answer] = sent(remote, USE_ANSWER_KIND)
    assert answer["question_id"] == question["question_id"]
    assert answer["answer"] == "Exhibit 4, trial of 3 March."
    assert answer["answered_by"] == "ev-author"


def test_our_question_goes_out_and_the_answer_is_recorded(people, remote, shared, deliver):
    ours = add(people["central"], b"our production", request=shared)
    asked = usage.ask_use(Actor.of(people["central"]), fresh(ours), "How was it used?")
    [body] = sent(remote, USE_QUESTION_KIND)
    assert body["question_id"] == str(asked.pk) and body["sha256"] == ours.sha256
    answer = {
        "question_id": str(asked.pk),
        "item_id": str(ours.pk),
        "answer": "Shown to the court.",
        "answered_by": "partner-officer",
        "answered_at": "2026-12-02T10:00:00+00:00",
    }
    assert deliver(remote, USE_ANSWER_KIND, answer)["status"] == "applied"
    asked.refresh_from_db()
    assert (asked.answer, asked.answered_by) == ("Shown to the court.", "partner-officer")
    assert events(AuditAction.EVIDENCE_USE_ANSWERED, target_id=str(ours.pk)) == 1
    stray = {**answer, "question_id": str(uuid.uuid4())}
    receipt = deliver(remote, USE_ANSWER_KIND, stray)
    assert receipt["status"] == "refused" and receipt["reason"].startswith("unknown_question")


def test_a_question_about_our_own_material_or_an_unshared_item_is_refused(
    people, remote, shared, deliver
):
    ours = add(people["author"], b"our court order", request=shared)
    question = {
        "question_id": str(uuid.uuid4()),
        "item_id": str(ours.pk),
        "sha256": ours.sha256,
        "question": "How?",
        "asked_by": "x",
        "asked_at": "2026-12-01T10:00:00+00:00",
    }
    receipt = deliver(remote, USE_QUESTION_KIND, question)
    assert receipt["status"] == "refused" and receipt["reason"].startswith("not_provided")
    unknown = {**question, "item_id": str(uuid.uuid4())}
    receipt = deliver(remote, USE_QUESTION_KIND, unknown)
    assert receipt["status"] == "refused" and receipt["reason"].startswith("unknown_item")
    assert not UseQuestion.objects.exists()


def test_a_purge_of_the_partners_material_is_confirmed_with_the_signed_record(
    people, remote, shared
):
    item = received(shared)
    own = add(people["author"], b"our court order", request=shared)
    actor = Actor.of(people["author"])
    services.purge_item(actor, item, "The provider required deletion.")
    services.purge_item(actor, own, "Not needed.")
    [confirmation] = sent(remote, PURGED_KIND)  # our own material: nothing sent
    assert (confirmation["item"], confirmation["sha256"]) == (str(item.pk), item.sha256)
    record = custody.Record.from_json(confirmation["record"])
    assert (record.event, record.node, record.reason) == (
        "purged",
        this_node().node_id,
        "The provider required deletion.",
    )
    assert record.signature_ok(this_node().signing_public)


def purge_record(remote: RemotePeer, item, prev=None, reason="Retention ended.") -> dict:
    return custody.make_record(
        item=str(item.pk),
        sha256=item.sha256,
        node=remote.node_id,
        prev=prev,
        event="purged",
        at=timezone.now(),
        actor="clock",
        reason=reason,
        details={"bytes_removed": 1},
        signing_key=remote.signing_key,
    ).to_json()


def test_the_partners_purge_confirmation_is_checked_and_kept(people, remote, shared, deliver):
    ours = add(people["central"], b"our production", request=shared)
    record = purge_record(remote, ours)
    body = {
        "item": str(ours.pk),
        "sha256": ours.sha256,
        "purged_at": "2026-12-03T10:00:00+00:00",
        "reason": "Retention ended.",
        "record": record,
    }
    forged = {**record, "reason": "Something else"}
    receipt = deliver(remote, PURGED_KIND, {**body, "record": forged})
    assert receipt["status"] == "refused" and receipt["reason"].startswith("bad_record")
    assert deliver(remote, PURGED_KIND, body)["status"] == "applied"
    assert deliver(remote, PURGED_KIND, body)["status"] == "applied"  # once only
    kept = ours.custody.get(node=remote.node_id)
    assert (kept.event, kept.seq, kept.hash) == ("purged", 0, custody.Record.from_json(record).hash)
    assert events(AuditAction.EVIDENCE_PURGE_CONFIRMED, target_id=str(ours.pk)) == 1
