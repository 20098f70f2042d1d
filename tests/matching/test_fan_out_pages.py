"""Hit/no-hit fan-out in one process: the case page's "Ask every partner the
policy allows" asks each partner of the other side (its own query each, one
ask), never an agency of this node's own party, which the form does not offer
and the service refuses, audited; the results read per agency, and a hit
names the agency that holds the match. (Three live nodes: test_fan_out.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.federation.models import Peer
from accord.matching import policy, services
from accord.matching.models import Direction, Query, QueryStatus
from accord.matching.policy import MatchingRefused
from tests.matching.test_pages import case, client_of, people  # noqa: F401 (fixtures)
from tests.peers import pinned_peer

pytestmark = pytest.mark.django_db


def make_peer(node_id: str, party: str, agency: str) -> Peer:
    peer = pinned_peer(node_id)
    peer.party, peer.agency = party, agency
    peer.save(update_fields=["party", "agency"])
    return peer


@pytest.fixture
def partners(db) -> dict[str, Peer]:
    return {
        "doj": make_peer("us.doj", "United States", "Department of Justice"),
        "dhs": make_peer("us.dhs", "United States", "Department of Homeland Security"),
        "own": make_peer("xx.other", this_node().party, "Another Agency"),
    }


def test_ask_every_partner_the_policy_allows_from_the_case_page(people, case, partners):  # noqa: F811
    author = people["author"]
    assert [p.node_id for p in policy.askable(author)] == ["us.dhs", "us.doj"]
    url = reverse("cases:detail", kwargs={"case_id": case.pk})
    page = client_of(author).get(url).content.decode()
    assert 'data-testid="ask-all"' in page
    assert 'data-testid="ask-peer-us.dhs"' in page
    assert 'data-testid="ask-peer-xx.other"' not in page

    ids = [str(pk) for pk in case.observables.values_list("pk", flat=True)]
    response = client_of(author).post(
        reverse("matching:ask", kwargs={"case_id": case.pk}),
        {"to": "all", "observable": ids, "purpose": "Identify the seller"},
        follow=True,
    )
    assert response.status_code == 200
    asked = list(Query.objects.filter(case=case, direction=Direction.OUT))
    assert {(q.peer.node_id, q.code) for q in asked} == {
        (node, code) for node in ("us.doj", "us.dhs") for code in ("domain", "email")
    }
    assert len({q.ask for q in asked}) == 1

    # us.dhs answers a hit, us.doj no hit for one type and nothing yet for the other.
    dhs = [q for q in asked if q.peer.node_id == "us.dhs"]
    doj = [q for q in asked if q.peer.node_id == "us.doj"]
    Query.objects.filter(pk__in=[q.pk for q in dhs]).update(status=QueryStatus.ANSWERED)
    Query.objects.filter(pk=dhs[0].pk).update(hits=1)
    Query.objects.filter(pk=doj[0].pk).update(status=QueryStatus.ANSWERED)
    html = client_of(author).get(url).content.decode()
    assert 'data-peer="us.dhs" data-result="hit"' in html
    assert 'data-peer="us.doj" data-result="waiting"' in html
    assert "Department of Homeland Security (United States)" in html
    Query.objects.filter(pk=doj[1].pk).update(status=QueryStatus.REFUSED, refusal="no_policy")
    view = client_of(author).get(f"/api/v1/matching/cases/{case.pk}").json()
    [ask] = view["asks"]
    results = {row["node_id"]: (row["result"], row["hits"]) for row in ask["agencies"]}
    assert results == {"us.dhs": ("hit", 1), "us.doj": ("refused", 0)}


def test_an_agency_of_the_own_party_is_refused_and_audited(people, case, partners):  # noqa: F811
    actor = Actor.of(people["author"])
    with pytest.raises(MatchingRefused, match="own party"):
        services.ask(actor, case, [partners["dhs"], partners["own"]], "Identify the seller")
    assert not Query.objects.exists()
    refused = AuditEvent.objects.filter(action="matching:action:refused")
    assert refused.filter(target_id=str(partners["own"].pk)).exists()
    response = client_of(people["author"]).post(
        f"/api/v1/matching/cases/{case.pk}/queries",
        data={"peers": ["xx.other"], "purpose": "p"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Query.objects.exists()
