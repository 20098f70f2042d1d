"""People, a case and a request for the evidence tests: an author with a team
mate, an outsider who works on cases, the central authority, an auditor and an
analyst (no evidence permission)."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

from accord.assistance import services as assistance
from accord.assistance.models import AssistanceRequest
from accord.cases.models import Case
from accord.core import services as core_services
from accord.core.audit import Actor
from accord.core.models import AuditEvent, User
from accord.core.roles import Role
from accord.evidence import services
from accord.evidence.models import EvidenceItem
from accord.federation.models import Peer
from tests.assistance.flow import request_body
from tests.cases.world import open_case
from tests.live import TEST_PASSWORD

PEOPLE = {
    "author": Role.INVESTIGATOR,
    "mate": Role.PROSECUTOR,
    "outsider": Role.INVESTIGATOR,
    "central": Role.CENTRAL_AUTHORITY,
    "auditor": Role.AUDITOR,
    "analyst": Role.ANALYST,
}


def make_people() -> dict[str, User]:
    system = Actor.system("test")
    return {
        key: core_services.create_user(system, f"ev-{key}", role, TEST_PASSWORD)
        for key, role in PEOPLE.items()
    }


def make_case(people: dict[str, User]) -> Case:
    case = open_case(people["author"], "Seized laptop of the ransomware operator")
    case.team.add(people["mate"])
    return case


def make_peer() -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="us.evidence",
        url="http://127.0.0.1:9/",
        party="US",
        agency="DoJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def make_request(people: dict[str, User]) -> AssistanceRequest:
    peer = make_peer()
    body = request_body("data_order", peer.node_id)
    body.pop("peer")
    return assistance.create_request(Actor.of(people["author"]), peer, body)


def add(
    user: User | None, data: bytes = b"disk image bytes", *, name: str = "image.dd", **owner: Any
) -> EvidenceItem:
    actor = Actor.of(user) if user else Actor.system("test")
    new = services.NewItem(
        name=name,
        content_type="application/octet-stream",
        description="Image of the seized laptop",
        collected=services.Collected(
            how="seizure", where="Room 4, 12 Harbour St", by="Officer Li", legal_basis="warrant 7"
        ),
    )
    return services.add_item(actor, io.BytesIO(data), new, **owner)


def events(action: Any, **filters: Any) -> int:
    return AuditEvent.objects.filter(action=str(action), **filters).count()
