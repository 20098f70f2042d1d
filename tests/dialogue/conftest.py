"""In-process fixtures for the dialogue record: this node (xx.test, from
tests/conftest.py) and a partner node that exists only as a pinned Peer row
with a real Ed25519 key, so the partner's messages, signatures included, can be
built here and handed to the receiving handlers exactly as the inbox would."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from nacl.signing import SigningKey

from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.dialogue import services, signing, wire
from accord.dialogue.fields import now_iso
from accord.dialogue.models import (
    Commitment,
    DelegateEntry,
    Dialogue,
    Disagreement,
    DisagreementEvent,
    Outcome,
    OutcomeSignature,
    OutcomeVersion,
    Position,
    Round,
)
from accord.dialogue.types import CommitmentStatus
from accord.federation import kinds
from accord.federation.models import OutboxMessage, Peer

PARTNER = "partner.test"
DIALOGUE_EN = "China–US Law Enforcement and Cybersecurity Dialogue"
DIALOGUE_ZH = "中美执法及网络安全对话"
NARCOTICS_EN = "Both sides will strengthen cooperation against drug trafficking."
NARCOTICS_ZH = "双方将加强禁毒合作。"
FUGITIVES_EN = "Both sides will locate fugitives on the other's request."
FUGITIVES_ZH = "双方将应对方请求查找逃犯。"
CYBER_EN = "Both sides will answer each other's cybercrime requests promptly."
CYBER_ZH = "双方将及时答复对方的网络犯罪请求。"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def audit_count(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def snapshot() -> dict[str, Any]:
    """Everything the dialogue record holds, and what waits to be sent."""
    return {
        "dialogues": list(Dialogue.objects.order_by("id").values()),
        "rounds": list(Round.objects.order_by("id").values()),
        "delegates": list(DelegateEntry.objects.order_by("id").values()),
        "outcomes": list(Outcome.objects.order_by("id").values()),
        "versions": list(OutcomeVersion.objects.order_by("id").values()),
        "signatures": list(OutcomeSignature.objects.order_by("id").values()),
        "disagreements": list(Disagreement.objects.order_by("id").values()),
        "positions": list(Position.objects.order_by("id").values()),
        "events": list(DisagreementEvent.objects.order_by("id").values()),
        "commitments": list(Commitment.objects.order_by("id").values()),
        "outbox": list(OutboxMessage.objects.order_by("id").values_list("id", flat=True)),
    }


@dataclass
class Partner:
    """The partner node: its Peer row here, and the private key it signs with."""

    peer: Peer
    key: SigningKey
    seq: int = 0

    @property
    def node(self) -> str:
        return self.peer.node_id

    def context(self) -> kinds.InboundContext:
        self.seq += 1
        return kinds.InboundContext(self.peer, str(uuid.uuid4()), self.seq, None)

    def block(
        self,
        sha256: str,
        *,
        node: str | None = None,
        key: SigningKey | None = None,
        name: str = "Jeff Sessions",
        title: str = "Attorney General",
    ) -> wire.SignatureBlock:
        """A signature block over `sha256`, by default the partner's own, genuine one."""
        node, key, at = node or self.node, key or self.key, now_iso()
        statement = signing.signature_statement(sha256, node, name, title, at)
        return wire.SignatureBlock(
            node=node,
            signer_name=name,
            signer_title=title,
            signed_at=at,
            public_key=b64(bytes(key.verify_key)),
            signature=b64(key.sign(statement).signature),
        )

    def send(self, kind: str, body: Any) -> None:
        """Deliver one message from the partner as the inbox does: the body
        through the kind's schema (as JSON, as on the wire), the handler in a
        savepoint. A kinds.Refusal propagates; what the handler wrote is undone."""
        registered = kinds.get(kind)
        assert registered is not None, kind
        data = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
        parsed = registered.schema.model_validate(json.loads(json.dumps(data)))
        with transaction.atomic():
            registered.handler(self.context(), parsed)

    # ------------------------------------------------ the partner's own records

    def round(self, dialogue: Dialogue, number: int, **extra: Any) -> Round:
        round_id = str(uuid.uuid4())
        body = {
            "id": round_id,
            "dialogue_id": str(dialogue.pk),
            "number": number,
            "date": "2018-06-14",
            "venue_en": "Beijing",
            "venue_zh": "北京",
            "topics": ["cybersecurity"],
            "documents": [],
            **extra,
        }
        self.send(wire.ROUND_KIND, body)
        return Round.objects.get(pk=round_id)

    def propose(self, round_: Round, topic: str, text_en: str, text_zh: str) -> Outcome:
        outcome_id = str(uuid.uuid4())
        created = timezone.now()
        shell = Outcome(id=outcome_id, round=round_, topic=topic, author_node=self.node)
        sha = signing.content_hash(signing.outcome_content(shell, 1, text_en, text_zh))
        self.send(
            wire.OUTCOME_KIND,
            wire.OutcomeBody(
                id=outcome_id,
                round_id=str(round_.pk),
                topic=topic,
                author_node=self.node,
                created_at=created.isoformat(),
                version=1,
                text_en=text_en,
                text_zh=text_zh,
                content_sha256=sha,
                signature=self.block(sha),
            ),
        )
        return Outcome.objects.get(pk=outcome_id)

    def cosign(self, outcome: Outcome, version: int | None = None) -> None:
        found = outcome.versions.get(version=version) if version else outcome.latest()
        assert found is not None
        self.send(
            wire.SIGNATURE_KIND,
            wire.SignatureBody(
                outcome_id=str(outcome.pk),
                version=found.version,
                content_sha256=found.content_sha256,
                signature=self.block(found.content_sha256),
            ),
        )

    def delegation(self, round_: Round, people: list[dict[str, Any]]) -> None:
        self.send(
            wire.DELEGATION_KIND,
            wire.DelegationBody(round_id=str(round_.pk), node=self.node, people=people),
        )

    def position(self, item: Disagreement, text_en: str, text_zh: str = "") -> None:
        self.send(
            wire.POSITION_KIND,
            wire.PositionBody(
                disagreement_id=str(item.pk),
                node=self.node,
                text_en=text_en,
                text_zh=text_zh,
                stated_at=now_iso(),
                actor_name="Partner official",
            ),
        )

    def report(self, item: Commitment, status: str) -> None:
        """The partner reports on a commitment it owes (as its set_commitment_status does)."""
        at = now_iso()
        body = wire.commitment_body(item).model_copy(
            update={
                "status": CommitmentStatus(status),
                "updated_at": at,
                "history": [
                    *item.history,
                    {
                        "at": at,
                        "node": self.node,
                        "status": status,
                        "by": "Partner official",
                        "note": "",
                    },
                ],
            }
        )
        self.send(wire.COMMITMENT_KIND, body)


