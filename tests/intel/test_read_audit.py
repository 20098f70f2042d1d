"""Reads of intelligence are audited (issue 14, finding 8): the object page,
the search, and the TAXII objects, object, versions and manifest reads. One
event per HTTP request names what it returned (ids and count), however many
objects; reads do not wait for the chain's head (intel.reads)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from accord.core import audit
from accord.core.audit import AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.intel.models import StixObject
from tests.core.test_audited_reads import JOIN_SECONDS, head_held, in_thread
from tests.intel.inprocess import imported, indicator, make_partner

pytestmark = pytest.mark.django_db
READ = str(AuditAction.INTEL_READ)


@pytest.fixture
def partner():
    found = make_partner()
    imported(found.collection, *(indicator(f"198.51.100.{n}") for n in range(1, 6)))
    return found


def only_new_read(before: int) -> AuditEvent:
    """The one read event recorded since `before` (the sealed log)."""
    audit.seal()
    found = list(AuditEvent.objects.filter(action=READ, seq__gt=before))
    assert len(found) == 1, [e.data for e in found]
    return found[0]


def last_seq() -> int:
    audit.seal()
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_every_taxii_read_is_one_event_naming_what_it_returned(partner):
    ids = sorted(StixObject.objects.values_list("stix_id", flat=True))
    one = ids[0]
    reads = [
        ("taxii_objects", partner.objects_url, {"limit": "3"}, 3),
        ("taxii_manifest", partner.objects_url.replace("objects/", "manifest/"), {}, 5),
        ("taxii_object", f"{partner.objects_url}{one}/", {}, 1),
        ("taxii_versions", f"{partner.objects_url}{one}/versions/", {}, 1),
    ]
    for how, path, params, count in reads:
        before = last_seq()
        assert partner.get(path, **params).status_code == 200, how
        event = only_new_read(before)
        assert event.actor == "taxii:tool" and event.target_id == str(partner.collection.pk)
        assert (event.data["how"], event.data["count"]) == (how, count)
        assert set(event.data["ids"]) <= set(ids) and len(event.data["ids"]) == count
        if params:
            assert event.data["filters"] == {"limit": "3"}


def test_the_object_page_and_the_search_are_audited(partner, client_for):
    analyst = client_for(Role.ANALYST)
    before = last_seq()
    assert analyst.get(reverse("intel:home"), {"q": "198.51.100.3"}).status_code == 200
    search = only_new_read(before)
    row = StixObject.objects.get(search_text__contains="198.51.100.3")
    assert search.data == {
        "how": "search",
        "count": 1,
        "ids": [row.stix_id],
        "filters": {"q": "198.51.100.3"},
    }
    before = last_seq()
    assert analyst.get(reverse("intel:object", args=[row.pk])).status_code == 200
    page = only_new_read(before)
    assert (page.data["how"], page.data["ids"], page.actor) == (
        "page",
        [row.stix_id],
        "user:analyst-user",
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
@pytest.mark.django_db(transaction=True)
def test_a_taxii_read_does_not_wait_for_the_chains_head():
    partner = make_partner()
    imported(partner.collection, indicator("198.51.100.9"))
    with head_held():
        reader, outcome = in_thread(lambda: partner.get(partner.objects_url).status_code)
        reader.join(JOIN_SECONDS)
        assert outcome == [200], "the read finished while a writer held the head"
    event = only_new_read(0)
    assert event.data["count"] == 1
