"""The object-level authorisation matrix: real objects (tests/objects.py),
every user of the node, every thing the pages and the API let one do to them.

What each user may see and do is derived here from the rules, not from the
code under test:

- need-to-know (docs/assistance.md section 7): the request's team on this
  side (the author and the validating prosecutor on the requesting side, the
  members the central authority added on the requested side), its author,
  the central authority and auditors see a request; a prosecutor also sees
  outgoing requests awaiting validation. Investigators and prosecutors also
  list (but cannot open) requests that are neither confidential nor drafts.
  Anyone else opening one gets 404 and an audited access denial;
- the state table `accord.assistance.machine.TRANSITIONS` (side, roles,
  states, types) and the deciding rules of docs/assistance.md section 5.2;
- who writes what in the dialogue record (docs/dialogue.md section 2.2).

For each (object, user): the detail page and the API answer 200 or 404, the
lists, search and counts include the object or not, and the detail page (and
the API's `actions`) offer exactly the actions the rules accept. For each
(object, user, action) whose answer turns on the object (the user's role
owns the step on that side, or need-to-know refuses it), and for every
action on one object of each side: the API accepts or refuses with the right
status, the page offers it exactly when the API accepts it, and a refused
action changes nothing and leaves an audit event of the refusal.
Disagreements found go into KNOWN (strict xfail) until the code is fixed.

The objects are built once per module, inside a transaction rolled back at
the end; each test runs in a savepoint of it, so an accepted action is undone
before the next test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accord.assistance.machine import REQUESTED, REQUESTING, TRANSITIONS
from accord.assistance.models import AssistanceRequest, State
from accord.assistance.registry import NO_DUAL_CRIMINALITY
from accord.core.audit import AuditAction
from accord.core.models import AuditEvent, User
from accord.core.roles import ROLE_PERMISSIONS, Permission, Role
from tests.assistance.flow import request_body
from tests.dialogue.conftest import Record, snapshot
from tests.objects import (
    DUAL,
    KINDS,
    PARTNER_NODE,
    PEOPLE,
    PERSON,
    Builder,
    Kind,
    Person,
    make_partner,
    make_people,
    make_record,
)

pytestmark = pytest.mark.django_db

DENIED = AuditAction.ACCESS_DENIED.value
REFUSED = AuditAction.REQUEST_ACTION_REFUSED.value
DIALOGUE_REFUSED = AuditAction.DIALOGUE_REFUSED.value
API = "/api/v1/assistance/requests"


# ---------------------------------------------------------------- the objects, once


@dataclass
class World:
    people: dict[str, User]
    clients: dict[str, Client]
    requests: dict[str, AssistanceRequest]
    pages: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def listing(self, person: str) -> set[str]:
        """The ids of the requests the API lists for this person (read once)."""
        key = ("api-list", person)
        if key not in self.pages:
            items = self.clients[person].get(API, {"limit": 1000}).json()["items"]
            self.pages[key] = (200, " ".join(str(i["id"]) for i in items))
        return set(self.pages[key][1].split())

    def page(self, url: str, person: str) -> tuple[int, str]:
        """A page as this person sees it (read once: reads change nothing
        the matrix looks at but the audit log, which each test rolls back)."""
        key = (url, person)
        if key not in self.pages:
            response = self.clients[person].get(url)
            self.pages[key] = (response.status_code, response.content.decode())
        return self.pages[key]


@pytest.fixture(scope="module")
def record(world, django_db_blocker) -> Record:
    """The dialogue record, in the module's transaction (built after the requests)."""
    with django_db_blocker.unblock():
        return make_record(world.people["central"])


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            people = make_people()
            builder = Builder(make_partner(), people)
            requests = {name: builder.build(name).request for name in KINDS}
            clients = {}
            for key, user in people.items():
                clients[key] = Client()
                clients[key].force_login(user)
            yield World(people, clients, requests)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


# ---------------------------------------------------------------- the rules


