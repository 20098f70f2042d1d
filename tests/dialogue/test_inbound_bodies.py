"""Every time and date a dialogue.* body carries is checked by its schema
(issue 11, "A workflow both sides can rely on"): a body whose timestamp is not
a real, aware ISO 8601 time ("yesterday", a 13th month, no UTC offset), or
whose date is not a real day, is refused as an invalid body whose reason names
the field, never as an internal error, and nothing of the record changes. A
time both nodes compare as text (which status wins, a signature's time) must
be in the one format `now_iso` writes.

Through the real inbox: the partner is played by the test (its keys pinned as
a Peer row, tests/federation/test_inbox_rejections.py), each body sealed and
signed as its node would send it. The same body, untampered, then applies."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.utils import timezone

from accord.core.audit import Actor
from accord.dialogue import services, signing, wire
from accord.dialogue.fields import now_iso
from accord.dialogue.models import Dialogue, Disagreement, Outcome, Round
from accord.federation.models import InboxMessage, MessageStatus
from tests.dialogue.conftest import snapshot
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def remote(db) -> RemotePeer:
    return RemotePeer.create("yy.dialogue")


@pytest.fixture
def deliver(client, remote: RemotePeer, django_capture_on_commit_callbacks):
    """Send one message from the partner through the inbox; returns the receipt."""

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


@dataclass
class Shared:
    """What this node shares with the partner, recorded here."""

    remote: RemotePeer
    dialogue: Dialogue
    round: Round
    outcome: Outcome  # proposed here, not yet signed by the partner
    disagreement: Disagreement

    def block(self, sha256: str) -> dict[str, Any]:
        """The partner's genuine signature over `sha256`."""
        node, name, title, at = self.remote.node_id, "Partner official", "Minister", now_iso()
        statement = signing.signature_statement(sha256, node, name, title, at)
        signed = self.remote.signing_key.sign(statement).signature
        return {
            "node": node,
            "signer_name": name,
            "signer_title": title,
            "signed_at": at,
            "public_key": self.remote.peer.signing_key,
            "signature": base64.b64encode(signed).decode(),
        }


@pytest.fixture
def shared(ca: Actor, remote: RemotePeer) -> Shared:
    dialogue = services.create_dialogue(
        ca, remote.peer, "law_enforcement_cyber", "Dialogue", "对话"
    )
    round_ = services.save_round(
        ca,
        dialogue,
        {
            "number": 1,
            "date": "2017-10-04",
            "venue_en": "Washington, D.C.",
            "venue_zh": "华盛顿",
            "topics": ["cybersecurity"],
            "documents": [],
        },
    )
    outcome = services.propose_outcome(
        ca, round_, "cybersecurity", "Answer promptly.", "及时答复。"
    )
    item = services.open_disagreement(ca, dialogue, "cybersecurity", "Attribution", "归因")
    return Shared(remote, dialogue, round_, outcome, item)


# ---------------------------------------------------------------- the partner's bodies, well formed


def dialogue_body(s: Shared) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "track": "law_enforcement_cyber",
        "title_en": "Their dialogue",
        "title_zh": "对方的对话",
        "author_node": s.remote.node_id,
        "created_at": timezone.now().isoformat(),
    }


def round_body(s: Shared) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "dialogue_id": str(s.dialogue.pk),
        "number": 2,
        "date": "2018-06-14",
        "venue_en": "Beijing",
        "venue_zh": "北京",
        "topics": ["cybersecurity"],
        "documents": [],
    }


def outcome_body(s: Shared) -> dict[str, Any]:
    outcome_id, text_en, text_zh = str(uuid.uuid4()), "Share leads.", "分享线索。"
    node = s.remote.node_id
    shell = Outcome(id=outcome_id, round=s.round, topic="cybersecurity", author_node=node)
    sha = signing.content_hash(signing.outcome_content(shell, 1, text_en, text_zh))
    return {
        "id": outcome_id,
        "round_id": str(s.round.pk),
        "topic": "cybersecurity",
        "author_node": node,
        "created_at": timezone.now().isoformat(),
        "version": 1,
        "text_en": text_en,
        "text_zh": text_zh,
        "content_sha256": sha,
        "signature": s.block(sha),
    }


def signature_body(s: Shared) -> dict[str, Any]:
    version = s.outcome.latest()
    assert version is not None
    return {
        "outcome_id": str(s.outcome.pk),
        "version": version.version,
        "content_sha256": version.content_sha256,
        "signature": s.block(version.content_sha256),
    }


def disagreement_body(s: Shared) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "dialogue_id": str(s.dialogue.pk),
        "round_id": None,
        "topic": "cybersecurity",
        "issue_en": "Data localisation",
        "issue_zh": "",
        "author_node": s.remote.node_id,
        "created_at": timezone.now().isoformat(),
        "opened_at": now_iso(),
        "actor_name": "Partner official",
    }


