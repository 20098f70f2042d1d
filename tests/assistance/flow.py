"""Drive requests through two live nodes over their HTTP API, as officers would,
and compare the two replicas."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import httpx

from tests.live import LiveNode, _sign_in, wait_until

ROLES = ("investigator", "prosecutor", "central_authority", "analyst", "auditor", "node_admin")

OFFENCE = {"label": "Computer fraud", "statute": "18 U.S.C. § 1343", "max_penalty_years": 20,
           "category": "fraud"}  # fmt: skip

DETAILS: dict[str, dict[str, Any]] = {
    "preservation": {"data_to_preserve": "Mailbox of account x@example.org, 2026-10",
                     "relation_to_offence": "Used to send the phishing mails",
                     "custodian": "Example Mail Ltd.", "why_needed": "Deleted after 30 days",
                     "full_request_follows": True},
    "traffic_disclosure": {"preserved_traffic_data": "Connection logs 2026-10-01",
                           "provider_and_path": "Relay through AS64500"},
    "stored_data": {"measure": "disclosure", "data_description": "Server images",
                    "location": "Datacentre 3", "risk_of_loss": True},
    "data_order": {"data_category": "subscriber",
                   "identifiers": [{"kind": "ip", "value": "203.0.113.7",
                                    "observed_at": "2026-10-01T10:00:00Z"},
                                   {"kind": "phone", "value": "+86 138 0013 8000"}],
                   "issuer": "Procuratorate of Shanghai", "issuer_is_judicial": True},
    "general_evidence": {"measures": ["witness", "records"],
                         "persons_and_places": "Bank clerk, branch 12",
                         "questions": "Who opened the account?"},
    "locate_person": {"person": {"family_name": "Doe", "given_names": "John"},
                      "last_known_location": "Seattle"},
    "identity_verification": {"person": {"family_name": "Roe"}, "documents": "Passport X123"},
    "spontaneous": {"information": "Botnet C2 at 198.51.100.9",
                    "conditions": [{"kind": "confidentiality", "text": "Police use only"}]},
}  # fmt: skip

BASIS = {"preservation": "budapest_29", "traffic_disclosure": "budapest_30",
         "stored_data": "budapest_31"}  # fmt: skip


def request_body(request_type: str, peer: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "peer": peer, "request_type": request_type,
        "legal_basis": BASIS.get(request_type, "bilateral"),
        "requesting_authority": "Cyber police, Shanghai", "central_authority": "MPS",
        "offences": [OFFENCE], "summary": "Online fraud ring (synthetic test)",
        "purpose": "Identify the suspects", "urgency": "standard", "signer": "Zhang Wei",
        "details": DETAILS[request_type],
    }  # fmt: skip
    body.update(overrides)
    return body


class Officers:
    """Signed-in API sessions, one per role, on each node."""

    def __init__(self, stack: ExitStack, *nodes: LiveNode) -> None:
        self.sessions: dict[tuple[str, str], httpx.Client] = {}
        self.nodes = nodes
        self.stack = stack

    def __call__(self, node: LiveNode, role: str) -> httpx.Client:
        key = (node.node_id, role)
        if key not in self.sessions:
            client = self.stack.enter_context(node.client())
            self.sessions[key] = _sign_in(client, node, role, _password())
        return self.sessions[key]


def _password() -> str:
    from tests.live import TEST_PASSWORD

    return TEST_PASSWORD


def get(client: httpx.Client, request_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/assistance/requests/{request_id}")
    assert response.status_code == 200, response.text
    return response.json()


def act(client: httpx.Client, request_id: str, action: str, payload: dict | None = None,
        *, version: int | None = None, expect: int = 200, **extra: Any) -> dict[str, Any]:  # fmt: skip
    if version is None:
        version = get(client, request_id)["version"]
    response = client.post(f"/api/v1/assistance/requests/{request_id}/actions",
                           json={"action": action, "version": version,
                                 "payload": payload or {}, **extra})  # fmt: skip
    assert response.status_code == expect, f"{action}: {response.status_code} {response.text}"
    return response.json()


SHARED_KEYS = ("id", "reference", "requesting_node", "requested_node", "content", "state",
               "version", "conditions", "conditions_accepted", "refusal_grounds",
               "restrictions", "created_at", "submitted_at", "received_at", "decided_at",
               "responded_at", "ended_at", "acknowledge_due", "decision_due", "response_due",
               "hold_expires", "events", "files")  # fmt: skip


def shared(view: dict[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in SHARED_KEYS}


def in_step(a: httpx.Client, b: httpx.Client, request_id: str, timeout: float = 30) -> dict:
    """Wait until both replicas agree, and return the shared view."""
    found: dict[str, Any] = {}

    def same() -> bool:
        left = b.get(f"/api/v1/assistance/requests/{request_id}")
        if left.status_code != 200:
            return False
        found["a"], found["b"] = shared(get(a, request_id)), shared(left.json())
        return found["a"] == found["b"] and not any(
            p["outcome"] == "" for p in get(a, request_id)["pending_actions"]
        )

    wait_until(same, timeout=timeout, what=f"both replicas of {request_id} agree")
    return found["a"]
