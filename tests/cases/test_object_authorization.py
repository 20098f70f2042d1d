"""The object-level authorisation matrix for cases: real cases
(tests/cases/objects.py), every user of the node, every thing the pages, the
API and the CLI let one do to a case.

What each user may see and do is derived here from the rules of
docs/cases.md ("Who may see and change a case", "Correlation"), not from the
code under test:

- the team (the author and the members it added) lists, opens and changes a
  case; the central authority and auditors list and open every case and
  change none; the other investigators, prosecutors and analysts list the
  cases that are not confidential but open none (404, audited); node
  administrators neither list nor open one (403, audited);
- a confidential case stays out of every list, search, count and
  correlation for anyone but its team, the central authority and auditors;
- a closed case takes no edits or observables (a subject adds observables)
  until it is reopened; its status may change ("any change is allowed"),
  and so may its team (neither an edit of the case's fields nor an
  observable: read so, as the policy's EDIT is title, categories and
  confidentiality);
- every read is audited as `cases:case:read`, every list as
  `cases:case:list`, every refusal as `core:access:denied` (no permission,
  or a case one may not open) or `cases:case:refused` (the policy).

For each (case, user): the detail page and the API answer 200, 403 or 404
(audited), the API's `actions` are the changes the rules allow, the lists,
searches (by reference, by a held value) and counts include the case or not,
and `accord cases show --as` answers as the API does. For each (case, user,
change): the API accepts or refuses with the right status, the page offers
the form exactly when the API accepts (and the edit page its form exactly
when an edit is accepted), an accepted change changes the case,
and a refused one changes nothing and leaves its audit event. For each case
holding a shared value and each user who may open it: the page and the
API show the other holders as far as the user may know them.
Disagreements found go into KNOWN (strict xfail) until the code is fixed.

The cases are built once per module, inside a transaction rolled back at the
end; each test runs in a savepoint of it."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accord.cases.models import Case, CaseStatus, ImportJob, ImportKind, Observable
from accord.core.audit import AuditAction
from accord.core.models import AuditEvent, User
from accord.core.roles import Permission, Role
from tests.cases.objects import (
    PEOPLE,
    PERSON,
    QUIET,
    SHAPE,
    SHAPES,
    SHARED,
    Shape,
    build_cases,
    make_case_people,
)
from tests.objects import Person

pytestmark = pytest.mark.django_db

API = "/api/v1/cases"
DENIED = AuditAction.ACCESS_DENIED.value
REFUSED = AuditAction.CASE_REFUSED.value
READ = AuditAction.CASE_READ.value
LISTED = AuditAction.CASE_LIST.value

# ---------------------------------------------------------------- the cases, once


@dataclass
class World:
    people: dict[str, User]
    clients: dict[str, Client]
    cases: dict[str, Case]
    # The observable each case's `unobserve` removes: its own domain.
    removable: dict[str, int]
    # An import job of each case, for its progress and report.
    jobs: dict[str, ImportJob] = field(default_factory=dict)
    pages: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def page(self, url: str, who: str) -> tuple[int, str]:
        """A page as this person sees it, read once (a read changes nothing
        the matrix looks at but the audit log, which each test rolls back)."""
        if (url, who) not in self.pages:
            response = self.clients[who].get(url)
            self.pages[(url, who)] = (response.status_code, response.content.decode())
        return self.pages[(url, who)]

    def listing(self, who: str) -> dict[str, Any]:
        """The API's list for this person, read once."""
        key = (API, who)
        if key not in self.pages:
            response = self.clients[who].get(API, {"limit": 1000})
            self.pages[key] = (response.status_code, response.content.decode())
        return json.loads(self.pages[key][1])


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            people = make_case_people()
            cases = build_cases(people)
            removable = {
                key: Observable.objects.get(case=case, normal=SHAPE[key].domain()).pk
                for key, case in cases.items()
            }
            clients = {}
            for key, user in people.items():
                clients[key] = Client()
                clients[key].force_login(user)
            jobs = {key: _job_of(case) for key, case in cases.items()}
            yield World(people, clients, cases, removable, jobs)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _job_of(case: Case) -> ImportJob:
    return ImportJob.objects.create(
        id=uuid.uuid4(),
        case=case,
        actor="system:test",
        kind=ImportKind.CSV,
        total=10,
        done=4,
        report={"added": 4, "duplicates": 0, "failed": 0, "problems": []},
        created_at=timezone.now(),
    )