def position_body(s: Shared) -> dict[str, Any]:
    return {
        "disagreement_id": str(s.disagreement.pk),
        "node": s.remote.node_id,
        "text_en": "National means.",
        "text_zh": "",
        "stated_at": now_iso(),
        "actor_name": "Partner official",
    }


def status_body(s: Shared) -> dict[str, Any]:
    return {
        "disagreement_id": str(s.disagreement.pk),
        "status": "managed",
        "at": now_iso(),
        "node": s.remote.node_id,
        "actor_name": "Partner official",
        "note": "",
    }


def commitment_body(s: Shared) -> dict[str, Any]:
    at, node = now_iso(), s.remote.node_id
    return {
        "id": str(uuid.uuid4()),
        "outcome_id": str(s.outcome.pk),
        "title_en": "Answer within a month",
        "title_zh": "",
        "owner_node": node,
        "due_date": date(2030, 6, 30).isoformat(),
        "status": "open",
        "indicators": [],
        "author_node": node,
        "updated_at": at,
        "history": [{"at": at, "node": node, "status": "open", "by": "Partner official"}],
    }


Builder = Callable[[Shared], dict[str, Any]]
KINDS: dict[str, tuple[str, Builder]] = {
    "dialogue": (wire.DIALOGUE_KIND, dialogue_body),
    "round": (wire.ROUND_KIND, round_body),
    "outcome": (wire.OUTCOME_KIND, outcome_body),
    "signature": (wire.SIGNATURE_KIND, signature_body),
    "disagreement": (wire.DISAGREEMENT_KIND, disagreement_body),
    "position": (wire.POSITION_KIND, position_body),
    "status": (wire.STATUS_KIND, status_body),
    "commitment": (wire.COMMITMENT_KIND, commitment_body),
}

NOT_A_TIME = "yesterday"
NO_SUCH_MONTH = "2026-13-45T10:00:00.000000+00:00"  # the right shape, not a real time
NO_OFFSET = "2026-01-05T10:00:00.000000"
NOT_THE_FORMAT = "2026-01-05T10:00:00Z"  # a real time, but not as both nodes compare it


@pytest.mark.parametrize(
    ("name", "path", "bad"),
    [
        ("dialogue", "created_at", NOT_A_TIME),
        ("dialogue", "created_at", NO_SUCH_MONTH),
        ("dialogue", "created_at", NO_OFFSET),
        ("round", "date", "2018-02-30"),
        ("round", "date", "14 June 2018"),
        ("outcome", "created_at", NOT_A_TIME),
        ("outcome", "signature.signed_at", NO_SUCH_MONTH),
        ("signature", "signature.signed_at", NOT_A_TIME),
        ("signature", "signature.signed_at", NOT_THE_FORMAT),
        ("disagreement", "created_at", "2026-02-30T10:00:00+00:00"),
        ("disagreement", "opened_at", NO_SUCH_MONTH),
        ("position", "stated_at", NOT_A_TIME),
        ("status", "at", NO_SUCH_MONTH),
        ("status", "at", NOT_THE_FORMAT),
        ("commitment", "due_date", "2030-06-31"),
        ("commitment", "updated_at", NOT_A_TIME),
        ("commitment", "history.0.at", NO_SUCH_MONTH),
    ],
)
def test_a_dialogue_body_with_a_time_that_is_not_one_is_refused_and_changes_nothing(
    shared, deliver, name, path, bad
):
    kind, build = KINDS[name]
    body = build(shared)
    tampered = json.loads(json.dumps(body))
    place(tampered, path, bad)
    # A report in the history is checked whole: the reason names the report.
    named = path.removesuffix(".at") if path.startswith("history.") else path
    before = snapshot()

    receipt = deliver(kind, tampered)

    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith(f"invalid_body: {named}: "), receipt["reason"]
    assert "internal_error" not in receipt["reason"]
    assert InboxMessage.objects.get(pk=receipt["message_id"]).status == MessageStatus.REFUSED
    assert snapshot() == before
    # The same body with its own time applies: the time alone was refused.
    assert deliver(kind, body)["status"] == "applied"


def place(body: dict[str, Any], path: str, value: str) -> None:
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[last] = value


def test_the_bodies_this_node_sends_pass_its_own_checks(shared, ca):
    """What this node's builders put on the wire is what the schemas accept."""
    item = services.create_commitment(
        ca,
        shared.outcome,
        {"title_en": "Reply", "owner_node": shared.remote.node_id, "due_date": "2030-06-30"},
    )
    version = shared.outcome.latest()
    assert version is not None
    signature = version.signatures.get()
    bodies = [
        wire.dialogue_body(shared.dialogue),
        wire.round_body(shared.round),
        wire.outcome_body(shared.outcome, version, signature),
        wire.signature_body(shared.outcome, version, signature),
        wire.disagreement_body(shared.disagreement, "Official", now_iso()),
        wire.commitment_body(item),
    ]
    for body in bodies:
        data = json.loads(json.dumps(body.model_dump(mode="json")))
        assert type(body).model_validate(data) == body