def works_on_requests(person: Person) -> bool:
    return Permission.VIEW_REQUESTS in ROLE_PERMISSIONS[person.role]


def validated(kind: Kind) -> bool:
    return kind.before is None or "validate" in kind.before


def on_team(person: Person, kind: Kind, side: str) -> bool:
    """The author drafted every outgoing request; the validator joined those
    it validated; on the requested side the central authority added both."""
    if side == REQUESTED:
        return person.on_team
    return person.key == "author" or (person.key == "validator" and validated(kind))


def may_see(person: Person, name: str) -> bool:
    kind, side = KINDS[name]
    if person.role in (Role.CENTRAL_AUTHORITY, Role.AUDITOR):
        return True
    if person.role not in (Role.INVESTIGATOR, Role.PROSECUTOR):
        return False
    pending = side == REQUESTING and kind.state == State.PENDING_VALIDATION
    return on_team(person, kind, side) or (person.role == Role.PROSECUTOR and pending)


def listed(person: Person, name: str) -> bool:
    kind, _side = KINDS[name]
    if may_see(person, name):
        return True
    return (
        person.role in (Role.INVESTIGATOR, Role.PROSECUTOR)
        and not kind.confidential
        and kind.state != State.DRAFT
    )


def read_status(person: Person, name: str) -> int:
    if not works_on_requests(person):
        return 403
    return 200 if may_see(person, name) else 404


def rule_problem(kind: Kind, side: str, action: str) -> bool:
    """The deciding rules of docs/assistance.md 5.2 the sample payloads could
    break: dual criminality before accepting, a consultation before refusing."""
    if side != REQUESTED:
        return False
    if action == "assign":
        return True  # no other agency of this node's party is its peer here (routing.py)
    if action in ("accept", "accept_with_conditions"):
        return kind.request_type not in NO_DUAL_CRIMINALITY and DUAL not in kind.after
    if action == "refuse":
        return "consult" not in kind.history
    return False


def step_status(person: Person, name: str, action: str) -> int:
    """In the order docs/assistance.md gives: permission, need-to-know,
    side, role, state and type, then the deciding rules."""
    kind, side = KINDS[name]
    seen = read_status(person, name)
    if seen != 200:
        return seen
    transition = TRANSITIONS[action]
    if transition.side != side or person.role not in transition.roles:
        return 403
    if kind.state not in transition.sources or kind.request_type not in transition.types:
        return 409
    validating = kind.state == State.PENDING_VALIDATION and person.role == Role.INVESTIGATOR
    if action == "discard" and validating:
        return 409  # a prosecutor is validating it (docs/assistance.md, section 4)
    if rule_problem(kind, side, action):
        return 422
    return 200


def edit_statuses(person: Person, name: str) -> set[int]:
    """Only a draft of this node, only by an investigator (section 4.1).
    Where both the role and the state are wrong, either answer is right."""
    kind, side = KINDS[name]
    seen = read_status(person, name)
    if seen != 200:
        return {seen}
    wrong = set()
    if person.role != Role.INVESTIGATOR:
        wrong.add(403)
    if side != REQUESTING or kind.state != State.DRAFT:
        wrong.add(409)
    return wrong or {200}


SCREENING_OPEN = {
    State.RECEIVED,
    State.SCREENING,
    State.LEGAL_REVIEW,
    State.CONSULTATION,
    State.POSTPONED,
}


def finding_status(person: Person, name: str) -> int:
    """The requested central authority, while screening is open (5.1)."""
    kind, side = KINDS[name]
    seen = read_status(person, name)
    if seen != 200:
        return seen
    if side != REQUESTED or person.role != Role.CENTRAL_AUTHORITY:
        return 403
    return 201 if kind.state in SCREENING_OPEN else 409


