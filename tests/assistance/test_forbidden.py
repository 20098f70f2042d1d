"""Every step the state machine does not allow is refused, changes nothing and
is audited (DOMAIN.md: "Each transition belongs to one side and is refused
for anyone else").

The cases are generated from the machine's own table (`TRANSITIONS`): each
step is tried by every role that does not own it, by its owner on the side
that does not own it, from states near the ones it leaves from, on types of
request it does not apply to, with a payload its schema rejects and on a
version the user did not see. The requests probed are set up once per module,
one per state (on cn.test, the requesting node, and its replica on us.test,
the requested node), and each test checks at its end that no replica moved and
that each refusal left exactly one audit event on the node that refused it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accord.assistance.machine import REQUESTED, REQUESTING, SYSTEM_ROLE, TRANSITIONS, Transition
from accord.assistance.models import State
from accord.core.roles import ROLE_PERMISSIONS, Permission, Role
from tests.assistance.flow import (
    DENIED,
    REFUSED,
    Officers,
    Pair,
    act,
    audit_count,
    audit_since,
    get,
    shared,
)
from tests.live import ensure_peered, wait_until

pytestmark = pytest.mark.live

ROLES = [role.value for role in Role]
# Roles that may not work on requests at all are stopped before the step is
# even looked at (an access denial, not a refused step).
WORKERS = {
    role.value for role, perms in ROLE_PERMISSIONS.items() if Permission.VIEW_REQUESTS in perms
}
GROUNDS = [{"ground": "essential_interests", "rationale": "Security matter"}]
CONDITIONS = [{"kind": "speciality", "text": "This case only"}]
DOMESTIC = [{"ground": "domestic_investigation", "rationale": "Our own case runs"}]
DUAL = ("finding", {"ground": "dual_criminality", "applies": True, "rationale": "Fraud in both"})


# ---------------------------------------------------------------- the probes


@dataclass(frozen=True)
class Probe:
    """How to bring a request of a type to a state: steps before submission
    (the request stays on cn) or, after it, steps on both nodes."""

    state: str
    request_type: str = "data_order"
    before: tuple[str, ...] | None = None  # None: the request is submitted
    after: tuple[tuple[str, dict], ...] = ()

    @property
    def name(self) -> str:
        return (
            self.state if self.request_type == "data_order" else f"{self.request_type}-{self.state}"
        )

    @property
    def nodes(self) -> tuple[str, ...]:
        return ("cn",) if self.before is not None else ("cn", "us")


def _path(*steps: str | tuple[str, dict]) -> tuple[tuple[str, dict], ...]:
    return tuple(step if isinstance(step, tuple) else (step, {}) for step in steps)


SCREENING = _path("acknowledge", "start_screening")
ACCEPTED = (*SCREENING, DUAL, ("accept", {}))
IN_EXECUTION = (*ACCEPTED, ("begin_execution", {}))
RESPONDED = (*IN_EXECUTION, ("respond", {"text": "Records attached"}))
CONSULTATION = (*SCREENING, ("consult", {"comment": "Would a use limit do?"}))
PRESERVATION_ACCEPTED = _path(*SCREENING, "accept")
PRESERVED = (*PRESERVATION_ACCEPTED, ("preserve", {}))

PROBES = {
    probe.name: probe
    for probe in (
        Probe("draft", before=()),
        Probe("pending_validation", before=("send_for_validation",)),
        Probe("validated", before=("send_for_validation", "validate")),
        Probe("submitted"),
        Probe("received", after=_path("acknowledge")),
        Probe("screening", after=SCREENING),
        Probe(
            "needs_information",
            after=(*SCREENING, ("request_information", {"questions": "Which account?"})),
        ),
        Probe("legal_review", after=(*SCREENING, ("legal_review", {}))),
        Probe("consultation", after=CONSULTATION),
        Probe("accepted", after=ACCEPTED),
        Probe(
            "accepted_with_conditions",
            after=(*SCREENING, DUAL, ("accept_with_conditions", {"conditions": CONDITIONS})),
        ),
        Probe("postponed", after=(*SCREENING, ("postpone", {"grounds": DOMESTIC}))),
        Probe("refused", after=(*CONSULTATION, ("refuse", {"grounds": GROUNDS}))),
        Probe("in_execution", after=IN_EXECUTION),
        Probe(
            "partially_executed",
            after=(*IN_EXECUTION, ("respond_partially", {"text": "First part"})),
        ),
        Probe("responded", after=RESPONDED),
        Probe("closed", after=(*RESPONDED, ("close", {}))),
        Probe("withdrawn", after=(("withdraw", {"comment": "Not needed"}),)),
        Probe("accepted", "preservation", after=PRESERVATION_ACCEPTED),
        Probe("preserved", "preservation", after=PRESERVED),
        Probe("extended", "preservation", after=(*PRESERVED, ("extend", {"days": 30}))),
        Probe("converted", "preservation", after=(*PRESERVED, ("convert", {}))),
        Probe("released", "preservation", after=(*PRESERVED, ("release", {}))),
        Probe("received", "spontaneous", after=_path("acknowledge")),
        Probe("closed", "spontaneous", after=_path("acknowledge", "accept_information")),
    )
}


# ---------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    action: str
    role: str
    node: str  # "cn" (the requesting side) or "us" (the requested side)
    probe: str
    status: int
    payload: dict = field(default_factory=dict, hash=False, compare=False)
    version_offset: int = 0

    @property
    def audit(self) -> str:
        return DENIED if self.role not in WORKERS else REFUSED

    def __str__(self) -> str:
        return f"{self.action} by {self.role} on {self.node}:{self.probe}"


SIDE = {"cn": REQUESTING, "us": REQUESTED}
NODE = {REQUESTING: "cn", REQUESTED: "us"}


def allowed(transition: Transition, probe: Probe, node: str) -> bool:
    return (
        transition.side == SIDE[node]
        and probe.state in transition.sources
        and probe.request_type in transition.types
    )


def expected_status(transition: Transition, role: str, node: str) -> int:
    """The order in which the services check a step: permission to work on
    requests, side, role, then state and type."""
    if role not in WORKERS or transition.side != SIDE[node] or role not in transition.roles:
        return 403
    return 409


def owner(transition: Transition) -> str:
    """A user role that owns the step (the clock's own step: the central authority)."""
    roles = sorted(transition.roles - {SYSTEM_ROLE})
    return roles[0] if roles else Role.CENTRAL_AUTHORITY.value


def where_allowed(transition: Transition) -> tuple[Probe, str]:
    """The first probe on which the step's owner could take it."""
    for probe in PROBES.values():
        for node in probe.nodes:
            if allowed(transition, probe, node):
                return probe, node
    raise AssertionError(f"no probe in a state {transition.action} leaves from")


def taken_by_users(transition: Transition) -> bool:
    """False for the clock's own step: no user gets past its role check."""
    return bool(transition.roles - {SYSTEM_ROLE})


def wrong_role_cases() -> list[Case]:
    cases = []
    for action, transition in TRANSITIONS.items():
        probe, node = where_allowed(transition)
        for role in ROLES:
            if role not in transition.roles:
                cases.append(
                    Case(
                        action,
                        role,
                        node,
                        probe.name,
                        expected_status(transition, role, node),
                    )
                )
    return cases


def wrong_side_cases() -> list[Case]:
    cases = []
    for action, transition in TRANSITIONS.items():
        other = NODE[REQUESTED if transition.side == REQUESTING else REQUESTING]
        there = [p for p in PROBES.values() if other in p.nodes]
        # A probe the step could leave from if only the side were right; the
        # steps before submission have no such state on the requested node.
        fitting = [
            p for p in there if p.state in transition.sources and p.request_type in transition.types
        ]
        probe = (fitting or there)[0]
        cases.append(Case(action, owner(transition), other, probe.name, 403))
    return cases


def near_states(transition: Transition) -> set[str]:
    """The states one step before or after the step's sources: the likeliest
    mistakes (too early, too late)."""
    near: set[str] = set()
    for source in transition.sources:
        for other in TRANSITIONS.values():
            if source in other.sources and other.target is not None:
                near.add(other.target)
            if other.target == source:
                near |= other.sources
    return near - transition.sources


def wrong_state_cases() -> list[Case]:
    cases = []
    for action, transition in TRANSITIONS.items():
        if not taken_by_users(transition):
            continue
        node = NODE[transition.side]
        near = near_states(transition)
        for probe in PROBES.values():
            if (
                probe.state in near
                and node in probe.nodes
                and probe.request_type in transition.types
            ):
                cases.append(Case(action, owner(transition), node, probe.name, 409))
    return cases


def wrong_type_cases() -> list[Case]:
    cases = []
    for action, transition in TRANSITIONS.items():
        node = NODE[transition.side]
        for probe in PROBES.values():
            if (
                probe.state in transition.sources
                and node in probe.nodes
                and probe.request_type not in transition.types
                and taken_by_users(transition)
            ):
                cases.append(Case(action, owner(transition), node, probe.name, 409))
                break
    return cases


def bad_payload_cases() -> list[Case]:
    """A required field left out, or (for steps with none required) an unknown one."""
    cases = []
    for action, transition in TRANSITIONS.items():
        if not taken_by_users(transition):
            continue
        probe, node = where_allowed(transition)
        required = any(f.is_required() for f in transition.payload.model_fields.values())
        payload = {} if required else {"unexpected": True}
        cases.append(Case(action, owner(transition), node, probe.name, 422, payload))
    return cases


def stale_version_cases() -> list[Case]:
    """One step of each kind: before submission, asked of the partner, ordered here."""
    return [
        Case("validate", "prosecutor", "cn", "pending_validation", 409, version_offset=-1),
        Case("withdraw", "central_authority", "cn", "screening", 409, {"comment": "x"}, -1),
        Case("start_screening", "central_authority", "us", "received", 409, version_offset=-1),
    ]


# ---------------------------------------------------------------- running them


@dataclass
class Live:
    probe: Probe
    request_id: str
    view: dict[str, Any]


class Probes:
    """The probed requests, each set up the first time a test needs it.

    The setup is not what is tested here, so it is lean: all the requests a
    test needs are drafted and submitted first, then walked to their states,
    waiting for the replicas to agree only where a step needs it (before a
    requesting-side step after submission) and once at the end."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.made: dict[str, Live] = {}

    def prepare(self, names: list[str]) -> dict[str, Live]:
        todo = [PROBES[name] for name in dict.fromkeys(names) if name not in self.made]
        submitted = {probe.name: self._submit(probe) for probe in todo}
        for probe in todo:
            self._walk(probe, *submitted[probe.name])
        for probe in todo:
            self.made[probe.name] = self._finish(probe, submitted[probe.name][0])
        return {name: self.made[name] for name in names}

    def _submit(self, probe: Probe) -> tuple[str, int]:
        pair = self.pair
        request_id = pair.draft(probe.request_type)
        version = 1
        steps = (
            ("send_for_validation", "validate", "submit") if probe.before is None else probe.before
        )
        for action in steps:
            version = act(pair.owner(action), request_id, action, version=version)["version"]
        return request_id, version

    def _walk(self, probe: Probe, request_id: str, version: int) -> None:
        pair = self.pair
        if probe.after:
            wait_until(
                lambda: (
                    pair.us_ca.get(f"/api/v1/assistance/requests/{request_id}").status_code == 200
                ),
                timeout=30,
                what=f"{probe.name} to reach us",
            )
        for action, payload in probe.after:
            if action == "finding":
                pair.finding(request_id, **payload)
            elif TRANSITIONS[action].side == REQUESTED:
                version = act(pair.us_ca, request_id, action, payload, version=version)["version"]
            else:
                pair.agreed(request_id)
                act(pair.cn_ca, request_id, action, payload, version=version)
                version = pair.agreed(request_id)["version"]

    def _finish(self, probe: Probe, request_id: str) -> Live:
        pair = self.pair
        if probe.before is None:
            view = pair.agreed(request_id)
        else:
            view = shared(get(pair.cn_ca, request_id))
        assert view["state"] == probe.state, f"{probe.name}: set up as {view['state']}"
        # On the team (cn's own officers are, once the request is validated),
        # so that it is their role that is refused, not their need to know
        # (that is a test of its own).
        client = pair.cn_ca if probe.before is not None else pair.us_ca
        for username in ("investigator", "prosecutor"):
            added = client.post(
                f"/api/v1/assistance/requests/{request_id}/team", json={"username": username}
            )
            assert added.status_code == 200, added.text
        return Live(probe, request_id, view)


@pytest.fixture(scope="module")
def pair(two_live_nodes) -> Iterator[Pair]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        yield Pair(Officers(stack, cn, us), cn, us)


@pytest.fixture(scope="module")
def probes(pair) -> Probes:
    return Probes(pair)


def node_of(pair: Pair, node: str):
    return pair.cn if node == "cn" else pair.us


def try_all(pair: Pair, probes: Probes, cases: list[Case]) -> None:
    """Take every step of `cases`; then check each got its status, no
    replica of any probed request moved, and each refusal left one audit
    event (naming the request and the step) on the node that refused it."""
    assert cases
    lives = probes.prepare([case.probe for case in cases])  # set up before counting
    auditors = {node: pair.officer(node_of(pair, node), "auditor") for node in ("cn", "us")}
    counts = {
        (node, kind): audit_count(auditors[node], kind)
        for node in ("cn", "us")
        for kind in (REFUSED, DENIED)
    }

    wrong = []
    for case in cases:
        live = lives[case.probe]
        client = pair.officer(node_of(pair, case.node), case.role)
        response = client.post(
            f"/api/v1/assistance/requests/{live.request_id}/actions",
            json={
                "action": case.action,
                "version": live.view["version"] + case.version_offset,
                "payload": case.payload,
            },
        )
        if response.status_code != case.status:
            wrong.append(f"{case}: {response.status_code}, not {case.status}: {response.text}")

    moved = []
    for name, live in lives.items():
        for node in live.probe.nodes:
            now = get(pair.cn_ca if node == "cn" else pair.us_ca, live.request_id)
            if shared(now) != live.view:
                moved.append(f"{node}:{name} moved to {now['state']} v{now['version']}")

    unaudited = []
    for node in ("cn", "us"):
        expected = Counter(
            (lives[c.probe].request_id, c.action, c.status)
            for c in cases
            if c.node == node and c.audit == REFUSED
        )
        events = audit_since(auditors[node], REFUSED, counts[(node, REFUSED)])
        found = Counter((e["target_id"], e["data"]["action"], e["data"]["status"]) for e in events)
        if found != expected:
            unaudited.append(
                f"refusals audited on {node}: {dict(found - expected)} more than "
                f"expected, {dict(expected - found)} missing"
            )
        denied = sum(1 for c in cases if c.node == node and c.audit == DENIED)
        denials = len(audit_since(auditors[node], DENIED, counts[(node, DENIED)]))
        if denials != denied:
            unaudited.append(f"{denials} access denials audited on {node}, not {denied}")
    assert not (wrong or moved or unaudited), "\n".join(wrong + moved + unaudited)


# ---------------------------------------------------------------- the tests


def test_the_cases_cover_every_step_of_the_table():
    for cases in (wrong_role_cases(), wrong_side_cases(), bad_payload_cases()):
        assert {case.action for case in cases} >= set(TRANSITIONS) - {"lapse"}
    assert {c.action for c in wrong_state_cases()} == {
        a for a, t in TRANSITIONS.items() if taken_by_users(t)
    }
    # Every role that may not take a step is tried on it; no one may take the clock's.
    assert len(wrong_role_cases()) == sum(len(set(ROLES) - t.roles) for t in TRANSITIONS.values())
    assert {c.role for c in wrong_role_cases() if c.action == "lapse"} == set(ROLES)
    # Every state the table knows is probed, but the clock's own.
    assert {p.state for p in PROBES.values()} == set(State) - {State.LAPSED}


def test_a_step_is_refused_to_every_role_that_does_not_own_it(pair, probes):
    try_all(pair, probes, wrong_role_cases())


def test_a_step_is_refused_on_the_side_that_does_not_own_it(pair, probes):
    """E.g. the requested central authority withdrawing, or the requesting one accepting."""
    cases = wrong_side_cases()
    tried = {(c.action, c.role, c.node) for c in cases}
    assert {
        ("withdraw", "central_authority", "us"),
        ("accept", "central_authority", "cn"),
        ("lapse", "central_authority", "cn"),
    } <= tried
    try_all(pair, probes, cases)


def test_a_step_is_refused_from_a_state_it_does_not_leave_from(pair, probes):
    cases = wrong_state_cases()
    # The ones a hasty officer would try: executing before the conditions are
    # accepted, withdrawing after the response, closing before it.
    for expected in (
        Case("begin_execution", "central_authority", "us", "accepted_with_conditions", 409),
        Case("withdraw", "central_authority", "cn", "responded", 409),
        Case("close", "central_authority", "cn", "in_execution", 409),
    ):
        assert expected in cases
    try_all(pair, probes, cases)


def test_a_step_is_refused_for_a_type_of_request_it_does_not_apply_to(pair, probes):
    cases = wrong_type_cases()
    assert {c.action for c in cases} >= {
        "start_screening",
        "begin_execution",
        "preserve",
        "accept_information",
        "restrict_use",
    }
    try_all(pair, probes, cases)


def test_a_step_whose_payload_breaks_its_schema_is_refused(pair, probes):
    try_all(pair, probes, bad_payload_cases())


def test_a_step_on_a_version_the_user_did_not_see_is_refused(pair, probes):
    try_all(pair, probes, stale_version_cases())


def test_an_unknown_step_is_refused(pair, probes):
    try_all(pair, probes, [Case("approve", "central_authority", "us", "screening", 422)])


@pytest.mark.parametrize(
    ("probe", "action", "payload", "rule"),
    [
        ("screening", "refuse", {"grounds": GROUNDS}, "consult before refusing"),
        (
            "consultation",
            "refuse",
            {"grounds": DOMESTIC},
            "a domestic investigation only postpones",
        ),
        ("screening", "postpone", {"grounds": GROUNDS}, "only a domestic investigation postpones"),
        ("screening", "accept", {}, "dual criminality is decided before accepting"),
        (
            "screening",
            "accept_with_conditions",
            {"conditions": CONDITIONS},
            "dual criminality is decided before accepting",
        ),
        (
            "preservation-accepted",
            "preserve",
            {"expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
            "a hold lasts at least 60 days",
        ),
    ],
)
def test_a_step_that_breaks_a_rule_is_refused(pair, probes, probe, action, payload, rule):
    try_all(pair, probes, [Case(action, "central_authority", "us", probe, 422, payload)])


def test_an_officer_outside_the_team_is_not_shown_the_request(pair):
    """Need-to-know: to a user not on its team (here the requested node's
    investigator), a request does not exist; the attempt is audited."""
    request_id, view = pair.new("general_evidence")
    outsider = pair.officer(pair.us, "investigator")
    auditor = pair.officer(pair.us, "auditor")
    before = audit_count(auditor, DENIED)
    assert outsider.get(f"/api/v1/assistance/requests/{request_id}").status_code == 404
    response = outsider.post(
        f"/api/v1/assistance/requests/{request_id}/actions",
        json={"action": "acknowledge", "version": view["version"]},
    )
    assert response.status_code == 404
    denials = audit_since(auditor, DENIED, before)
    assert [e["target_id"] for e in denials] == [request_id, request_id]
    assert pair.agreed(request_id) == view
