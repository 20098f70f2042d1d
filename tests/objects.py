"""Real objects for the object-level authorisation matrix, built in process
through the apps' public service functions and their inbound handlers, as a
node would hold them after talking to a partner (here a Peer row only).

- assistance requests in every state reachable on each side: outgoing (this
  node asks; the partner's moves arrive as transitions) and incoming (the
  partner's request arrives with `receive_submit`; its steps arrive as
  actions), some confidential, with a team on each side;
- a dialogue record like tests/dialogue/conftest.py's, smaller (a dialogue,
  a round by each side, outcomes proposed here and by the partner, a
  disagreement, a commitment each side owes), its partner messages built
  with that conftest's `Partner`.

Nothing here decides what may be done to an object: the test derives that
from the rules (docs/assistance.md section 7, the state table in
`accord.assistance.machine`, docs/dialogue.md section 2.2)."""

from __future__ import annotations

import base64
import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from accord.assistance import deadlines, services
from accord.assistance.inbound import receive_action, receive_submit, receive_transition
from accord.assistance.machine import REQUESTED, REQUESTING, TRANSITIONS
from accord.assistance.models import AssistanceRequest, State
from accord.assistance.wire import ActionBody, EventBody, SubmitBody, TransitionBody
from accord.core import services as core_services
from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.flow import request_body
from tests.dialogue.conftest import Record
from tests.live import TEST_PASSWORD

PARTNER_NODE = "yy.test"

# ---------------------------------------------------------------- the people


@dataclass(frozen=True)
class Person:
    """One user of this node, named for how they stand to the requests."""

    key: str
    role: Role
    # On the team of every request on both sides (author, validator, members).
    on_team: bool = False


PEOPLE = (
    Person("author", Role.INVESTIGATOR, on_team=True),  # drafts every outgoing request
    Person("validator", Role.PROSECUTOR, on_team=True),  # validates them
    Person("outsider-investigator", Role.INVESTIGATOR),
    Person("outsider-prosecutor", Role.PROSECUTOR),
    Person("central", Role.CENTRAL_AUTHORITY),
    Person("auditor", Role.AUDITOR),
    Person("analyst", Role.ANALYST),
    Person("admin", Role.NODE_ADMIN),
)
PERSON = {person.key: person for person in PEOPLE}


def make_people() -> dict[str, User]:
    system = Actor.system("test")
    return {
        p.key: core_services.create_user(system, f"obj-{p.key}", p.role, TEST_PASSWORD)
        for p in PEOPLE
    }


# ---------------------------------------------------------------- the partner


def make_partner() -> Peer:
    """The partner: a pinned Peer row with real keys (nothing is ever sent)."""
    from nacl.signing import SigningKey

    def key() -> str:
        return base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()

    return Peer.objects.create(
        node_id=PARTNER_NODE,
        url="http://127.0.0.1:9/",
        party="Partnerland",
        agency="Partner Agency",
        signing_key=key(),
        encryption_key=key(),
        fingerprint="1" * 64,
    )


# ---------------------------------------------------------------- requests

GROUNDS = [{"ground": "essential_interests", "rationale": "Security matter"}]
DOMESTIC = [{"ground": "domestic_investigation", "rationale": "Our own case runs"}]
CONDITIONS = [{"kind": "speciality", "text": "This case only"}]
DUAL = ("finding", {"ground": "dual_criminality", "applies": True, "rationale": "Fraud in both"})
Step = tuple[str, dict[str, Any]]


def _path(*steps: str | Step) -> tuple[Step, ...]:
    return tuple(step if isinstance(step, tuple) else (step, {}) for step in steps)