def member_status(person: Person, name: str) -> int:
    """The central authority or the request's author adds members (section 7)."""
    _kind, side = KINDS[name]
    seen = read_status(person, name)
    if seen != 200:
        return seen
    author = side == REQUESTING and person.key == "author"
    return 200 if person.role == Role.CENTRAL_AUTHORITY or author else 403


# ---------------------------------------------------------------- sample payloads

PAYLOADS: dict[str, dict[str, Any]] = {
    "Comment": {},
    "Reason": {"comment": "Because"},
    "Questions": {"questions": "Which account?"},
    "Answers": {"answers": "This one"},
    "Consultation": {"comment": "Would a use limit do?"},
    "Conditions": {"conditions": [{"kind": "speciality", "text": "This case only"}]},
    "Grounds": {"grounds": [{"ground": "essential_interests", "rationale": "Security"}]},
    "Postponement": {"grounds": [{"ground": "domestic_investigation", "rationale": "Ours"}]},
    "Response": {"text": "Records attached"},
    "Preservation": {},
    "Extension": {"days": 30},
    "Restriction": {"kind": "restrict_use", "text": "Police use only"},
    "Assignment": {"node": "xx.agency"},
}
FINDING = {"ground": "dual_criminality", "applies": True, "rationale": "Fraud in both"}
NEWCOMER = "obj-outsider-investigator"


def payload_for(action: str) -> dict[str, Any]:
    return PAYLOADS[TRANSITIONS[action].payload.__name__]


# ---------------------------------------------------------------- what the page offers


def offers(html: str, marker: str) -> bool:
    return marker in html


def step_marker(action: str) -> str:
    return f'data-testid="step-{action}"'


def form_marker(url: str) -> str:
    return f'<form method="post" action="{url}"'


def detail_url(name: str, world: World) -> str:
    return reverse("assistance:detail", kwargs={"request_id": world.requests[name].pk})


# ---------------------------------------------------------------- checking a refusal


def counts(target: str) -> dict[str, int]:
    return {
        action: AuditEvent.objects.filter(action=action, target_id=target).count()
        for action in (DENIED, REFUSED, DIALOGUE_REFUSED)
    }


def request_state(request: AssistanceRequest) -> tuple[str, int, int, int, int]:
    fresh = AssistanceRequest.objects.get(pk=request.pk)
    return (
        fresh.state,
        fresh.version,
        fresh.team.count(),
        fresh.findings.count(),
        fresh.pending_actions.count(),
    )


def call(client: Client, method: str, path: str, body: dict[str, Any]) -> Any:
    return client.generic(method, path, data=json.dumps(body), content_type="application/json")


# ---------------------------------------------------------------- disagreements found

# (object, person, action) -> what the page and the service disagree on, as a
# strict xfail until the code is fixed. Empty: the page and the service agree.
KNOWN: dict[tuple[str, str, str], str] = {}


def param(name: str, person: str, action: str) -> Any:
    reason = KNOWN.get((name, person, action))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(name, person, action, id=f"{name}-{person}-{action}", marks=marks)


# ---------------------------------------------------------------- reading


def read_cases() -> Iterator[Any]:
    for name in KINDS:
        for person in PEOPLE:
            yield pytest.param(name, person.key, id=f"{name}-{person.key}")


@pytest.mark.parametrize(("name", "who"), list(read_cases()))
def test_a_request_is_seen_and_listed_on_need_to_know(world, name, who):
    person, request = PERSON[who], world.requests[name]
    client, url = world.clients[who], detail_url(name, world)
    expected = read_status(person, name)
    before = counts(str(request.pk))
    page = client.get(url)
    world.pages[(url, who)] = (page.status_code, page.content.decode())
    api = client.get(f"{API}/{request.pk}").status_code
    assert (page.status_code, api) == (expected, expected), f"page, API: not {expected}"
    if expected == 404:
        # Both reads audited as access denials, naming the request.
        assert counts(str(request.pk))[DENIED] == before[DENIED] + 2
    if expected == 403:
        return
    should = listed(person, name)
    assert (str(request.pk) in world.listing(who)) == should, "API list"
    found = client.get(API, {"q": request.reference, "limit": 1000}).json()["items"]
    assert [str(i["id"]) for i in found] == ([str(request.pk)] if should else []), "search"
    # Every kind on one page (the list pages by 25; the world holds fewer than 200).
    page_of_all = world.page(reverse("assistance:list") + "?per_page=200", who)[1]
    assert (url in page_of_all) == should, "list page"


