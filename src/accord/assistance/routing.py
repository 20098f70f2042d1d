"""Where a request goes (issue 16; docs/assistance.md, "Parties, routing and
assignment"). A request goes to the requested party's central authority,
never to another of its agencies, and never to an agency of the requester's
own party (that is not mutual assistance). The central authority owns the
request and orders every step; once it has accepted, it may assign the
execution to another agency node of its party. That agency holds a third
replica: it takes the execution steps (machine.EXECUTION), each asked of the
central authority, which applies it and relays it to the requester and to
the executing agency, so all three replicas go through the same versions."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accord.assistance.machine import EXECUTION
from accord.assistance.models import AssistanceRequest, RequestEvent
from accord.assistance.wire import (
    ASSIGN_KIND,
    TRANSITION_KIND,
    AssignBody,
    RequestView,
    shared_view,
    transition_body,
)
from accord.core.identity import this_node
from accord.federation import parties
from accord.federation import services as federation
from accord.federation.models import Peer


def submission_problem(peer: Peer) -> str | None:
    """Why a request may not be addressed to `peer`, or None."""
    if parties.same_party(peer):
        return _(
            "%(node)s is an agency of this node's own party: a request between two "
            "agencies of one party is not mutual assistance."
        ) % {"node": peer.node_id}
    if not peer.central_authority:
        authority = parties.central_authority_of(peer.party)
        return _(
            "%(node)s does not hold the central authority of %(party)s: a request goes to "
            "the party's central authority (%(authority)s), which may assign its execution "
            "to %(node)s."
        ) % {
            "node": peer.node_id,
            "party": peer.party,
            "authority": authority.node_id if authority else _("not a peer of this node"),
        }
    return None


def requestable_peers() -> list[Peer]:
    """The peers a request may be addressed to: other parties' central authorities."""
    return [
        peer
        for peer in Peer.objects.filter(active=True).order_by("node_id")
        if submission_problem(peer) is None
    ]


def assignable_peers() -> list[Peer]:
    """The agencies of this node's party it may assign a request's execution to."""
    me = this_node()
    if not me.central_authority:
        return []
    return [peer for peer in parties.own_agencies() if peer.node_id != me.node_id]


def agency_label(node_id: str) -> str:
    """An agency node as a page names it: its agency and party when it is a
    peer of this node, else its id."""
    peer = Peer.objects.filter(node_id=node_id).first()
    return parties.label(peer) if peer else node_id


def executing_here(request: AssistanceRequest) -> bool:
    """This node executes the request for its party's central authority."""
    return not request.outgoing and request.requested_node != this_node().node_id


def sends_files(request: AssistanceRequest) -> bool:
    """Whether this node's response may carry files: not an executing agency's
    (the central authority sends the files), the one rule for the service
    and the step form."""
    return not executing_here(request)


def follows_owner(request: AssistanceRequest) -> bool:
    """This node's steps on the request are asked of the node that owns it."""
    return request.outgoing or executing_here(request)


def executing_peer(request: AssistanceRequest) -> Peer | None:
    """On the owner: the agency the request is assigned to."""
    if request.outgoing or not request.executing_node or executing_here(request):
        return None
    return Peer.objects.filter(node_id=request.executing_node).first()


def step_problem(request: AssistanceRequest, action: str) -> str | None:
    """Who executes: an executing agency takes the execution steps only; once
    the request is assigned, its central authority no longer takes them, nor
    assigns it again."""
    if executing_here(request):
        if action not in EXECUTION:
            return _(
                "Only the execution of this request is assigned to this agency; its "
                "central authority (%(node)s) takes the other steps."
            ) % {"node": request.requested_node}
        return None
    if request.outgoing or not request.executing_node:
        return None
    if action in EXECUTION or action == "assign":
        return _("The execution of this request is assigned to %(node)s.") % {
            "node": request.executing_node
        }
    return None


def standing_problem(request: AssistanceRequest, action: str) -> str | None:
    """Whether an assignment can be offered at all: an agency to assign to."""
    if action == "assign" and not request.outgoing and not assignable_peers():
        return _("No other agency of this party is a peer of this node.")
    return None


def assignment_problem(action: str, payload: dict[str, Any]) -> str | None:
    """The agency an assignment names must be an active peer of this party."""
    if action != "assign":
        return None
    node = payload.get("node", "")
    if node not in {peer.node_id for peer in assignable_peers()}:
        return _(
            "%(node)s is not an agency of this party that this node peers with: a request "
            "is executed within the requested party."
        ) % {"node": node}
    return None


def relay(
    request: AssistanceRequest,
    event: RequestEvent,
    *,
    action_id: str | None = None,
    asked_by: Peer | None = None,
) -> None:
    """On the owner: a step it took or applied goes to every other replica,
    the requester's and the executing agency's; the confirmation of an asked
    step (`action_id`) to the node that asked for it."""
    agency = executing_peer(request)
    for peer in (request.peer, agency):
        if peer is None:
            continue
        if peer == agency and event.action == "assign":
            # Its replica starts here, the assignment its last event.
            view = RequestView.model_validate(shared_view(request))
            federation.enqueue(agency, ASSIGN_KIND, AssignBody(request=view))
            continue
        asked = action_id if asked_by is not None and peer.pk == asked_by.pk else None
        federation.enqueue(peer, TRANSITION_KIND, transition_body(request, event, asked))


def channels(request: AssistanceRequest) -> list[Peer]:
    """The channels a step on the request messages, in the one lock order."""
    found = [request.peer]
    agency = executing_peer(request)
    if agency is not None:
        found.append(agency)
    return sorted(found, key=lambda peer: peer.pk)
