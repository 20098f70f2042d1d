"""Search and filters on the request list use only what the user may read
(issue 14, finding 3). An investigator off a request's team sees it listed
(reference, type, state) but may not open it: whatever its summary,
requesting authority and offences say, the rows and counts that user gets
must be the same. The test is an oracle: it rewrites the hidden fields to
match every query and checks that nothing the outsider sees changed."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accord.core.roles import Role
from tests.assistance.stored import stored_request
from tests.objects import make_partner

pytestmark = pytest.mark.django_db

API = "/api/v1/assistance/requests"
SECRET = "Wallet bc1q-7QX"
QUERIES = [
    {"q": "wallet"},
    {"q": "7QX"},
    {"q": "Secret Unit"},
    {"q": "Cyber"},
    {"topic": "fraud"},
    {"topic": "narcotics"},
    {"q": "SRCH"},
]


def offence(category: str) -> dict:
    return {"label": category, "statute": "-", "max_penalty_years": 5, "category": category}


def seen(client, params: dict) -> tuple:
    """What the user learns from a query: the rows and count of the API, the
    rows of the page."""
    api = client.get(API, {**params, "limit": 1000}).json()
    page = client.get(reverse("assistance:list"), params).content.decode()
    rows = sorted(re.findall(r'data-reference="([^"]+)"', page))
    return sorted(i["reference"] for i in api["items"]), api["count"], rows


@pytest.fixture
def hidden(users):
    """A request the investigator may list but not open (the prosecutor's),
    and one the investigator drafted and may open."""
    peer = make_partner()
    mine = stored_request(peer, "SRCH-MINE", created_by=users[Role.INVESTIGATOR])
    theirs = stored_request(
        peer, "SRCH-THEIRS", created_by=users[Role.PROSECUTOR], offences=[offence("narcotics")]
    )
    return mine, theirs


def test_the_hidden_fields_of_a_request_do_not_change_what_an_outsider_finds(hidden, client_for):
    _mine, theirs = hidden
    outsider = client_for(Role.INVESTIGATOR)
    before = {str(q): seen(outsider, q) for q in QUERIES}
    assert before[str({"q": "SRCH"})][0] == ["SRCH-MINE", "SRCH-THEIRS"]  # both listed
    theirs.summary = f"{SECRET} held by the suspect"
    theirs.requesting_authority = "Secret Unit"
    theirs.offences = [offence("fraud")]
    theirs.save()
    after = {str(q): seen(outsider, q) for q in QUERIES}
    assert after == before


def test_those_who_may_open_a_request_find_it_by_its_content(hidden, client_for):
    _mine, theirs = hidden
    theirs.summary = f"{SECRET} held by the suspect"
    theirs.offences = [offence("fraud")]
    theirs.save()
    for role in (Role.PROSECUTOR, Role.CENTRAL_AUTHORITY, Role.AUDITOR):
        client = client_for(role)
        assert seen(client, {"q": "7qx"}) == (["SRCH-THEIRS"], 1, ["SRCH-THEIRS"]), role
        assert seen(client, {"topic": "fraud"}) == (["SRCH-THEIRS"], 1, ["SRCH-THEIRS"]), role