@pytest.mark.parametrize("who", [p.key for p in PEOPLE if works_on_requests(p)])
def test_a_confidential_request_is_not_counted_for_those_who_may_not_list_it(world, who):
    """The turnaround metrics count the submitted requests the user may list."""
    metrics = world.clients[who].get("/api/v1/assistance/metrics").json()
    submitted = [n for n, (kind, side) in KINDS.items() if side == REQUESTED or kind.submitted]
    assert metrics["requests"] == sum(listed(PERSON[who], n) for n in submitted)


# ---------------------------------------------------------------- steps


ACTIONS = (*TRANSITIONS, "edit", "finding", "member")
# One object on each side on which every action is tried by everyone.
EVERYTHING_ON = ("requesting-validated", "requested-screening")


def allowed_statuses(name: str, who: str, action: str) -> set[int]:
    person = PERSON[who]
    if action == "edit":
        return edit_statuses(person, name)
    if action == "finding":
        return {finding_status(person, name)}
    if action == "member":
        return {member_status(person, name)}
    return {step_status(person, name, action)}


def depends_on_the_object(name: str, who: str, action: str) -> bool:
    """Whether the answer turns on this object (its state, type, team,
    confidentiality) rather than on the user's role and the side alone."""
    person, (_kind, side) = PERSON[who], KINDS[name]
    if not works_on_requests(person):
        return False
    if not may_see(person, name):
        return action in ("validate", "edit", "finding", "member")  # one per endpoint
    if action in TRANSITIONS:
        transition = TRANSITIONS[action]
        return transition.side == side and person.role in transition.roles
    return True


def step_cases() -> Iterator[Any]:
    for name in KINDS:
        for person in PEOPLE:
            for action in ACTIONS:
                if name in EVERYTHING_ON or depends_on_the_object(name, person.key, action):
                    yield param(name, person.key, action)


def attempt(world: World, name: str, who: str, action: str) -> tuple[int, str]:
    """Take the action through the API; returns the status and what on the
    detail page offers it."""
    request = world.requests[name]
    client, path = world.clients[who], f"{API}/{request.pk}"
    if action == "edit":
        kind, _side = KINDS[name]
        body = request_body(kind.request_type, PARTNER_NODE, summary="Edited summary")
        if kind.confidential:
            body.update(confidential=True, confidentiality_reasons="Covert operation")
        return call(client, "PUT", path, body).status_code, marker(world, name, action)
    if action == "finding":
        response = call(client, "POST", f"{path}/findings", FINDING)
        return response.status_code, marker(world, name, action)
    if action == "member":
        response = call(client, "POST", f"{path}/team", {"username": NEWCOMER})
        return response.status_code, marker(world, name, action)
    body = {"action": action, "version": request.version, "payload": payload_for(action)}
    return call(client, "POST", f"{path}/actions", body).status_code, marker(world, name, action)


def marker(world: World, name: str, action: str) -> str:
    """What on the detail page offers the action."""
    if action == "edit":
        return 'data-testid="edit-draft"'
    if action == "finding":
        return 'data-testid="finding-form"'
    if action == "member":
        url = reverse("assistance:member", kwargs={"request_id": world.requests[name].pk})
        return form_marker(url)
    return step_marker(action)


def page_cases() -> Iterator[Any]:
    for name in KINDS:
        for person in PEOPLE:
            yield pytest.param(name, person.key, id=f"{name}-{person.key}")