@pytest.fixture
def partner(db) -> Partner:
    key = SigningKey.generate()
    peer = Peer.objects.create(
        node_id=PARTNER,
        url="http://127.0.0.1:9/",
        party="United States",
        agency="Department of Justice",
        signing_key=b64(bytes(key.verify_key)),
        encryption_key=b64(bytes(SigningKey.generate().verify_key)),
        fingerprint="0" * 64,
    )
    return Partner(peer, key)


@pytest.fixture
def ca(users) -> Actor:
    return Actor.of(users[Role.CENTRAL_AUTHORITY])


@dataclass
class Record:
    """One dialogue as both sides built it. `here` is this node (xx.test)."""

    here: str
    dialogue: Dialogue
    round1: Round  # recorded here
    round2: Round  # recorded by the partner
    agreed: Outcome  # proposed here, co-signed by the partner: agreed
    theirs: Outcome  # proposed by the partner, not yet signed here
    pending: Outcome  # proposed here, not yet signed by the partner
    we_owe: Commitment
    they_owe: Commitment
    disagreement: Disagreement
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def record(ca: Actor, partner: Partner) -> Record:
    here = this_node().node_id
    dialogue = services.create_dialogue(
        ca, partner.peer, "law_enforcement_cyber", DIALOGUE_EN, DIALOGUE_ZH
    )
    round1 = services.save_round(
        ca,
        dialogue,
        {
            "number": 1,
            "date": "2017-10-04",
            "venue_en": "Washington, D.C.",
            "venue_zh": "华盛顿",
            "topics": ["narcotics", "cybersecurity"],
            "documents": [{"title": "Joint press release", "reference": ""}],
        },
    )
    services.set_delegation(
        ca,
        round1,
        [{"role": "co_chair", "name": "郭声琨 Guo Shengkun", "title": "国务委员、公安部部长"}],
    )
    partner.delegation(
        round1,
        [{"role": "co_chair", "name": "Jeff Sessions", "title": "Attorney General", "position": 0}],
    )
    agreed = services.propose_outcome(
        ca, round1, "narcotics", NARCOTICS_EN, NARCOTICS_ZH, "国务委员、公安部部长"
    )
    partner.cosign(agreed)
    pending = services.propose_outcome(ca, round1, "fugitives", FUGITIVES_EN, FUGITIVES_ZH)
    round2 = partner.round(dialogue, 2)
    theirs = partner.propose(round2, "cybersecurity", CYBER_EN, CYBER_ZH)
    we_owe = services.create_commitment(
        ca,
        agreed,
        {
            "title_en": "Answer narcotics requests",
            "title_zh": "答复禁毒协助请求",
            "owner_node": here,
            "due_date": date(2030, 6, 30),
            "indicators": [{"code": "assistance.answered", "topic": "narcotics", "target": 10}],
        },
    )
    they_owe = services.create_commitment(
        ca,
        agreed,
        {
            "title_en": "Locate fugitives on request",
            "title_zh": "应请求查找逃犯",
            "owner_node": partner.node,
            "due_date": date(2030, 6, 30),
            "indicators": [{"code": "assistance.locations_completed", "target": 5}],
        },
    )
    disagreement = services.open_disagreement(
        ca, dialogue, "cybersecurity", "How attribution is established", "归因如何确定", round1
    )
    services.state_position(
        ca, disagreement, "Attribution must rest on shared evidence.", "归因必须基于共享的证据。"
    )
    partner.position(
        disagreement,
        "Attribution may rest on national technical means.",
        "归因也可以基于国家技术手段。",
    )
    return Record(
        here, dialogue, round1, round2, agreed, theirs, pending, we_owe, they_owe, disagreement
    )
