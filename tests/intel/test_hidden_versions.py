"""A partner tool learns nothing about a version it may not read, and what
it writes is never dropped (issue 14, finding 7). Posting an object with the
id and version of a hidden TLP:RED one is answered, read back and posted
again exactly as an object nobody held; the partner's copy is kept beside the
hidden one (docs/intel.md 5.3). The test is an oracle: the partner's view of
a collision equals its view of a fresh id."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from accord.core.audit import AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.intel.models import StixObject
from tests.intel.inprocess import Partner, imported, indicator, make_partner

pytestmark = pytest.mark.django_db
WHEN = {"created": "2025-03-01T00:00:00.000Z", "modified": "2025-03-02T00:00:00.000Z"}


def probe(partner: Partner, obj: dict) -> tuple:
    """Everything the partner learns by posting `obj`, reading it, posting it again."""
    first = partner.post(obj)["successes"]
    read = partner.get(f"{partner.objects_url}{obj['id']}/")
    served = read.json().get("objects") if read.status_code == 200 else None
    again = partner.post(obj)["successes"]
    versions = partner.get(f"{partner.objects_url}{obj['id']}/versions/").json()["versions"]
    assert versions == [s["version"] for s in first]
    return [s["message"] for s in first], read.status_code, served, [s["message"] for s in again]


def test_a_hidden_version_answers_as_if_nobody_held_it_and_the_partner_keeps_its_own(
    client_for,
):
    partner = make_partner()
    secret = indicator("192.0.2.66", red=True, id=f"indicator--{uuid.uuid4()}", **WHEN)
    imported(partner.collection, secret)
    mine = indicator("198.51.100.66", id=secret["id"], **WHEN)  # same id and version
    fresh = indicator("198.51.100.66", id=f"indicator--{uuid.uuid4()}", **WHEN)
    collided, clean = probe(partner, mine), probe(partner, fresh)
    assert collided == (["stored"], 200, [mine], ["already stored"])
    assert clean == (["stored"], 200, [fresh], ["already stored"])
    # Both versions are kept: the analysts' own, and the partner's beside it.
    kept = StixObject.objects.filter(stix_id=secret["id"]).order_by("twin")
    assert [json.loads(row.body) for row in kept] == [secret, mine]
    page = client_for(Role.ANALYST).get(reverse("intel:object", args=[kept[0].pk]))
    assert page.content.decode().count('data-testid="twin"') == 1
    ingest = AuditEvent.objects.filter(action=str(AuditAction.INTEL_INGEST)).order_by("seq")
    assert [e.data["beside_hidden"] for e in ingest][-4:] == [1, 0, 0, 0]


def test_a_hidden_newer_version_is_not_called_already_stored():
    partner = make_partner()
    ident = f"indicator--{uuid.uuid4()}"
    older = indicator("192.0.2.70", id=ident, created=WHEN["created"], modified=WHEN["created"])
    newer = indicator("192.0.2.70", red=True, id=ident, **WHEN)
    imported(partner.collection, older, newer)
    mine = indicator("198.51.100.70", id=ident, **WHEN)
    assert [s["message"] for s in partner.post(mine)["successes"]] == ["stored"]
    served = partner.get(f"{partner.objects_url}{ident}/", **{"match[version]": "all"}).json()
    assert served["objects"] == [older, mine]


def test_a_partner_posting_the_hidden_object_itself_adds_nothing():
    partner = make_partner()
    secret = indicator("192.0.2.67", red=True, id=f"indicator--{uuid.uuid4()}", **WHEN)
    imported(partner.collection, secret)
    count = StixObject.objects.count()
    assert [s["message"] for s in partner.post(secret)["successes"]] == ["stored"]
    assert StixObject.objects.count() == count  # hidden alike: no copy needed
    assert partner.get(f"{partner.objects_url}{secret['id']}/").status_code == 404


def test_last_and_first_are_the_versions_the_partner_may_read():
    """A hidden newer version must not make the object vanish from the default
    read (match[version]=last), nor a hidden older one from `first`: either
    would tell the partner that a version it may not read exists. The oracle is
    an object that only ever had the versions the partner may read."""
    partner = make_partner()
    hidden_newer, hidden_older, plain = (f"indicator--{uuid.uuid4()}" for _ in range(3))
    day1 = WHEN["created"]
    older = indicator("192.0.2.71", id=hidden_newer, created=day1, modified=day1)
    imported(partner.collection, older, indicator("192.0.2.71", red=True, id=hidden_newer, **WHEN))
    newer = indicator("192.0.2.72", id=hidden_older, **WHEN)
    imported(
        partner.collection,
        indicator("192.0.2.72", red=True, id=hidden_older, created=day1, modified=day1),
        newer,
    )
    alone = indicator("192.0.2.73", id=plain, created=day1, modified=day1)
    imported(partner.collection, alone)

    def read(ident: str, version: str) -> list[dict]:
        answer = partner.get(f"{partner.objects_url}{ident}/", **{"match[version]": version})
        return answer.json()["objects"] if answer.status_code == 200 else []

    assert read(plain, "last") == read(plain, "first") == [alone]
    assert read(hidden_newer, "last") == read(hidden_newer, "first") == [older]
    assert read(hidden_older, "last") == read(hidden_older, "first") == [newer]
    listed = partner.get(partner.objects_url).json()["objects"]
    mine = [o for o in listed if o["id"] in (hidden_newer, hidden_older, plain)]
    assert sorted(mine, key=lambda o: o["id"]) == sorted(
        [older, newer, alone], key=lambda o: o["id"]
    )
