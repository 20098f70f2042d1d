"""Drive requests through live nodes over their HTTP API, as officers would,
and compare the replicas: two (requester and requested central authority),
or three once the central authority assigns the execution to an agency."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import httpx

from tests.live import LiveNode, _sign_in, wait_until

ROLES = ("investigator", "prosecutor", "central_authority", "analyst", "auditor", "node_admin")

OFFENCE = {
    "label": "Computer fraud",
    "statute": "18 U.S.C. § 1343",
    "max_penalty_years": 20,
    "category": "fraud",
}

DETAILS: dict[str, dict[str, Any]] = {
    "preservation": {
        "data_to_preserve": "Mailbox of account x@example.org, 2026-10",
        "relation_to_offence": "Used to send the phishing mails",
        "custodian": "Example Mail Ltd.",
        "why_needed": "Deleted after 30 days",
        "full_request_follows": True,
    },
    "traffic_disclosure": {
        "preserved_traffic_data": "Connection logs 2026-10-01",
        "provider_and_path": "Relay through AS64500",
    },
    "stored_data": {
        "measure": "disclosure",
        "data_description": "Server images",
        "location": "Datacentre 3",
        "risk_of_loss": True,
    },
    "data_order": {
        "data_category": "subscriber",
        "identifiers": [
            {"kind": "ip", "value": "203.0.113.7", "observed_at": "2026-10-01T10:00:00Z"},
            {"kind": "phone", "value": "+86 138 0013 8000"},
        ],
        "issuer": "Procuratorate of Shanghai",
        "issuer_is_judicial": True,
    },
    "general_evidence": {
        "measures": ["witness", "records"],
        "persons_and_places": "Bank clerk, branch 12",
        "questions": "Who opened the account?",
    },
    "locate_person": {
        "person": {"family_name": "Doe", "given_names": "John"},
        "last_known_location": "Seattle",
    },
    "identity_verification": {"person": {"family_name": "Roe"}, "documents": "Passport X123"},
    "spontaneous": {
        "information": "Botnet C2 at 198.51.100.9",
        "conditions": [{"kind": "confidentiality", "text": "Police use only"}],
    },
}

BASIS = {
    "preservation": "budapest_29",
    "traffic_disclosure": "budapest_30",
    "stored_data": "budapest_31",
}


def request_body(request_type: str, peer: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "peer": peer,
        "request_type": request_type,
        "legal_basis": BASIS.get(request_type, "bilateral"),
        "requesting_authority": "Cyber police, Shanghai",
        "central_authority": "MPS",
        "offences": [OFFENCE],
        "summary": "Online fraud ring (synthetic test)",
        "purpose": "Identify the suspects",
        "urgency": "standard",
        "signer": "Zhang Wei",
        "details": DETAILS[request_type],
    }
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


def act(
    client: httpx.Client,
    request_id: str,
    action: str,
    payload: dict | None = None,
    *,
    version: int | None = None,
    expect: int = 200,
    **extra: Any,
) -> dict[str, Any]:
    if version is None:
        version = get(client, request_id)["version"]
    response = client.post(
        f"/api/v1/assistance/requests/{request_id}/actions",
        json={"action": action, "version": version, "payload": payload or {}, **extra},
    )
    assert response.status_code == expect, f"{action}: {response.status_code} {response.text}"
    return response.json()


SHARED_KEYS = (
    "id",
    "reference",
    "requesting_node",
    "requested_node",
    "executing_node",
    "content",
    "state",
    "version",
    "conditions",
    "conditions_accepted",
    "refusal_grounds",
    "restrictions",
    "created_at",
    "submitted_at",
    "received_at",
    "decided_at",
    "responded_at",
    "ended_at",
    "acknowledge_due",
    "decision_due",
    "response_due",
    "hold_expires",
    "events",
    "files",
)


def shared(view: dict[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in SHARED_KEYS}


def in_step(a: httpx.Client, b: httpx.Client, request_id: str, timeout: float = 30) -> dict:
    """Wait until both replicas agree, and return the shared view."""
    return agree((a, b), request_id, timeout=timeout)


def agree(clients: Sequence[httpx.Client], request_id: str, timeout: float = 30) -> dict:
    """Wait until every replica agrees and none has a step still waiting for
    the owner, and return the shared view."""
    found: dict[str, Any] = {}

    def same() -> bool:
        views = []
        for client in clients:
            response = client.get(f"/api/v1/assistance/requests/{request_id}")
            if response.status_code != 200:
                return False
            views.append(response.json())
        found["view"] = shared(views[0])
        return all(shared(view) == found["view"] for view in views) and not any(
            p["outcome"] == "" for view in views for p in view["pending_actions"]
        )

    nodes = len(clients)
    wait_until(same, timeout=timeout, what=f"the {nodes} replicas of {request_id} agree")
    return found["view"]


# ---------------------------------------------------------------- a pair of nodes

REFUSED = "assistance:request:action-refused"
DENIED = "core:access:denied"


def attachment(name: str, data: bytes, content_type: str = "application/octet-stream") -> dict:
    return {
        "name": name,
        "content_type": content_type,
        "data_base64": base64.b64encode(data).decode(),
    }


def file_arrives(client: httpx.Client, request_id: str, sha256: str, timeout: float = 60) -> bytes:
    """A response file's bytes, once its evidence item has arrived (404 until then)."""
    found: dict[str, bytes] = {}

    def arrived() -> bool:
        response = client.get(f"/api/v1/assistance/requests/{request_id}/files/{sha256}")
        assert response.status_code in (200, 404), response.text
        if response.status_code == 200:
            found["data"] = response.content
        return response.status_code == 200

    wait_until(arrived, timeout=timeout, what=f"the evidence item of {sha256[:12]} to arrive")
    return found["data"]


