"""A request filed under a case of this node (issue 12): through the page, the
API and the CLI; shown on the request page, in the list (the case's title)
and on the case's page, only to those who may open the case; searchable by
case; never sent to the partner. Filing needs both sides of need-to-know, and
a refusal changes nothing and is audited."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accord.assistance import casework, services, wire
from accord.assistance.models import AssistanceRequest
from accord.cases import services as cases
from accord.cases.models import Case
from accord.core import services as core_services
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent, User
from accord.core.roles import Role
from tests.assistance.arrivals import submitted
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db

REFUSED = AuditAction.REQUEST_ACTION_REFUSED.value
API = "/api/v1/assistance/requests"


@pytest.fixture
def peer(db):
    from tests.federation.test_inbox_rejections import RemotePeer

    return RemotePeer.create("yy.cases").peer


def actor(user: User) -> Actor:
    return Actor.of(user)


def new_case(user: User, title: str, *, confidential: bool = False) -> Case:
    return cases.create_case(
        actor(user),
        {"title": title, "title_language": "en", "categories": [], "confidential": confidential},
    )


@pytest.fixture
def colleague(db) -> User:
    """An investigator on the request's team but on no case's."""
    return core_services.create_user(
        Actor.system("test"), "colleague", Role.INVESTIGATOR, TEST_PASSWORD
    )


@pytest.fixture
def request_(users, peer, colleague) -> AssistanceRequest:
    request = submitted(users, peer)
    request.team.add(colleague)
    return request


def text(client, url: str) -> str:
    return client.get(url).content.decode()


def signed_in(client, user: User):
    client.force_login(user)
    return client


def test_the_author_files_a_request_under_her_case_and_everyone_allowed_sees_it(
    users, request_, client
) -> None:
    author = users[Role.INVESTIGATOR]
    case = new_case(author, "Phishing ring")
    signed_in(client, author)

    answer = client.post(f"/requests/{request_.pk}/case/", {"case": case.reference}, follow=True)

    assert answer.status_code == 200
    assert "Filed under case" in answer.content.decode()
    request_.refresh_from_db()
    assert request_.case == case
    event = AuditEvent.objects.filter(action=AuditAction.REQUEST_UPDATE.value).last()
    assert event.data["case"] == case.reference and event.data["changed"] == ["case"]
    # The request page, the API, the list (with the case's title) and the filter.
    assert case.reference in client.get(f"/requests/{request_.pk}/").content.decode()
    assert client.get(f"{API}/{request_.pk}").json()["case"]["reference"] == case.reference
    listing = client.get("/requests/").content.decode()
    assert "Phishing ring" in listing
    assert request_.reference in text(client, f"/requests/?case={case.reference}")
    other = new_case(author, "Another")
    assert request_.reference not in text(client, f"/requests/?case={other.reference}")
    filtered = client.get(API, {"case": case.reference}).json()["items"]
    assert [row["reference"] for row in filtered] == [request_.reference]
    # The case's page lists it.
    assert request_.reference in client.get(f"/cases/{case.pk}/").content.decode()
    # The central authority may open every case: it sees the filing too.
    central = users[Role.CENTRAL_AUTHORITY]
    assert casework.case_seen(central, request_) == case


def test_the_link_stays_on_this_node(users, request_) -> None:
    case = new_case(users[Role.INVESTIGATOR], "Local only")
    services.link_case(actor(users[Role.INVESTIGATOR]), request_, case)
    request_.refresh_from_db()
    view = wire.shared_view(request_)
    assert "case" not in view and case.reference not in str(view)
    assert case.reference not in wire.submit_body(request_).model_dump_json()


def test_a_case_the_user_may_not_open_is_neither_offered_nor_named(
    users, request_, colleague, client
) -> None:
    author = users[Role.INVESTIGATOR]
    secret = new_case(author, "Secret operation", confidential=True)
    services.link_case(actor(author), request_, secret)
    signed_in(client, colleague)

    page = client.get(f"/requests/{request_.pk}/").content.decode()
    assert "Secret operation" not in page and secret.reference not in page
    assert client.get(f"{API}/{request_.pk}").json()["case"] is None
    assert "Secret operation" not in client.get("/requests/").content.decode()
    assert client.get(API, {"case": secret.reference}).json()["items"] == []
    assert (
        request_.reference not in client.get(f"/requests/?case={secret.reference}").content.decode()
    )


def test_filing_under_a_case_one_may_not_open_is_refused_and_changes_nothing(
    users, request_, colleague, client
) -> None:
    secret = new_case(users[Role.INVESTIGATOR], "Secret", confidential=True)
    signed_in(client, colleague)

    body = {"case": secret.reference}
    answer = client.post(f"{API}/{request_.pk}/case", body, "application/json")

    assert answer.status_code == 422
    assert f"No case {secret.reference} that you may open" in answer.text
    request_.refresh_from_db()
    assert request_.case is None


def test_leaving_a_case_needs_that_case_too(users, request_, colleague) -> None:
    author = users[Role.INVESTIGATOR]
    secret = new_case(author, "Secret", confidential=True)
    services.link_case(actor(author), request_, secret)
    own = new_case(colleague, "Mine")
    before = AuditEvent.objects.filter(action=REFUSED).count()

    with pytest.raises(services.TransitionRefused):
        services.link_case(actor(colleague), request_, own)
    with pytest.raises(services.TransitionRefused):
        services.link_case(actor(colleague), request_, None)

    request_.refresh_from_db()
    assert request_.case == secret
    assert AuditEvent.objects.filter(action=REFUSED).count() == before + 2


def test_read_only_roles_and_outsiders_cannot_file(users, request_, peer) -> None:
    case = new_case(users[Role.INVESTIGATOR], "Case")
    # The auditor sees the request and every case, but changes no case.
    with pytest.raises(services.TransitionRefused):
        services.link_case(actor(users[Role.AUDITOR]), request_, case)
    # Someone who may open the case but not the request.
    outsider = core_services.create_user(
        Actor.system("test"), "outsider", Role.INVESTIGATOR, TEST_PASSWORD
    )
    cases.add_member(actor(users[Role.INVESTIGATOR]), case, outsider)
    with pytest.raises(services.TransitionRefused):
        services.link_case(actor(outsider), request_, case)
    request_.refresh_from_db()
    assert request_.case is None


def test_the_command_line_files_and_unfiles(users, request_) -> None:
    author = users[Role.INVESTIGATOR]
    case = new_case(author, "By command")
    out = StringIO()
    call_command(
        "requests", "case", request_.reference, case.reference, "--as", author.username, stdout=out
    )
    assert f"filed under {case.reference}" in out.getvalue()
    request_.refresh_from_db()
    assert request_.case == case
    call_command("requests", "case", request_.reference, "--as", author.username, stdout=out)
    request_.refresh_from_db()
    assert request_.case is None