# ---------------------------------------------------------------- the rules (docs/cases.md)

# "other investigators, prosecutors, analysts": the people who work on cases.
WORKERS = (Role.INVESTIGATOR, Role.PROSECUTOR, Role.ANALYST)
# "central authority, auditors": every case, read only.
READERS = (Role.CENTRAL_AUTHORITY, Role.AUDITOR)


def may_open(person: Person, shape: Shape) -> bool:
    return person.role in READERS or person.key in shape.team


def listed(person: Person, shape: Shape) -> bool:
    return may_open(person, shape) or (person.role in WORKERS and not shape.confidential)


def read_status(person: Person, shape: Shape) -> int:
    if person.role not in (*WORKERS, *READERS):
        return 403
    return 200 if may_open(person, shape) else 404


ACTIONS = ("edit", "status", "team", "observe", "unobserve", "subject", "csv")
# "a closed case takes no edits or observables until it is reopened"; a
# subject is recorded with the observables it implies.
CLOSED_REFUSES = {"edit", "observe", "unobserve", "subject", "csv"}
ACCEPTED = {
    "edit": 200,
    "status": 200,
    "team": 200,
    "observe": 201,
    "unobserve": 204,
    "subject": 201,
    "csv": 201,
}
# The policy's name of each change, as the API lists them in `actions`.
POLICY_ACTION = {
    "edit": "edit",
    "status": "status",
    "team": "team",
    "observe": "observe",
    "unobserve": "observe",
    "subject": "observe",
    "csv": "observe",
}


def change_status(person: Person, shape: Shape, action: str) -> int:
    """Permission first (read-only roles and administrators: 403), then
    need-to-know (404), then the case's status (409)."""
    seen = read_status(person, shape)
    if seen == 403 or person.role not in WORKERS:
        return 403
    if seen == 404:
        return 404
    if shape.status == CaseStatus.CLOSED and action in CLOSED_REFUSES:
        return 409
    return ACCEPTED[action]


def may_change(person: Person, shape: Shape) -> set[str]:
    """The policy's actions this person may take on the case now."""
    return {
        POLICY_ACTION[action]
        for action in ACTIONS
        if change_status(person, shape, action) == ACCEPTED[action]
    }


# ---------------------------------------------------------------- disagreements found

# (case, person, action) -> what the docs and the code disagree on, as a
# strict xfail until the code is fixed. Empty: they agree.
KNOWN: dict[tuple[str, str, str], str] = {}


def known(key: str, who: str, action: str) -> list[Any]:
    reason = KNOWN.get((key, who, action))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


# ---------------------------------------------------------------- helpers


def detail_url(world: World, key: str) -> str:
    return reverse("cases:detail", kwargs={"case_id": world.cases[key].pk})


def events(action: str, **filters: Any) -> int:
    return AuditEvent.objects.filter(action=action, **filters).count()


def snapshot(case: Case) -> tuple[Any, ...]:
    """The case, its team, its observables and subjects, as stored."""
    fresh = Case.objects.get(pk=case.pk)
    return (
        fresh.title,
        fresh.title_language,
        fresh.title_translation,
        tuple(fresh.categories),
        fresh.status,
        fresh.confidential,
        tuple(sorted(fresh.team.values_list("username", flat=True))),
        tuple(fresh.observables.order_by("pk").values_list("code", "normal", "subject", "source")),
        tuple(fresh.subjects.order_by("pk").values_list("kind", "display_name", "birth_date")),
    )


