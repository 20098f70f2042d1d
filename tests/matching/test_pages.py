"""The hit/no-hit pages in one process: the case page's card and the
/matching/ page, in English and Chinese; each form offered exactly when the
policy would accept it; every post goes through the services and says what
happened. (Two nodes in a browser: tests/e2e/test_matching.py.)"""

from __future__ import annotations

import base64
import os

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from uuid6 import uuid7

from accord.assistance.models import AssistanceRequest
from accord.cases import services as case_services
from accord.cases.models import Case
from accord.core.audit import Actor
from accord.core.models import User
from accord.federation.models import Peer
from accord.matching import policy as matching_policy
from accord.matching import queries as matching_queries
from accord.matching import services as matching_services
from accord.matching import views as matching_views
from accord.matching.models import Direction, Hit, MatchingPolicy, Query, QueryStatus
from tests.cases.world import make_people, open_case
from tests.matching.hits import answered_hit

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db) -> dict[str, User]:
    return make_people()


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="us.match",
        url="http://127.0.0.1:9/",
        party="United States",
        agency="Department of Justice",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


@pytest.fixture
def case(people) -> Case:
    case = open_case(people["author"], "Phishing kit sold on a forum")
    author = Actor.of(people["author"])
    case_services.add_observable(author, case, "domain", "login-bank.example")
    case_services.add_observable(author, case, "email", "seller@mail.example")
    return case


def client_of(user: User, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def page_of(user: User, url: str, language: str = "en") -> str:
    response = client_of(user, language).get(url)
    assert response.status_code == 200
    return response.content.decode()


def case_url(case: Case) -> str:
    return reverse("cases:detail", kwargs={"case_id": case.pk})


def answered_with_a_hit(case: Case, peer: Peer, user: User) -> Hit:
    """What an answer from `peer` leaves behind: an answered query, one hit."""
    reference = f"{peer.node_id}/{'ab' * 8}/{'cd' * 16}"
    return answered_hit(
        case,
        peer,
        reference,
        purpose="Identify the seller",
        created_by=user,
        answered_at=timezone.now(),
    )


def incoming_query(peer: Peer, status: str = QueryStatus.AWAITING_APPROVAL) -> Query:
    return Query.objects.create(
        id=uuid7(),
        direction=Direction.IN,
        peer=peer,
        case_reference="US-2026-0042",
        purpose="Fraud investigation: check the sellers' addresses",
        code="email",
        count=3,
        status=status,
        created_at=timezone.now(),
    )


def test_the_case_card_offers_the_form_to_the_team_in_both_languages(people, peer, case):
    english = page_of(people["author"], case_url(case))
    assert "Hit/no-hit with partner nodes" in english
    assert 'data-testid="ask-form"' in english
    for observable in case.observables.all():
        assert f'name="observable" value="{observable.pk}" checked' in english
    assert 'name="peer" value="us.match"' in english
    assert 'name="purpose"' in english and "required" in english
    chinese = page_of(people["author"], case_url(case), "zh-hans")
    assert "与伙伴节点进行命中/未命中比对" in chinese
    assert "向伙伴节点查询" in chinese


def test_the_card_is_shown_only_to_who_may_run_hit_no_hit(people, peer, case):
    # Prosecutors and auditors read cases but run no checks: no card at all.
    case_services.add_member(Actor.of(people["author"]), case, people["prosecutor"])
    for who in ("prosecutor", "auditor"):
        assert 'data-testid="matching"' not in page_of(people[who], case_url(case))
    # The central authority may open every case, and so may ask about it.
    assert 'data-testid="ask-form"' in page_of(people["central"], case_url(case))
    # The rule is the policy's (CARD), which the page asks: run checks and
    # open the case. An investigator off the team gets no card from it.
    assert matching_policy.allowed(people["author"], matching_policy.CARD, case) is None
    for who in ("prosecutor", "auditor", "outsider", "admin"):
        refusal = matching_policy.allowed(people[who], matching_policy.CARD, case)
        assert refusal is not None and refusal.status == 403, who
        assert matching_views.case_card(people[who], case, []) is None, who


def test_only_the_central_authority_reads_what_each_partner_may_ask(people, peer):
    central = Actor.of(people["central"])
    matching_services.set_policy(
        central, peer, types=["domain"], max_values=10, per_day=100, needs_approval=False
    )
    for who, user in people.items():
        may = who == "central"
        assert bool(matching_queries.policies(user)) == may, who
        response = client_of(user).get("/api/v1/matching/policies")
        assert response.status_code == (200 if may else 403), who
    rows = client_of(people["central"]).get("/api/v1/matching/policies").json()
    assert [(r["peer"], r["policy"]["types"]) for r in rows] == [("us.match", ["domain"])]


def test_asking_goes_through_the_service_and_says_so(people, peer, case):
    ids = [str(pk) for pk in case.observables.values_list("pk", flat=True)]
    response = client_of(people["author"]).post(
        reverse("matching:ask", kwargs={"case_id": case.pk}),
        {"peer": ["us.match"], "observable": ids, "purpose": "Identify the seller"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == case_url(case)
    html = response.content.decode()
    assert "Asked. The answers appear here when the partner nodes reply." in html
    asked = Query.objects.filter(case=case, direction=Direction.OUT)
    assert {q.code for q in asked} == {"domain", "email"}
    assert all(q.status == QueryStatus.ASKED and q.peer == peer for q in asked)
    assert f'data-query="{asked[0].pk}" data-status="asked"' in html


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"observable": ["1"], "purpose": "p"}, "Choose at least one active partner node."),
        ({"peer": ["us.match"], "purpose": "p"}, "Choose at least one value to check."),
        ({"peer": ["elsewhere.test"], "purpose": "p"}, "Choose at least one active partner node."),
    ],
)
def test_an_incomplete_question_is_refused_with_a_message(people, peer, case, post, message):
    response = client_of(people["author"]).post(
        reverse("matching:ask", kwargs={"case_id": case.pk}), post, follow=True
    )
    assert message in response.content.decode()
    assert not Query.objects.exists()