SCREENING = (*_path("acknowledge", "start_screening"), DUAL)
CONSULTATION = (*SCREENING, ("consult", {"comment": "Would a use limit do?"}))
ACCEPTED = (*SCREENING, ("accept", {}))
IN_EXECUTION = (*ACCEPTED, ("begin_execution", {}))
RESPONDED = (*IN_EXECUTION, ("respond", {"text": "Records attached"}))
PRESERVATION_ACCEPTED = _path("acknowledge", "start_screening", "accept")
PRESERVED = (*PRESERVATION_ACCEPTED, ("preserve", {}))


@dataclass(frozen=True)
class Kind:
    """How to bring a request to a state: the local steps before submission
    (`before`; None: validated and submitted), then the steps of both sides."""

    state: str
    request_type: str = "data_order"
    before: tuple[str, ...] | None = None
    after: tuple[Step, ...] = ()
    confidential: bool = False
    variant: str = ""  # tells apart two kinds in the same state

    def name(self, side: str) -> str:
        parts = [side, self.state]
        if self.request_type != "data_order":
            parts.insert(1, self.request_type)
        if self.before is not None and self.state == State.WITHDRAWN:
            parts[-1] = "discarded"
        if self.confidential:
            parts.append("confidential")
        if self.variant:
            parts.append(self.variant)
        return "-".join(parts)

    @property
    def submitted(self) -> bool:
        return self.before is None

    @property
    def history(self) -> set[str]:
        return {action for action, _ in self.after}


LOCAL = (
    Kind("draft", before=()),
    Kind("pending_validation", before=("send_for_validation",)),
    Kind("pending_validation", before=("send_for_validation",), confidential=True),
    Kind("validated", before=("send_for_validation", "validate")),
    Kind("withdrawn", before=("send_for_validation", "validate", "discard")),
)
SHARED = (
    Kind("submitted"),
    Kind("submitted", confidential=True),
    Kind("received", after=_path("acknowledge")),
    Kind("screening", after=SCREENING),
    Kind("screening", after=SCREENING, confidential=True),
    # Screening, but dual criminality not decided yet: no acceptance.
    Kind("screening", after=_path("acknowledge", "start_screening"), variant="undecided"),
    Kind(
        "needs_information",
        after=(*SCREENING, ("request_information", {"questions": "Which account?"})),
    ),
    Kind("legal_review", after=(*SCREENING, ("legal_review", {}))),
    Kind("consultation", after=CONSULTATION),
    Kind("accepted", after=ACCEPTED),
    Kind(
        "accepted_with_conditions",
        after=(*SCREENING, ("accept_with_conditions", {"conditions": CONDITIONS})),
    ),
    Kind("postponed", after=(*SCREENING, ("postpone", {"grounds": DOMESTIC}))),
    Kind("refused", after=(*CONSULTATION, ("refuse", {"grounds": GROUNDS}))),
    Kind("in_execution", after=IN_EXECUTION),
    Kind(
        "partially_executed",
        after=(*IN_EXECUTION, ("respond_partially", {"text": "First part"})),
    ),
    Kind("responded", after=RESPONDED),
    Kind("closed", after=(*RESPONDED, ("close", {}))),
    Kind("closed", after=(*RESPONDED, ("close", {})), confidential=True),
    Kind("withdrawn", after=(("withdraw", {"comment": "Not needed"}),)),
    Kind("accepted", "preservation", after=PRESERVATION_ACCEPTED),
    Kind("preserved", "preservation", after=PRESERVED),
    Kind("extended", "preservation", after=(*PRESERVED, ("extend", {"days": 30}))),
    Kind("converted", "preservation", after=(*PRESERVED, ("convert", {}))),
    Kind("released", "preservation", after=(*PRESERVED, ("release", {}))),
    Kind("received", "spontaneous", after=_path("acknowledge")),
    Kind("closed", "spontaneous", after=_path("acknowledge", "accept_information")),
    Kind(
        "refused",
        "spontaneous",
        after=(*_path("acknowledge"), ("decline_information", {"comment": "Not for us"})),
    ),
)
# Every kind on the requesting node (outgoing), the submitted ones on the
# requested node too (incoming).
KINDS: dict[str, tuple[Kind, str]] = {
    **{kind.name(REQUESTING): (kind, REQUESTING) for kind in (*LOCAL, *SHARED)},
    **{kind.name(REQUESTED): (kind, REQUESTED) for kind in SHARED},
}