def references(html: str) -> set[str]:
    """The references of the rows of a list page."""
    return set(re.findall(r'<tr data-reference="([^"]+)"', html))


def form_marker(url: str) -> str:
    return f'<form method="post" action="{url}"'


def marker(world: World, key: str, action: str) -> str:
    """What on the detail page offers the change: its form's target (the
    edit page's link for `edit`)."""
    case_id = world.cases[key].pk
    if action == "edit":
        return f'href="{reverse("cases:edit", kwargs={"case_id": case_id})}"'
    if action == "unobserve":
        kwargs = {"case_id": case_id, "observable_id": world.removable[key]}
        return form_marker(reverse("cases:unobserve", kwargs=kwargs))
    names = {
        "status": "cases:status",
        "team": "cases:member",
        "observe": "cases:observe",
        "subject": "cases:subject",
        "csv": "cases:import",
    }
    return form_marker(reverse(names[action], kwargs={"case_id": case_id}))


# Someone who works on cases and is on no case's team.
NEWCOMER = "obj-outsider-prosecutor"


def attempt(world: World, key: str, who: str, action: str) -> int:
    """Take the change through the API; returns the status."""
    case, shape, client = world.cases[key], SHAPE[key], world.clients[who]
    path = f"{API}/{case.pk}"

    def post(url: str, body: dict[str, Any], method: str = "POST") -> int:
        return client.generic(
            method, url, data=json.dumps(body), content_type="application/json"
        ).status_code

    if action == "edit":
        body = {
            "title": "Edited title",
            "title_language": "en",
            "categories": ["fraud", "money_laundering"],
            "confidential": shape.confidential,
        }
        return post(path, body, "PUT")
    if action == "status":
        target = CaseStatus.SUSPENDED if shape.status == CaseStatus.OPEN else CaseStatus.OPEN
        return post(f"{path}/status", {"status": target})
    if action == "team":
        return post(f"{path}/team", {"username": NEWCOMER})
    if action == "observe":
        return post(f"{path}/observables", {"type": "domain", "value": "added.example"})
    if action == "unobserve":
        return client.delete(f"{path}/observables/{world.removable[key]}").status_code
    if action == "subject":
        body = {"kind": "person", "family_name": "Li", "given_name": "Na"}
        return post(f"{path}/subjects", {**body, "birth_date": "1990-05-05"})
    assert action == "csv"
    return post(f"{path}/imports/csv", {"text": "type,value\ndomain,imported.example\n"})


# ---------------------------------------------------------------- reading


def read_cases() -> Iterator[Any]:
    for shape in SHAPES:
        for person in PEOPLE:
            yield pytest.param(shape.key, person.key, id=f"{shape.key}-{person.key}")


@pytest.mark.parametrize(("key", "who"), list(read_cases()))
def test_an_import_job_is_seen_exactly_by_those_who_open_its_case(world, key, who):
    """Its progress (the page, the page's JSON) and its report (the API) are
    for those who may open the case; anyone else gets what the case page
    gives them (403 or 404), audited."""
    person, shape, case, job = PERSON[who], SHAPE[key], world.cases[key], world.jobs[key]
    client, expected = world.clients[who], read_status(person, shape)
    kwargs = {"case_id": case.pk, "job_id": job.pk}
    target = str(job.pk) if expected == 404 else Permission.VIEW_CASES.value
    denied = events(DENIED, target_id=target)
    page = client.get(reverse("cases:import-job", kwargs=kwargs))
    progress = client.get(reverse("cases:import-status", kwargs=kwargs))
    api = client.get(f"{API}/{case.pk}/imports/{job.pk}")
    statuses = (page.status_code, progress.status_code, api.status_code)
    assert statuses == (expected,) * 3, f"not {expected}"
    if expected != 200:
        assert events(DENIED, target_id=target) == denied + 3, "each refusal audited"
        return
    assert progress.json()["done"] == 4 and "report" not in progress.json()
    assert 'data-status-url="' in page.content.decode() and "<progress" in page.content.decode()
    assert api.json()["report"]["added"] == 4
    # The same job under another case's address is no job at all.
    other = next(c for k, c in world.cases.items() if k != key)
    wrong = reverse("cases:import-status", kwargs={"case_id": other.pk, "job_id": job.pk})
    assert client.get(wrong).status_code in (403, 404)