@pytest.mark.parametrize(("name", "who"), list(page_cases()))
def test_the_detail_page_offers_what_the_rules_allow(world, name, who):
    """Every action, whether or not it is tried below: offered exactly when
    the rules accept it (a known disagreement is tried, and expected to
    fail, in the test below)."""
    page_status, html = world.page(detail_url(name, world), who)
    assert page_status == read_status(PERSON[who], name)
    wrong = []
    for action in ACTIONS:
        if (name, who, action) in KNOWN:
            continue
        allowed = allowed_statuses(name, who, action) & {200, 201}
        offered = page_status == 200 and offers(html, marker(world, name, action))
        if offered != bool(allowed):
            wrong.append(f"{action}: {'offered' if offered else 'not offered'}")
    assert not wrong, "; ".join(wrong)
    if page_status != 200:
        return
    # The API's own list of the steps this user may take agrees as well.
    request = world.requests[name]
    listed_steps = set(world.clients[who].get(f"{API}/{request.pk}").json()["actions"])
    listed_steps -= {action for (n, w, action) in KNOWN if (n, w) == (name, who)}
    may_take = {a for a in TRANSITIONS if (name, who, a) not in KNOWN}
    assert listed_steps == {a for a in may_take if step_status(PERSON[who], name, a) == 200}


@pytest.mark.parametrize(("name", "who", "action"), list(step_cases()))
def test_an_action_is_accepted_as_the_rules_say_and_offered_exactly_then(world, name, who, action):
    person, request = PERSON[who], world.requests[name]
    page_status, html = world.page(detail_url(name, world), who)
    before, audited = request_state(request), counts(str(request.pk))
    denied = AuditEvent.objects.filter(action=DENIED).count()
    status, where = attempt(world, name, who, action)
    allowed = allowed_statuses(name, who, action)
    accepted = status in (200, 201)
    assert status in allowed, f"{action} answered {status}, the rules say {sorted(allowed)}"
    offered = page_status == 200 and offers(html, where)
    assert offered == accepted, (
        f"the page {'offers' if offered else 'does not offer'} {action}; the API answers {status}"
    )
    if accepted:
        return
    assert request_state(request) == before, "a refused action changed the request"
    if not works_on_requests(person):
        # Stopped at the door: an access denial naming no request.
        assert AuditEvent.objects.filter(action=DENIED).count() == denied + 1
        return
    kind = DENIED if status == 404 else REFUSED
    assert counts(str(request.pk))[kind] == audited[kind] + 1, f"not audited as {kind}"


def test_the_cases_accept_and_refuse_every_step_for_each_reason():
    """The matrix is not vacuous: each step is accepted somewhere (but the
    clock's own), and refused for its side, its role, its state and for
    need-to-know."""
    tried: dict[str, set[int]] = {action: set() for action in ACTIONS}
    side_refused: set[str] = set()
    for case in step_cases():
        name, who, action = case.values
        status = next(iter(allowed_statuses(name, who, action)))
        tried[action].add(status)
        if action in TRANSITIONS and TRANSITIONS[action].side != KINDS[name][1]:
            side_refused.add(action)
    for action, statuses in tried.items():
        accepted = {200, 201} if action != "lapse" else set()
        assert statuses >= {403, 404} and (statuses & {200, 201}) == accepted & statuses
        # assign needs another agency of this node's party among its peers,
        # which this world has not: tests/assistance/test_routing*.py accept it.
        never = ("lapse", "assign")
        assert action in never or statuses & {200, 201}, f"{action} is never accepted"
        assert action in ("member", "lapse") or 409 in statuses, f"{action}: no state refusal"
    assert side_refused >= set(TRANSITIONS)


def test_a_step_on_a_version_the_user_did_not_see_is_refused(world):
    request = world.requests["requesting-pending_validation"]
    before, audited = request_state(request), counts(str(request.pk))
    body = {"action": "validate", "version": request.version - 1, "payload": {}}
    response = call(world.clients["validator"], "POST", f"{API}/{request.pk}/actions", body)
    assert response.status_code == 409
    assert request_state(request) == before
    assert counts(str(request.pk))[REFUSED] == audited[REFUSED] + 1