def test_a_question_without_a_purpose_is_refused_by_the_service(people, peer, case):
    ids = [str(pk) for pk in case.observables.values_list("pk", flat=True)]
    response = client_of(people["author"]).post(
        reverse("matching:ask", kwargs={"case_id": case.pk}),
        {"peer": ["us.match"], "observable": ids, "purpose": "  "},
        follow=True,
    )
    assert 'class="message error"' in response.content.decode()
    assert not Query.objects.exists()


def test_someone_off_a_confidential_case_cannot_ask_about_it(people, peer):
    secret = open_case(people["author"], "Insider", confidential=True)
    response = client_of(people["outsider"]).post(
        reverse("matching:ask", kwargs={"case_id": secret.pk}),
        {"peer": ["us.match"], "purpose": "p"},
    )
    assert response.status_code == 404
    assert not Query.objects.exists()


def test_a_hit_is_shown_and_its_details_are_drafted_as_a_request(people, peer, case):
    hit = answered_with_a_hit(case, peer, people["author"])
    html = page_of(people["author"], case_url(case))
    assert hit.reference in html and "login-bank.example" in html
    assert 'data-status="answered"' in html and "answered: 1 hit" in html
    assert 'data-testid="request-details"' in html
    assert "已答复：1 个命中" in page_of(people["author"], case_url(case), "zh-hans")
    # Need-to-know: an officer off the case sees neither the hit nor its case.
    outsider = client_of(people["outsider"])
    details = reverse("matching:details", kwargs={"case_id": case.pk, "hit_id": hit.pk})
    assert outsider.post(details).status_code == 404

    response = client_of(people["author"]).post(details, follow=True)
    drafted = AssistanceRequest.objects.get()
    edit = reverse("assistance:edit", kwargs={"request_id": drafted.pk})
    assert response.redirect_chain[-1][0] == edit
    assert drafted.peer == peer and drafted.state == "draft"
    assert f"Draft request {drafted.reference} prepared from the hit" in response.content.decode()


def test_the_request_drafted_from_a_hit_links_back_to_it(people, peer, case):
    hit = answered_with_a_hit(case, peer, people["author"])
    details = reverse("matching:details", kwargs={"case_id": case.pk, "hit_id": hit.pk})
    client_of(people["author"]).post(details)
    drafted = AssistanceRequest.objects.get()
    hit.refresh_from_db()
    assert hit.request == drafted
    request_url = reverse("assistance:detail", kwargs={"request_id": drafted.pk})
    html = page_of(people["author"], request_url)
    back = f'href="{case_url(case)}#hit-{hit.pk}"'
    assert 'data-testid="request-hit"' in html and back in html and hit.reference in html
    assert f'id="hit-{hit.pk}"' in page_of(people["author"], case_url(case))
    assert "根据命中起草自" in page_of(people["author"], request_url, "zh-hans")
    # The request deleted, the hit no longer names it (and no longer counts as followed up).
    AssistanceRequest.objects.filter(pk=drafted.pk).delete()
    hit.refresh_from_db()
    assert hit.request is None