@pytest.mark.parametrize(("key", "who"), list(read_cases()))
def test_a_case_is_opened_listed_and_found_on_need_to_know(world, key, who):
    person, shape, case = PERSON[who], SHAPE[key], world.cases[key]
    client, url = world.clients[who], detail_url(world, key)
    expected = read_status(person, shape)
    target = str(case.pk) if expected != 403 else Permission.VIEW_CASES.value
    audited = events(READ if expected == 200 else DENIED, target_id=target)
    page = client.get(url)
    world.pages[(url, who)] = (page.status_code, page.content.decode())
    api = client.get(f"{API}/{case.pk}")
    assert (page.status_code, api.status_code) == (expected, expected), f"not {expected}"
    # Both reads audited: as reads, or as access denials naming the case
    # (the permission, for those who may not read cases at all).
    assert events(READ if expected == 200 else DENIED, target_id=target) == audited + 2
    if expected == 200:
        assert set(api.json()["actions"]) == may_change(person, shape), "the API's actions"
    if expected == 403:
        assert client.get(reverse("cases:list")).status_code == 403, "list page"
        assert client.get(API).status_code == 403, "API list"
        return
    should = listed(person, shape)
    ids = {item["id"] for item in world.listing(who)["items"]}
    assert (str(case.pk) in ids) == should, "API list"
    assert (case.reference in references(world.page(reverse("cases:list"), who)[1])) == should
    # Search by reference (shown in the list), and by a value the case holds
    # as someone might type it (found only by those who may open the case).
    opens = may_open(person, shape)
    for q, finds in ((case.reference, should), (shape.domain().upper() + ".", opens)):
        found = client.get(API, {"q": q, "limit": 1000}).json()
        assert [i["id"] for i in found["items"]] == ([str(case.pk)] if finds else []), q
        assert found["count"] == int(finds), q
        html = client.get(reverse("cases:list"), {"q": q}).content.decode()
        assert references(html) == ({case.reference} if finds else set()), q


@pytest.mark.parametrize(("key", "who"), list(read_cases()))
def test_the_cli_shows_a_case_as_the_api_does(world, key, who):
    person, shape, case = PERSON[who], SHAPE[key], world.cases[key]
    username = world.people[who].username
    reads, denied = events(READ, target_id=str(case.pk)), events(DENIED)
    out = StringIO()
    if read_status(person, shape) == 200:
        call_command("cases", "show", case.reference, "--as", username, stdout=out)
        assert json.loads(out.getvalue())["reference"] == case.reference
        assert events(READ, target_id=str(case.pk)) == reads + 1
    else:
        with pytest.raises(CommandError):
            call_command("cases", "show", case.reference, "--as", username, stdout=out)
        assert case.reference not in out.getvalue()
        assert events(DENIED) == denied + 1


@pytest.mark.parametrize("key", [shape.key for shape in SHAPES])
def test_the_operator_shows_any_case_audited(world, key):
    case = world.cases[key]
    reads = events(READ, target_id=str(case.pk), actor="system:cli")
    out = StringIO()
    call_command("cases", "show", case.reference, stdout=out)
    shown = json.loads(out.getvalue())
    assert shown["reference"] == case.reference
    assert events(READ, target_id=str(case.pk), actor="system:cli") == reads + 1
    for value in SHAPE[key].shared:
        # The operator sees every other case holding a shared value.
        links = next(o for o in shown["observables"] if o["normal"] == value)["correlations"]
        others = {world.cases[s.key].reference for s in holders(value) if s.key != key}
        assert {link.get("reference") for link in links} == others