def test_every_state_is_built_on_each_side_it_is_reachable_on(world):
    built = {(KINDS[name][1], request.state) for name, request in world.requests.items()}
    for state in set(State) - {State.LAPSED}:
        assert (REQUESTING, state) in built, state
    before_submission = {State.DRAFT, State.PENDING_VALIDATION, State.VALIDATED}
    for state in set(State) - {State.LAPSED} - before_submission:
        assert (REQUESTED, state) in built, state


# ---------------------------------------------------------------- the dialogue record


def may(person: Person, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[person.role]


@dataclass(frozen=True)
class DialogueAction:
    """One change the dialogue pages and API offer, on one object."""

    name: str
    obj: str  # an attribute of Record
    permission: Permission
    method: str
    path: str  # with {id}
    page_url: str  # the URL name of the form's target
    where: str  # "detail" or "round": the page that offers it
    body: dict[str, Any]
    # False where authorship refuses it: the other side authors (or owes) the
    # object, or this node has signed its latest version already.
    ours: bool = True

    def case_id(self) -> str:
        return f"{self.name}-{self.obj}"


ROUND_BODY = {"topic": "narcotics", "text_en": "t", "text_zh": "t"}
DIALOGUE_ACTIONS = (
    *(
        DialogueAction(
            "sign",
            obj,
            Permission.SIGN_OUTCOMES,
            "POST",
            "/api/v1/dialogue/outcomes/{id}/signatures",
            "dialogue:sign",
            "detail",
            {},
            ours=obj == "theirs",  # agreed and pending are signed here already
        )
        for obj in ("agreed", "pending", "theirs")
    ),
    *(
        DialogueAction(
            "amend",
            obj,
            Permission.SIGN_OUTCOMES,
            "POST",
            "/api/v1/dialogue/outcomes/{id}/versions",
            "dialogue:amend",
            "detail",
            {"text_en": "Amended", "text_zh": "修改"},
            ours=obj != "theirs",
        )
        for obj in ("agreed", "pending", "theirs")
    ),
    *(
        DialogueAction(
            "commitment",
            obj,
            Permission.MANAGE_DIALOGUE,
            "POST",
            "/api/v1/dialogue/outcomes/{id}/commitments",
            "dialogue:commitment",
            "detail",
            {"title_en": "c", "owner_node": PARTNER_NODE, "due_date": "2030-01-01"},
        )
        for obj in ("agreed", "pending", "theirs")
    ),
    *(
        DialogueAction(
            "commitment-status",
            obj,
            Permission.MANAGE_DIALOGUE,
            "POST",
            "/api/v1/dialogue/commitments/{id}/status",
            "dialogue:commitment-status",
            "detail",
            {"status": "done"},
            ours=obj == "we_owe",
        )
        for obj in ("we_owe", "they_owe")
    ),
    DialogueAction(
        "position",
        "disagreement",
        Permission.MANAGE_DIALOGUE,
        "PUT",
        "/api/v1/dialogue/disagreements/{id}/position",
        "dialogue:position",
        "detail",
        {"text_en": "Our position"},
    ),
    DialogueAction(
        "disagreement-status",
        "disagreement",
        Permission.MANAGE_DIALOGUE,
        "POST",
        "/api/v1/dialogue/disagreements/{id}/status",
        "dialogue:disagreement-status",
        "detail",
        {"status": "managed"},
    ),
    *(
        DialogueAction(
            "delegation",
            obj,
            Permission.MANAGE_DIALOGUE,
            "PUT",
            "/api/v1/dialogue/rounds/{id}/delegation",
            "dialogue:delegation",
            "round",
            {"people": [{"role": "member", "name": "A. Member", "title": ""}]},
        )
        for obj in ("round1", "round2")
    ),
    *(
        DialogueAction(
            "propose",
            obj,
            Permission.SIGN_OUTCOMES,
            "POST",
            "/api/v1/dialogue/rounds/{id}/outcomes",
            "dialogue:propose",
            "round",
            ROUND_BODY,
        )
        for obj in ("round1", "round2")
    ),
)
URL_KWARG = {
    "dialogue:sign": "outcome_id",
    "dialogue:amend": "outcome_id",
    "dialogue:commitment": "outcome_id",
    "dialogue:commitment-status": "commitment_id",
    "dialogue:position": "disagreement_id",
    "dialogue:disagreement-status": "disagreement_id",
    "dialogue:delegation": "round_id",
    "dialogue:propose": "round_id",
}
# (action case id, person) -> the disagreement found.
KNOWN_DIALOGUE: dict[tuple[str, str], str] = {}


def dialogue_cases() -> Iterator[Any]:
    for action in DIALOGUE_ACTIONS:
        for person in PEOPLE:
            reason = KNOWN_DIALOGUE.get((action.case_id(), person.key))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(
                action, person.key, id=f"{action.case_id()}-{person.key}", marks=marks
            )


def dialogue_status(action: DialogueAction, person: Person) -> int:
    if not may(person, action.permission):
        return 403
    if not action.ours:
        return 403
    return 201 if action.name in CREATES else 200


CREATES = {"sign", "amend", "commitment", "propose"}


@pytest.mark.parametrize(("action", "who"), list(dialogue_cases()))
def test_a_dialogue_change_is_accepted_as_authorship_says_and_offered_exactly_then(
    world, record, action, who
):
    person = PERSON[who]
    obj = getattr(record, action.obj)
    if action.where == "detail":
        page_url = reverse("dialogue:detail", kwargs={"dialogue_id": record.dialogue.pk})
    else:
        page_url = reverse("dialogue:round", kwargs={"round_id": obj.pk})
    page_status, html = world.page(page_url, who)
    assert page_status == 200, "every user follows the dialogue"
    body = dict(action.body)
    if action.name == "sign":
        body["version"] = obj.latest().version
    if action.name == "commitment":
        body["owner_node"] = record.here
    before = snapshot()
    audited = {k: AuditEvent.objects.filter(action=k).count() for k in (DENIED, DIALOGUE_REFUSED)}
    response = call(world.clients[who], action.method, action.path.format(id=obj.pk), body)
    expected = dialogue_status(action, person)
    assert response.status_code == expected, response.content
    target = reverse(action.page_url, kwargs={URL_KWARG[action.page_url]: obj.pk})
    offered = offers(html, form_marker(target))
    accepted = response.status_code in (200, 201)
    assert offered == accepted, (
        f"the page {'offers' if offered else 'does not offer'} {action.name} on {action.obj}; "
        f"the API answers {response.status_code}"
    )
    if accepted:
        return
    assert snapshot() == before, "a refused change changed the record"
    kind = DENIED if not may(person, action.permission) else DIALOGUE_REFUSED
    now = {k: AuditEvent.objects.filter(action=k).count() for k in (DENIED, DIALOGUE_REFUSED)}
    assert now[kind] == audited[kind] + 1, f"refusal not audited as {kind}"


@pytest.mark.parametrize("who", [person.key for person in PEOPLE])
def test_every_user_follows_the_whole_dialogue_record(world, record, who):
    client = world.clients[who]
    assert client.get(f"/api/v1/dialogue/dialogues/{record.dialogue.pk}").status_code == 200
    listed_ids = {d["id"] for d in client.get("/api/v1/dialogue/dialogues").json()}
    assert str(record.dialogue.pk) in {str(i) for i in listed_ids}
    for round_ in (record.round1, record.round2):
        assert client.get(reverse("dialogue:round", args=[round_.pk])).status_code == 200
