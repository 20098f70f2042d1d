"""The routing rules, in process (issue 16; docs/assistance.md 9.8): this node
(xx.test, Testland) holds its party's central authority and peers with
China's central authority, another Chinese agency, and another agency of its
own party. Who a request may go to; who may assign its execution, to whom;
who executes once it is assigned; what the receivers refuse. The three-node
flow over real HTTP is tests/assistance/test_routing_live.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from accord.assistance import inbound, policy, routing, services
from accord.assistance.models import AssistanceRequest, PendingAction, State
from accord.assistance.rules import content_fields, parse_request
from accord.assistance.wire import ACTION_KIND, ASSIGN_KIND, TRANSITION_KIND, ActionBody
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.kinds import Refusal
from accord.federation.models import OutboxMessage, Peer
from tests.assistance.flow import request_body
from tests.peers import pinned_peer

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def agency(node_id: str, party: str, central_authority: bool) -> Peer:
    peer = pinned_peer(node_id)
    peer.party, peer.agency, peer.central_authority = party, f"Agency {node_id}", central_authority
    peer.save()
    return peer


@pytest.fixture
def peers(db) -> dict[str, Peer]:
    return {
        "cn": agency("cn.route", "China", True),
        "cn_agency": agency("cn.route-agency", "China", False),
        "own_agency": agency("xx.agency", "Testland", False),
        "own_authority": agency("xx.authority", "Testland", True),
    }


def content() -> dict:
    data = request_body("identity_verification", "")
    del data["peer"]
    return data


def actor(users, role: Role = Role.CENTRAL_AUTHORITY) -> Actor:
    return Actor.of(users[role])


def replica(peer: Peer, *, requested_node: str = "xx.test", state: str = State.ACCEPTED):
    """An incoming request as this node holds it: the owner's (requested_node
    is this node) or an executing agency's (the central authority's)."""
    parsed, problems = parse_request(content())
    assert problems == []
    request = AssistanceRequest(
        id=uuid.uuid4(),
        reference=f"CN.ROUTE-{uuid.uuid4().hex[:8]}",
        requesting_node="cn.route",
        requested_node=requested_node,
        executing_node="" if requested_node == "xx.test" else "xx.test",
        peer=peer,
        outgoing=False,
        state=state,
        version=6,
        created_at=MONDAY,
        submitted_at=MONDAY,
        received_at=MONDAY,
        **content_fields(parsed),
    )
    request.save(force_insert=True)
    return request


def sent(peer: Peer) -> list[str]:
    return list(
        OutboxMessage.objects.filter(peer=peer).order_by("seq").values_list("kind", flat=True)
    )


# ---------------------------------------------------------------- where a request goes


def test_a_request_goes_only_to_another_partys_central_authority(peers):
    assert routing.submission_problem(peers["cn"]) is None
    assert "central authority of China" in routing.submission_problem(peers["cn_agency"])
    assert "(cn.route)" in routing.submission_problem(peers["cn_agency"])
    for own in ("own_agency", "own_authority"):
        assert "not mutual assistance" in routing.submission_problem(peers[own])
    assert routing.requestable_peers() == [peers["cn"]]


@pytest.mark.parametrize("to", ["cn_agency", "own_agency"])
def test_drafting_a_misrouted_request_is_refused_and_audited(peers, users, to):
    with pytest.raises(services.TransitionRefused) as refused:
        services.create_request(actor(users, Role.INVESTIGATOR), peers[to], content())
    assert refused.value.status == 422
    assert not AssistanceRequest.objects.exists()
    audited = AuditEvent.objects.filter(action=AuditAction.REQUEST_ACTION_REFUSED).last()
    assert audited is not None and audited.data["action"] == "create"


# ---------------------------------------------------------------- assignment


def test_the_central_authority_assigns_an_accepted_request_to_an_agency_of_its_party(peers, users):
    request = replica(peers["cn"])
    assert policy.allowed(users[Role.CENTRAL_AUTHORITY], "assign", request) is None
    services.perform(actor(users), request, "assign", {"node": "xx.agency"}, version=6)
    request.refresh_from_db()
    assert (request.state, request.version, request.executing_node) == (
        State.ACCEPTED,
        7,
        "xx.agency",
    )
    assert sent(peers["cn"]) == [TRANSITION_KIND]
    assert sent(peers["own_agency"]) == [ASSIGN_KIND]
    # From now on the agency executes it: not the central authority, nor anyone
    # it would assign it to again.
    offered = policy.steps_offered(users[Role.CENTRAL_AUTHORITY], request)
    assert "begin_execution" not in offered and "assign" not in offered
    with pytest.raises(services.TransitionRefused) as refused:
        services.perform(actor(users), request, "begin_execution", {}, version=7)
    assert refused.value.status == 403 and "xx.agency" in refused.value.message
    # A requester's step is relayed to both.
    services.perform(actor(users), request, "postpone", _postponement(), version=7)
    assert sent(peers["cn"]) == [TRANSITION_KIND] * 2
    assert sent(peers["own_agency"]) == [ASSIGN_KIND, TRANSITION_KIND]


def _postponement() -> dict:
    return {"grounds": [{"ground": "domestic_investigation", "rationale": "Our own case"}]}


@pytest.mark.parametrize("node", ["cn.route", "cn.route-agency", "xx.unknown", "xx.test", ""])
def test_an_assignment_stays_within_the_party(peers, users, node):
    request = replica(peers["cn"])
    with pytest.raises(services.TransitionRefused) as refused:
        services.perform(actor(users), request, "assign", {"node": node}, version=6)
    assert refused.value.status == 422
    request.refresh_from_db()
    assert (request.version, request.executing_node) == (6, "")


@pytest.mark.parametrize("state", [State.SCREENING, State.IN_EXECUTION, State.RESPONDED])
def test_a_request_is_assigned_once_accepted_and_before_execution(peers, users, state):
    refusal = policy.allowed(
        users[Role.CENTRAL_AUTHORITY], "assign", replica(peers["cn"], state=state)
    )
    assert refusal is not None and refusal.status == 409


def test_without_another_agency_of_the_party_nothing_is_offered_to_assign(db, users):
    request = replica(agency("cn.alone", "China", True))
    refusal = policy.allowed(users[Role.CENTRAL_AUTHORITY], "assign", request)
    assert refusal is not None and refusal.status == 422


# ---------------------------------------------------------------- the executing agency


def test_an_executing_agency_asks_its_central_authority_for_the_execution_steps(peers, users):
    request = replica(peers["own_authority"], requested_node="xx.authority")
    assert routing.executing_here(request)
    assert policy.steps_offered(users[Role.CENTRAL_AUTHORITY], request) == ["begin_execution"]
    for action in ("refuse", "assign", "postpone"):
        refusal = policy.allowed(users[Role.CENTRAL_AUTHORITY], action, request)
        assert refusal is not None and refusal.status == 403, action
    services.perform(actor(users), request, "begin_execution", {}, version=6)
    request.refresh_from_db()
    assert (request.state, request.version) == (State.ACCEPTED, 6)  # until it is confirmed
    assert PendingAction.objects.get(request=request).action == "begin_execution"
    assert sent(peers["own_authority"]) == [ACTION_KIND]
    assert sent(peers["cn"]) == []


def test_an_agency_asking_about_a_request_not_assigned_to_it_is_refused(peers):
    request = replica(peers["cn"])
    body = ActionBody(
        request_id=str(request.pk),
        action_id=str(uuid.uuid4()),
        action="begin_execution",
        base_version=6,
        actor_name="Someone at the agency",
        actor_role=Role.CENTRAL_AUTHORITY,
        payload={},
    )
    with pytest.raises(Refusal, match="unknown_request"):
        inbound.receive_action(peers["own_agency"], body)
    request.executing_node = "xx.agency"
    request.save()
    inbound.receive_action(peers["own_agency"], body.model_copy(update={"action": "close"}))
    assert sent(peers["own_agency"]) == ["assistance.action-refused"]
    inbound.receive_action(peers["own_agency"], body)
    request.refresh_from_db()
    assert (request.state, request.version) == (State.IN_EXECUTION, 7)
    assert sent(peers["cn"]) == [TRANSITION_KIND]
    assert sent(peers["own_agency"]) == ["assistance.action-refused", TRANSITION_KIND]


def test_only_the_partys_central_authority_assigns_to_this_node(peers, users):
    from accord.assistance.wire import AssignBody, RequestView, shared_view

    request = replica(peers["cn"])
    services.perform(actor(users), request, "assign", {"node": "xx.agency"}, version=6)
    request.refresh_from_db()
    view = RequestView.model_validate(shared_view(request))
    for sender in ("cn", "own_agency"):
        with pytest.raises(Refusal, match="wrong_parties"):
            inbound.receive_assign(peers[sender], AssignBody(request=view))
