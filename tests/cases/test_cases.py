"""The rules of cases through the service functions and the CLI: who may
open, read and change a case, what is refused (audited, nothing changed),
need-to-know across lists, search and counts, and references allocated
without a race."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accord.cases import queries, services
from accord.cases.models import Case, CaseStatus, Observable
from accord.core.audit import Actor, AuditAction
from tests.cases.world import events, make_people, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def case(people):
    case = open_case(people["author"])
    services.add_member(Actor.of(people["author"]), case, people["mate"])
    return case


def as_(user) -> Actor:
    return Actor.of(user)


def test_a_case_gets_a_node_reference_and_its_author_on_the_team(people):
    case = open_case(people["author"])
    assert case.reference.startswith("XX.TEST-C-") and case.reference.endswith("-0001")
    assert open_case(people["author"]).reference.endswith("-0002")
    assert list(case.team.all()) == [people["author"]]
    assert case.status == CaseStatus.OPEN
    assert events(AuditAction.CASE_CREATE, target_id=str(case.pk)) == 1


@pytest.mark.parametrize("who", ["central", "auditor", "admin"])
def test_those_who_read_cases_or_none_may_not_open_one(people, who):
    before = Case.objects.count()
    denied = events(AuditAction.ACCESS_DENIED)
    with pytest.raises(PermissionDenied):
        open_case(people[who])
    assert Case.objects.count() == before
    assert events(AuditAction.ACCESS_DENIED) == denied + 1


def test_an_unknown_offence_category_is_refused_by_name(people):
    with pytest.raises(Exception, match="nonsense"):
        open_case(people["author"], categories=["nonsense"])
    assert not Case.objects.exists()


def test_a_value_that_does_not_parse_is_refused_with_its_reason_and_nothing_stored(people, case):
    refused = events(AuditAction.CASE_REFUSED, target_id=str(case.pk))
    with pytest.raises(services.CaseRefused) as caught:
        services.add_observable(as_(people["author"]), case, "ipv4", "300.1.1.1")
    assert caught.value.status == 422 and caught.value.message
    assert not Observable.objects.exists()
    assert events(AuditAction.CASE_REFUSED, target_id=str(case.pk)) == refused + 1


def test_a_value_is_stored_once_in_its_normal_form(people, case):
    row = services.add_observable(as_(people["mate"]), case, "domain", "Example.COM")
    assert (row.code, row.normal, row.display) == ("domain", "example.com", "Example.COM")
    with pytest.raises(services.CaseRefused) as caught:
        services.add_observable(as_(people["author"]), case, "domain", "example.com")
    assert caught.value.status == 409
    assert Observable.objects.count() == 1
    assert events(AuditAction.OBSERVABLE_ADD, target_id=str(case.pk)) == 1


@pytest.mark.parametrize("who", ["outsider", "prosecutor"])
def test_someone_off_the_team_changes_nothing_and_the_refusal_is_audited(people, case, who):
    actor = as_(people[who])
    attempts = [
        lambda: services.add_observable(actor, case, "domain", "example.com"),
        lambda: services.update_case(actor, case, {"title": "Mine", "title_language": "en"}),
        lambda: services.change_status(actor, case, CaseStatus.CLOSED),
        lambda: services.add_member(actor, case, people[who]),
        lambda: services.add_subject(actor, case, {"kind": "organisation", "display_name": "X"}),
    ]
    for attempt in attempts:
        refused = events(AuditAction.CASE_REFUSED, target_id=str(case.pk))
        with pytest.raises(services.CaseRefused) as caught:
            attempt()
        assert caught.value.status == 403
        assert events(AuditAction.CASE_REFUSED, target_id=str(case.pk)) == refused + 1
    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.title, fresh.status, fresh.team.count()) == (case.title, "open", 2)
    assert not fresh.observables.exists() and not fresh.subjects.exists()


def test_a_closed_case_takes_nothing_new_until_it_is_reopened(people, case):
    author = as_(people["author"])
    services.change_status(author, case, CaseStatus.CLOSED)
    with pytest.raises(services.CaseRefused) as caught:
        services.add_observable(author, case, "domain", "example.com")
    assert caught.value.status == 409
    with pytest.raises(services.CaseRefused):
        services.change_status(author, case, CaseStatus.CLOSED)
    services.change_status(author, case, CaseStatus.OPEN)
    services.add_observable(author, case, "domain", "example.com")
    assert events(AuditAction.CASE_STATUS, target_id=str(case.pk)) == 2


def test_a_person_with_a_birth_date_and_a_document_stand_in_the_observables(people, case):
    subject = services.add_subject(
        as_(people["author"]),
        case,
        {
            "kind": "person",
            "family_name": "Guo",
            "given_name": "Shengkun",
            "birth_date": "1954-10-01",
            "documents": [{"code": "passport", "value": "E12345678", "country": "CN"}],
        },
    )
    codes = sorted(subject.observables.values_list("code", flat=True))
    assert codes == ["passport", "person"]
    assert subject.display_name == "Guo Shengkun"
    assert events(AuditAction.SUBJECT_ADD, target_id=str(case.pk)) == 1


def test_a_subject_whose_document_does_not_parse_is_not_stored(people, case):
    with pytest.raises(services.CaseRefused):
        services.add_subject(
            as_(people["author"]),
            case,
            {"kind": "person", "display_name": "A", "documents": [{"code": "ipv4", "value": "x"}]},
        )
    assert not case.subjects.exists() and not case.observables.exists()


def test_a_team_member_removes_an_observable(people, case):
    row = services.add_observable(as_(people["author"]), case, "domain", "example.com")
    services.remove_observable(as_(people["mate"]), case, row.pk)
    assert not case.observables.exists()
    assert events(AuditAction.OBSERVABLE_REMOVE, target_id=str(case.pk)) == 1


# ---------------------------------------------------------------- need-to-know


def test_every_read_is_audited_and_a_read_off_the_team_is_refused(people, case):
    for who in ("author", "mate", "central", "auditor"):
        assert queries.open_case(as_(people[who]), case.pk) == case
    assert events(AuditAction.CASE_READ, target_id=str(case.pk)) == 4
    with pytest.raises(Case.DoesNotExist):
        queries.open_case(as_(people["outsider"]), case.pk)
    assert events(AuditAction.ACCESS_DENIED, target_id=str(case.pk)) == 1


def test_a_confidential_case_stays_out_of_lists_search_and_counts_off_its_team(people):
    secret = open_case(people["author"], title="Covert source", confidential=True)
    plain = open_case(people["author"], title="Open matter")
    services.add_observable(as_(people["author"]), secret, "domain", "hidden.example")

    def listed(who: str, search: str = "") -> set[str]:
        rows = queries.list_cases(as_(people[who]), queries.Filters(search=search))
        return set(rows.values_list("reference", flat=True))

    everything = {secret.reference, plain.reference}
    for who in ("author", "central", "auditor"):
        assert listed(who) == everything
        assert listed(who, "HIDDEN.example.") == {secret.reference}
        assert queries.count_by_status(as_(people[who])) == {"open": 2}
    for who in ("outsider", "mate", "prosecutor"):
        assert listed(who) == {plain.reference}
        assert listed(who, "hidden.example") == set()
        assert listed(who, secret.reference) == set()
        assert queries.count_by_status(as_(people[who])) == {"open": 1}
    with pytest.raises(PermissionDenied):
        queries.list_cases(as_(people["admin"]), queries.Filters())


def test_what_a_listed_case_holds_does_not_change_what_an_outsider_finds(people):
    """Issue 14, finding 3: an oracle. The outsider lists the case but may not
    open it; adding the values searched for to it changes nothing they see."""
    plain = open_case(people["author"], title="Open matter")
    searches = ("hidden.example", "203.0.113.9", "Open matter", plain.reference)

    def found() -> list[list[str]]:
        actor = as_(people["outsider"])
        return [
            sorted(
                queries.list_cases(actor, queries.Filters(search=q)).values_list(
                    "reference", flat=True
                )
            )
            for q in searches
        ]

    before = found()
    services.add_observable(as_(people["author"]), plain, "domain", "hidden.example")
    services.add_observable(as_(people["author"]), plain, "ipv4", "203.0.113.9")
    assert found() == before == [[], [], [plain.reference], [plain.reference]]
    author = queries.list_cases(as_(people["author"]), queries.Filters(search="hidden.example"))
    assert list(author.values_list("reference", flat=True)) == [plain.reference]


def test_the_cli_lists_and_shows_on_need_to_know(people):
    secret = open_case(people["author"], title="Covert source", confidential=True)
    out = StringIO()
    call_command("cases", "list", "--as", "case-outsider", stdout=out)
    assert secret.reference not in out.getvalue()
    with pytest.raises(CommandError):
        call_command("cases", "show", secret.reference, "--as", "case-outsider")
    out = StringIO()
    call_command("cases", "show", secret.reference, "--as", "case-author", stdout=out)
    assert "Covert source" in out.getvalue()
    assert events(AuditAction.CASE_READ, target_id=str(secret.pk)) == 1


def test_the_cli_opens_a_case_and_adds_observables_as_a_named_user(people):
    out = StringIO()
    call_command(
        "cases", "create", "Phishing wave", "--category", "fraud", "--as", "case-author", stdout=out
    )
    reference = out.getvalue().split()[0]
    call_command("cases", "observe", reference, "email", "Boss@Example.COM", "--as", "case-author")
    case = Case.objects.get(reference=reference)
    assert case.observables.get().normal.endswith("@example.com")
    with pytest.raises(CommandError):
        call_command("cases", "observe", reference, "ipv4", "1.2.3.4", "--as", "case-outsider")
    call_command("cases", "team", reference, "case-mate", "--as", "case-author")
    assert case.team.filter(username="case-mate").exists()


# ---------------------------------------------------------------- references


@pytest.mark.django_db(transaction=True)
def test_cases_opened_at_the_same_moment_get_distinct_references():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: PostgreSQL (SQLite serialises at BEGIN)")
    author = make_people()["author"]
    references: list[object] = []
    for _round in range(10):
        start = threading.Barrier(2)
        results: list[object] = [None, None]

        def run(index: int, start=start, results=results) -> None:
            try:
                start.wait(30)
                results[index] = open_case(author).reference
            except Exception as exc:  # reported below, never swallowed
                results[index] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(t.is_alive() for t in threads), "a writer never finished"
        assert not [r for r in results if isinstance(r, Exception)], results
        references.extend(results)
    assert len(set(references)) == 20 == Case.objects.count()