def audit_count(client: httpx.Client, action: str) -> int:
    """How many audit events of this kind the node holds (client: auditor or admin)."""
    response = client.get("/api/v1/audit/events", params={"action": action, "limit": 1})
    assert response.status_code == 200, response.text
    return response.json()["count"]


def audit_since(client: httpx.Client, action: str, count: int) -> list[dict[str, Any]]:
    """The audit events of this kind after the first `count` (oldest first)."""
    response = client.get(
        "/api/v1/audit/events", params={"action": action, "offset": count, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


# Who takes each step before submission (after it, the central authorities do).
LOCAL_ROLES = {
    "send_for_validation": "investigator",
    "validate": "prosecutor",
    "return_to_draft": "prosecutor",
    "discard": "investigator",
    "submit": "central_authority",
}


class Pair:
    """Requests between cn (the requesting node) and us (the requested node),
    driven step by step through the API by the officers of both, with both
    replicas compared after every step once the partner knows the request."""

    def __init__(self, officer: Officers, cn: LiveNode, us: LiveNode) -> None:
        self.officer, self.cn, self.us = officer, cn, us

    @property
    def cn_ca(self) -> httpx.Client:
        return self.officer(self.cn, "central_authority")

    @property
    def us_ca(self) -> httpx.Client:
        return self.officer(self.us, "central_authority")

    def owner(self, action: str, request_id: str = "") -> httpx.Client:
        """The session of the officer who owns the step (on the request)."""
        from accord.assistance.machine import REQUESTING, TRANSITIONS

        if action in LOCAL_ROLES:
            return self.officer(self.cn, LOCAL_ROLES[action])
        return self.cn_ca if TRANSITIONS[action].side == REQUESTING else self.us_ca

    def draft(self, request_type: str, **overrides: Any) -> str:
        investigator = self.officer(self.cn, "investigator")
        body = request_body(request_type, self.us.node_id, **overrides)
        created = investigator.post("/api/v1/assistance/requests", json=body)
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def submit(self, request_id: str) -> dict[str, Any]:
        """Validate and submit a draft; returns the replicas' view once us has it."""
        for action in ("send_for_validation", "validate", "submit"):
            act(self.owner(action), request_id, action)
        view = self.agreed(request_id)
        assert view["state"] == "submitted", view["state"]
        return view

    def new(self, request_type: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
        """A request of this type, submitted and in step on both nodes."""
        request_id = self.draft(request_type, **overrides)
        return request_id, self.submit(request_id)

    def ordered_by_taker(self, request_id: str, action: str) -> bool:
        """Whether the node of the officer taking the step orders it."""
        from accord.assistance.machine import REQUESTED, TRANSITIONS

        return TRANSITIONS[action].side == REQUESTED or action == "submit"

    def agreed(self, request_id: str, timeout: float = 30) -> dict[str, Any]:
        return in_step(self.cn_ca, self.us_ca, request_id, timeout=timeout)

    def step(
        self,
        request_id: str,
        action: str,
        payload: dict | None = None,
        *,
        state: str | None = None,
        timeout: float = 30,
        **extra: Any,
    ) -> dict[str, Any]:
        """The step's owner takes it; after the partner applied (or confirmed)
        it, both replicas are compared and the new history checked: one event
        more, for this step, to the state the table says. Returns the view."""
        from accord.assistance.machine import TRANSITIONS

        transition = TRANSITIONS[action]
        response = act(self.owner(action, request_id), request_id, action, payload, **extra)
        if transition.local and action != "submit":
            return response
        # A requesting-side step answers with the old version: the requested
        # node orders it and it takes effect when that node confirms it.
        ordered_here = self.ordered_by_taker(request_id, action)
        version = response["version"] + (0 if ordered_here else 1)
        view = self.agreed(request_id, timeout=timeout)
        last = view["events"][-1]
        assert (view["version"], last["action"]) == (version, action), (
            f"{action}: expected v{version}, got v{view['version']} {last['action']}; "
            f"pending: {get(self.cn_ca, request_id)['pending_actions']}"
        )
        assert last["to_state"] == transition.leaves(last["from_state"]) == view["state"]
        if state is not None:
            assert view["state"] == state, f"{action}: {view['state']} is not {state}"
        return view

    def finding(
        self,
        request_id: str,
        ground: str,
        applies: bool,
        rationale: str = "Considered on the conduct described",
    ) -> None:
        response = self.us_ca.post(
            f"/api/v1/assistance/requests/{request_id}/findings",
            json={"ground": ground, "applies": applies, "rationale": rationale},
        )
        assert response.status_code == 201, response.text


class Routed(Pair):
    """A Pair whose requested node is its party's central authority, which may
    assign the execution to `agency`: from then on the agency's central
    authority officer takes the execution steps (asked of the owner, so they
    answer with the old version), and the three replicas are compared."""

    def __init__(self, officer: Officers, cn: LiveNode, us: LiveNode, agency: LiveNode) -> None:
        super().__init__(officer, cn, us)
        self.agency = agency
        self.assigned: set[str] = set()

    @property
    def agency_ca(self) -> httpx.Client:
        return self.officer(self.agency, "central_authority")

    def executes(self, request_id: str, action: str) -> bool:
        from accord.assistance.machine import EXECUTION

        return request_id in self.assigned and action in EXECUTION

    def step(self, request_id: str, action: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if action == "assign":
            self.assigned.add(request_id)
        return super().step(request_id, action, *args, **kwargs)

    def owner(self, action: str, request_id: str = "") -> httpx.Client:
        if self.executes(request_id, action):
            return self.agency_ca
        return super().owner(action, request_id)

    def ordered_by_taker(self, request_id: str, action: str) -> bool:
        return not self.executes(request_id, action) and super().ordered_by_taker(
            request_id, action
        )

    def agreed(self, request_id: str, timeout: float = 30) -> dict[str, Any]:
        clients = [self.cn_ca, self.us_ca]
        if request_id in self.assigned:
            clients.append(self.agency_ca)
        return agree(clients, request_id, timeout=timeout)