def content(request_type: str, *, confidential: bool) -> dict[str, Any]:
    data = copy.deepcopy(request_body(request_type, PARTNER_NODE))
    del data["peer"]
    if confidential:
        data.update(confidential=True, confidentiality_reasons="Covert operation")
    return data


@dataclass
class Built:
    name: str
    kind: Kind
    side: str
    request: AssistanceRequest


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _event(version: int, action: str, src: str, dst: str, side: str, payload: dict) -> EventBody:
    return EventBody(
        version=version,
        action=action,
        from_state=src,
        to_state=dst,
        side=side,
        actor_name="Partner officer",
        actor_role=Role.CENTRAL_AUTHORITY.value,
        at=_now(),
        payload=payload,
    )


def _checked(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    checked = TRANSITIONS[action].payload.model_validate(payload).model_dump(mode="json")
    if action == "preserve" and not checked.get("expires_at"):
        checked["expires_at"] = (datetime.now(UTC) + deadlines.HOLD_MINIMUM).isoformat()
    return checked


class Builder:
    """Builds the requests; `people` come from make_people()."""

    def __init__(self, peer: Peer, people: dict[str, User]) -> None:
        self.peer = peer
        self.people = people
        self.actor = {key: Actor.of(user) for key, user in people.items()}

    def outgoing(self, kind: Kind) -> AssistanceRequest:
        data = content(kind.request_type, confidential=kind.confidential)
        request = services.create_request(self.actor["author"], self.peer, data)
        steps = (
            ("send_for_validation", "validate", "submit") if kind.before is None else kind.before
        )
        owners = {
            "send_for_validation": "author",
            "validate": "validator",
            "discard": "author",
            "submit": "central",
        }
        for action in steps:
            payload = {"comment": "Not needed"} if action == "discard" else {}
            request = services.perform(
                self.actor[owners[action]], request, action, payload, version=request.version
            )
        for action, payload in kind.after:
            request.refresh_from_db()
            if action == "finding":
                continue  # the partner's screening stays on the partner's node
            transition = TRANSITIONS[action]
            action_id = None
            if transition.side == REQUESTING:
                services.perform(
                    self.actor["central"], request, action, payload, version=request.version
                )
                action_id = str(request.pending_actions.get(outcome="").pk)
            event = _event(
                request.version + 1,
                action,
                request.state,
                transition.leaves(request.state),
                transition.side,
                _checked(action, payload),
            )
            receive_transition(
                self.peer,
                TransitionBody(request_id=str(request.pk), event=event, action_id=action_id),
            )
        request.refresh_from_db()
        return request

    def incoming(self, kind: Kind) -> AssistanceRequest:
        request_id = str(uuid.uuid4())
        start = datetime.now(UTC) - timedelta(hours=1)
        history = [
            ("create", "", State.DRAFT, "investigator"),
            ("send_for_validation", State.DRAFT, State.PENDING_VALIDATION, "investigator"),
            ("validate", State.PENDING_VALIDATION, State.VALIDATED, "prosecutor"),
            ("submit", State.VALIDATED, State.SUBMITTED, "central_authority"),
        ]
        events = [
            {
                "version": number,
                "action": action,
                "from_state": src,
                "to_state": dst,
                "side": REQUESTING,
                "actor_name": "Partner officer",
                "actor_role": role,
                "at": (start + timedelta(minutes=number)).isoformat(),
                "payload": {},
            }
            for number, (action, src, dst, role) in enumerate(history, start=1)
        ]
        receive_submit(
            self.peer,
            SubmitBody(
                request_id=request_id,
                reference=f"YY.TEST-2026-{uuid.uuid4().hex[:8]}",
                requesting_node=PARTNER_NODE,
                requested_node=this_node().node_id,
                created_at=start.isoformat(),
                version=len(events),
                content=content(kind.request_type, confidential=kind.confidential),
                events=events,
            ),
        )
        request = AssistanceRequest.objects.get(pk=request_id)
        central = self.actor["central"]
        # The central authority puts the officers who need it on the team.
        for key in ("author", "validator"):
            services.add_member(central, request, self.people[key])
        for action, payload in kind.after:
            request.refresh_from_db()
            if action == "finding":
                services.record_finding(central, request, **payload)
            elif TRANSITIONS[action].side == REQUESTED:
                services.perform(central, request, action, payload, version=request.version)
            else:
                receive_action(
                    self.peer,
                    ActionBody(
                        request_id=request_id,
                        action_id=str(uuid.uuid4()),
                        action=action,
                        base_version=request.version,
                        actor_name="Partner officer",
                        actor_role=Role.CENTRAL_AUTHORITY.value,
                        payload=payload,
                    ),
                )
        request.refresh_from_db()
        return request

    def build(self, name: str) -> Built:
        kind, side = KINDS[name]
        request = self.outgoing(kind) if side == REQUESTING else self.incoming(kind)
        assert request.state == kind.state, f"{name}: built as {request.state}"
        return Built(name, kind, side, request)


# ---------------------------------------------------------------- the dialogue record


def make_record(central: User) -> Record:
    """A dialogue with its own partner node (a Peer row with a real key):
    a round recorded here and one by the partner, an outcome proposed here
    and co-signed (agreed), one proposed here only (pending), one proposed by
    the partner (theirs), a commitment each side owes, and a disagreement
    with both sides' positions (as in tests/dialogue/conftest.py)."""
    from nacl.signing import SigningKey

    from accord.dialogue import services as dialogue_services
    from tests.dialogue import conftest as dialogue

    ds, ca = dialogue_services, Actor.of(central)
    key = SigningKey.generate()
    peer = Peer.objects.create(
        node_id=dialogue.PARTNER,
        url="http://127.0.0.1:9/",
        party="United States",
        agency="Department of Justice",
        signing_key=dialogue.b64(bytes(key.verify_key)),
        encryption_key=dialogue.b64(bytes(SigningKey.generate().verify_key)),
        fingerprint="0" * 64,
    )
    partner = dialogue.Partner(peer, key)
    here = this_node().node_id
    record = ds.create_dialogue(ca, peer, "law_enforcement_cyber", "Dialogue", "对话")
    round1 = ds.save_round(
        ca,
        record,
        {"number": 1, "date": "2017-10-04", "venue_en": "Washington", "topics": ["narcotics"]},
    )
    agreed = ds.propose_outcome(ca, round1, "narcotics", dialogue.NARCOTICS_EN, "禁毒")
    partner.cosign(agreed)
    pending = ds.propose_outcome(ca, round1, "fugitives", dialogue.FUGITIVES_EN, "逃犯")
    round2 = partner.round(record, 2)
    theirs = partner.propose(round2, "cybersecurity", dialogue.CYBER_EN, dialogue.CYBER_ZH)

    def commitment(owner: str) -> Any:
        data = {"title_en": f"Owed by {owner}", "owner_node": owner, "due_date": "2030-06-30"}
        return ds.create_commitment(ca, agreed, data)

    we_owe, they_owe = commitment(here), commitment(partner.node)
    disagreement = ds.open_disagreement(ca, record, "cybersecurity", "Attribution", "归因", round1)
    ds.state_position(ca, disagreement, "Shared evidence.", "")
    partner.position(disagreement, "National means.", "")
    return Record(
        here, record, round1, round2, agreed, theirs, pending, we_owe, they_owe, disagreement
    )