@pytest.mark.parametrize("who", [p.key for p in PEOPLE if p.role in (*WORKERS, *READERS)])
def test_the_counts_and_a_search_by_a_shared_value_count_only_the_cases_one_may_read(world, who):
    person, client = PERSON[who], world.clients[who]
    mine = [s for s in SHAPES if listed(person, s)]
    lists = events(LISTED, actor=f"user:{world.people[who].username}")
    html = client.get(reverse("cases:list")).content.decode()
    counts = {s: int(n or 0) for s, n in re.findall(r'data-testid="count-(\w+)">(\d*)<', html)}
    assert counts == {status: sum(s.status == status for s in mine) for status in CaseStatus.values}
    assert client.get(API, {"limit": 1000}).json()["count"] == len(mine)
    for value in (SHARED, QUIET):
        # A value is matched only in the cases one may open (what a listed
        # case one may not open holds is not for this user to learn).
        found_by = {
            world.cases[s.key].reference for s in mine if value in s.shared and may_open(person, s)
        }
        found = client.get(API, {"q": value, "limit": 1000}).json()
        assert {i["reference"] for i in found["items"]} == found_by, value
        assert found["count"] == len(found_by), value
        page = client.get(reverse("cases:list"), {"q": value}).content.decode()
        assert references(page) == found_by, value
    out = StringIO()
    call_command("cases", "list", "--as", world.people[who].username, "--json", stdout=out)
    assert {row["reference"] for row in json.loads(out.getvalue())} == {
        world.cases[s.key].reference for s in mine
    }, "accord cases list"
    # Every list is audited: the page three times, the API three, the CLI once.
    assert events(LISTED, actor=f"user:{world.people[who].username}") == lists + 7


# ---------------------------------------------------------------- changing


def change_cases() -> Iterator[Any]:
    for shape in SHAPES:
        for person in PEOPLE:
            for action in ACTIONS:
                yield pytest.param(
                    shape.key,
                    person.key,
                    action,
                    id=f"{shape.key}-{person.key}-{action}",
                    marks=known(shape.key, person.key, action),
                )


@pytest.mark.parametrize(("key", "who", "action"), list(change_cases()))
def test_a_change_is_accepted_as_the_rules_say_and_offered_exactly_then(world, key, who, action):
    person, shape, case = PERSON[who], SHAPE[key], world.cases[key]
    page_status, html = world.page(detail_url(world, key), who)
    before = snapshot(case)
    refused = events(REFUSED, target_id=str(case.pk))
    denied_case = events(DENIED, target_id=str(case.pk))
    denied_permission = events(DENIED, target_type="permission")
    status = attempt(world, key, who, action)
    expected = change_status(person, shape, action)
    assert status == expected, f"{action} answered {status}, the rules say {expected}"
    accepted = status == ACCEPTED[action]
    offered = page_status == 200 and marker(world, key, action) in html
    assert offered == accepted, (
        f"the page {'offers' if offered else 'does not offer'} {action}; the API answers {status}"
    )
    if accepted:
        assert snapshot(case) != before, "an accepted change changed nothing"
        return
    assert snapshot(case) == before, "a refused change changed the case"
    if status == 403:
        assert events(DENIED, target_type="permission") == denied_permission + 1
    elif status == 404:
        assert events(DENIED, target_id=str(case.pk)) == denied_case + 1
    else:
        assert events(REFUSED, target_id=str(case.pk)) == refused + 1


def edit_page_cases() -> Iterator[Any]:
    for shape in SHAPES:
        for person in PEOPLE:
            marks = known(shape.key, person.key, "edit-page")
            yield pytest.param(shape.key, person.key, id=f"{shape.key}-{person.key}", marks=marks)