def test_the_matching_page_renders_in_both_languages(people, peer):
    english = page_of(people["central"], reverse("matching:home"))
    for heading in ("Incoming queries", "Outgoing queries", "What each partner node may ask"):
        assert heading in english
    assert 'data-peer="us.match"' in english
    chinese = page_of(people["central"], reverse("matching:home"), "zh-hans")
    for heading in ("收到的查询", "发出的查询", "各伙伴节点可查询的内容"):
        assert heading in chinese
    # An investigator decides nothing: their own queries only.
    mine = page_of(people["author"], reverse("matching:home"), "zh-hans")
    assert "发出的查询" in mine and "收到的查询" not in mine and 'data-peer="us.match"' not in mine


def test_only_the_central_authority_is_offered_the_policy_form(people, peer):
    assert "policy-form-us.match" not in page_of(people["author"], reverse("matching:home"))
    assert "policy-form-us.match" in page_of(people["central"], reverse("matching:home"))
    nav = page_of(people["author"], reverse("web:dashboard"))
    assert f'href="{reverse("matching:home")}" data-area="matching"' in nav
    assert 'data-area="matching"' not in page_of(people["prosecutor"], reverse("web:dashboard"))


def test_the_central_authority_sets_what_a_peer_may_ask(people, peer):
    response = client_of(people["central"]).post(
        reverse("matching:policy", kwargs={"node_id": "us.match"}),
        {
            "types": ["email", "domain"],
            "max_values": "50",
            "per_day": "500",
            "needs_approval": "on",
        },
        follow=True,
    )
    assert "What us.match may ask is saved." in response.content.decode()
    rule = MatchingPolicy.objects.get(peer=peer)
    assert (set(rule.types), rule.max_values, rule.per_day, rule.needs_approval) == (
        {"email", "domain"},
        50,
        500,
        True,
    )
    again = page_of(people["central"], reverse("matching:home"))
    assert 'value="email" checked' in again and 'value="50"' in again


def test_a_policy_with_a_bad_number_is_refused_with_a_message(people, peer):
    response = client_of(people["central"]).post(
        reverse("matching:policy", kwargs={"node_id": "us.match"}),
        {"types": ["email"], "max_values": "many", "per_day": "5"},
        follow=True,
    )
    assert "Most values per query: enter a whole number." in response.content.decode()
    assert not MatchingPolicy.objects.exists()


def test_an_incoming_query_is_declined_by_the_central_authority(people, peer):
    query = incoming_query(peer)
    ca_page = page_of(people["central"], reverse("matching:home"))
    assert "US-2026-0042" in ca_page and 'data-testid="decline-form"' in ca_page
    assert 'data-testid="approve-form"' in ca_page
    # Not for an investigator: the decision is the central authority's.
    assert 'data-testid="decline-form"' not in page_of(people["author"], reverse("matching:home"))
    refused = client_of(people["author"]).post(
        reverse("matching:decline", kwargs={"query_id": query.pk}), {"reason": "no"}
    )
    assert refused.status_code == 403
    response = client_of(people["central"]).post(
        reverse("matching:decline", kwargs={"query_id": query.pk}),
        {"reason": "Outside the agreed purposes"},
        follow=True,
    )
    assert "Declined: the asking node is told why." in response.content.decode()
    query.refresh_from_db()
    assert query.status == QueryStatus.DECLINED and query.decided_by == people["central"]
    # Decided: no form is offered any more.
    assert 'data-testid="decline-form"' not in page_of(people["central"], reverse("matching:home"))


def test_a_decided_query_cannot_be_approved_again(people, peer):
    query = incoming_query(peer, QueryStatus.DECLINED)
    response = client_of(people["central"]).post(
        reverse("matching:approve", kwargs={"query_id": query.pk}), follow=True
    )
    assert 'class="message error"' in response.content.decode()
    query.refresh_from_db()
    assert query.status == QueryStatus.DECLINED


def test_who_is_not_offered_the_form_is_refused_when_posting_anyway(people, peer, case):
    ids = [str(pk) for pk in case.observables.values_list("pk", flat=True)]
    response = client_of(people["prosecutor"]).post(
        reverse("matching:ask", kwargs={"case_id": case.pk}),
        {"peer": ["us.match"], "observable": ids, "purpose": "p"},
    )
    assert response.status_code == 403
    assert not Query.objects.exists()