@pytest.mark.parametrize(("key", "who"), list(edit_page_cases()))
def test_the_edit_page_offers_its_form_exactly_when_an_edit_is_accepted(world, key, who):
    case = world.cases[key]
    expected = change_status(PERSON[who], SHAPE[key], "edit")
    response = world.clients[who].get(reverse("cases:edit", kwargs={"case_id": case.pk}))
    if expected in (403, 404):
        assert response.status_code == expected
        return
    offered = response.status_code == 200 and 'data-testid="case-form"' in response.content.decode()
    assert offered == (expected == ACCEPTED["edit"]), f"the rules say {expected}"


def test_the_matrix_accepts_and_refuses_every_change_for_each_reason():
    """Not vacuous: each change is accepted somewhere and refused for the
    role, for need-to-know, and (but status and team) for a closed case."""
    for action in ACTIONS:
        answers = {change_status(p, s, action) for s in SHAPES for p in PEOPLE}
        closed = {409} if action in CLOSED_REFUSES else set()
        assert answers == {ACCEPTED[action], 403, 404} | closed, action


# ---------------------------------------------------------------- correlation

NOTE = "Another case on this node holds this value; ask the central authority."


def holders(value: str) -> list[Shape]:
    return [shape for shape in SHAPES if value in shape.shared]


def correlation_cases() -> Iterator[Any]:
    for shape in SHAPES:
        for value in shape.shared:
            for person in PEOPLE:
                if may_open(person, shape):
                    yield pytest.param(
                        shape.key, value, person.key, id=f"{shape.key}-{value}-{person.key}"
                    )


def value_row(html: str, value: str) -> str:
    found = re.search(rf'<tr data-normal="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert found, f"no row for {value}"
    return found.group(1)


def expected_links(person: Person, key: str, value: str) -> tuple[list[Shape], list[Shape], bool]:
    """The other holders the viewer may open, those they may not, and
    whether the note is due (a holder they may list but not open)."""
    others = [s for s in holders(value) if s.key != key]
    opens = [s for s in others if may_open(person, s)]
    hidden = [s for s in others if not may_open(person, s)]
    return opens, hidden, any(listed(person, s) for s in hidden)


@pytest.mark.parametrize(("key", "value", "who"), list(correlation_cases()))
def test_a_shared_value_shows_the_other_cases_as_far_as_the_viewer_may_know_them(
    world, key, value, who
):
    """Docs/cases.md "Correlation": a case the viewer may open by reference,
    one they may only list as the note (once), a confidential one not at all."""
    opens, hidden, note = expected_links(PERSON[who], key, value)
    references_shown = {world.cases[s.key].reference for s in opens}
    status, html = world.page(detail_url(world, key), who)
    assert status == 200
    row = value_row(html, value)
    shown = set(re.findall(r'data-testid="correlation">([^<]+)</a>', row))
    assert shown == references_shown, "the references on the page"
    assert row.count('data-testid="hidden-correlation"') == int(note), "the note on the page"
    assert (NOTE in row) == note
    body = world.clients[who].get(f"{API}/{world.cases[key].pk}").json()
    links = next(o for o in body["observables"] if o["normal"] == value)["correlations"]
    assert {link["reference"] for link in links if not link["hidden"]} == references_shown
    assert [link for link in links if link["hidden"]] == (
        [{"hidden": True, "note": "another case on this node holds this value"}] if note else []
    ), "the API's note"
    text = json.dumps(body)
    for case in (world.cases[s.key] for s in hidden):
        for secret in (case.reference, str(case.pk), case.title):
            assert secret not in html, f"the page names {secret}"
            assert secret not in text, f"the API names {secret}"


def test_the_correlation_matrix_shows_each_kind_of_link():
    """Not vacuous: some viewer sees a reference, some only the note, and
    some a confidential holder not at all with no note to stand for it."""
    kinds: Counter[str] = Counter()
    for case in correlation_cases():
        key, value, who = case.values
        opens, hidden, note = expected_links(PERSON[who], key, value)
        kinds["reference"] += len(opens)
        kinds["note"] += note
        kinds["nothing at all"] += bool(hidden) and not note
    assert kinds["reference"] and kinds["note"] and kinds["nothing at all"], kinds
