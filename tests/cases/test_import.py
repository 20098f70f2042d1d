"""Bulk import into a case: good rows imported, bad ones reported by line with
the reason, rows already held counted as duplicates; STIX objects and simple
indicator patterns mapped, the rest reported; one audited event per import."""

from __future__ import annotations

import json
import uuid

import pytest

from accord.cases import imports, services
from accord.cases.models import Observable
from accord.cases.stixmap import parse_pattern
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.intel import store
from accord.intel.ingest import ingest
from tests.cases.world import make_people, open_case

pytestmark = pytest.mark.django_db


def counts(job) -> tuple[int, int, int]:
    return (job.report["added"], job.report["duplicates"], job.report["failed"])


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def case(people):
    return open_case(people["author"])


CSV = """type,value,subject
domain,Example.ORG
ipv4,192.0.2.300
email,someone@EXAMPLE.org,Acme Ltd
domain,example.org.
sha256,abc
md5,D41D8CD98F00B204E9800998ECF8427E,Nobody
just-one-cell
ipv4,198.51.100.7
"""


def test_good_rows_are_imported_bad_ones_reported_by_line_duplicates_counted(people, case):
    author = Actor.of(people["author"])
    services.add_subject(author, case, {"kind": "organisation", "display_name": "Acme Ltd"})
    services.add_observable(author, case, "ipv4", "198.51.100.7")
    job = imports.import_csv(author, case, CSV)
    assert job.status == "done" and (job.total, job.done) == (7, 7)
    assert counts(job) == (2, 2, 4)
    problems = job.report["problems"]
    assert {p["where"] for p in problems} == {"line 3", "line 6", "line 7", "line 8"}
    assert all(p["reason"] for p in problems)
    held = set(case.observables.values_list("code", "normal"))
    assert ("domain", "example.org") in held and ("ipv4", "192.0.2.300") not in held
    assert case.observables.get(code="email").subject.display_name == "Acme Ltd"
    event = AuditEvent.objects.filter(action=AuditAction.OBSERVABLES_IMPORT.value).get()
    assert event.data | {} == {
        "reference": case.reference,
        "format": "csv",
        "added": 2,
        "duplicates": 2,
        "failed": 4,
        "job": str(job.pk),
        "status": "done",
    }


def test_importing_the_same_file_twice_stores_nothing_twice(people, case):
    author = Actor.of(people["author"])
    imports.import_csv(author, case, "domain,example.org\nipv4,192.0.2.1\n")
    again = imports.import_csv(author, case, "domain,EXAMPLE.org\nipv4,192.0.2.1\n")
    assert counts(again) == (0, 2, 0)
    assert Observable.objects.count() == 2


def test_an_import_off_the_team_is_refused_and_stores_nothing(people, case):
    with pytest.raises(services.CaseRefused):
        imports.import_csv(Actor.of(people["outsider"]), case, "domain,example.org\n")
    assert not Observable.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.OBSERVABLES_IMPORT.value).exists()


def stix(kind: str, **fields) -> dict:
    return {"type": kind, "spec_version": "2.1", "id": f"{kind}--{uuid.uuid4()}", **fields}


def indicator(pattern: str) -> dict:
    return stix(
        "indicator",
        pattern=pattern,
        pattern_type="stix",
        valid_from="2026-01-01T00:00:00Z",
        created="2026-01-01T00:00:00.000Z",
        modified="2026-01-01T00:00:00.000Z",
    )


BUNDLE = [
    stix("ipv4-addr", value="203.0.113.9"),
    stix("ipv4-addr", value="203.0.113.0/24"),
    stix("domain-name", value="Evil.Example"),
    stix("file", hashes={"SHA-256": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"}),  # noqa: E501
    indicator("[url:value = 'https://evil.example/login']"),
    indicator("[email-addr:value = 'boss@evil.example'] OR [ipv6-addr:value = '2001:db8::1']"),
    indicator("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"),
    indicator("[ipv4-addr:value = '192.0.2.1' AND domain-name:value = 'a.example']"),
    indicator("[network-traffic:dst_port = '443']"),
    stix("malware", name="Evil", is_family=False),
]  # fmt: skip


def test_stix_observables_and_simple_patterns_are_mapped_and_the_rest_reported(people, case):
    report = imports.import_stix(Actor.of(people["author"]), case, BUNDLE).report
    held = set(case.observables.values_list("code", "normal"))
    assert {
        ("ipv4", "203.0.113.9"),
        ("cidr", "203.0.113.0/24"),
        ("domain", "evil.example"),
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("ipv6", "2001:db8::1"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
    } <= held
    assert {code for code, _ in held} >= {"url", "email"}
    assert (report["added"], report["failed"]) == (8, 3)
    unmapped = {p["where"] for p in report["problems"]}
    assert unmapped == {BUNDLE[7]["id"], BUNDLE[8]["id"], BUNDLE[9]["id"]}
    assert set(case.observables.values_list("source", flat=True)) == {"stix"}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[domain-name:value = 'a.example']", [("domain", "a.example")]),
        ("[file:hashes.'SHA-1' = 'ab']", [("sha1", "ab")]),
        ("[url:value = 'https://a.example/it\\'s']", [("url", "https://a.example/it's")]),
        ("[domain-name:value = 'a.example'] FOLLOWEDBY [domain-name:value = 'b']", None),
        ("[domain-name:value LIKE 'a%']", None),
        ("[domain-name:value = 'a.example'] WITHIN 5 SECONDS", None),
    ],
)
def test_only_plain_comparisons_joined_by_or_are_read(pattern, expected):
    assert parse_pattern(pattern) == expected


def test_the_nodes_own_collection_imports_and_a_bundle_upload_needs_objects(people, case):
    author = Actor.of(people["author"])
    collection = store.create_collection(author, "case-feed", "Case feed")
    ingest(collection, [stix("domain-name", value="feed.example"), BUNDLE[4]], None, author)
    job = imports.import_collection(author, case, collection.pk)
    assert job.kind == "collection" and job.report["added"] == 2
    assert case.observables.filter(normal="feed.example").exists()
    with pytest.raises(services.CaseRefused):
        imports.import_collection(author, case, uuid.uuid4())
    with pytest.raises(Exception, match="STIX bundle"):
        imports.bundle_objects(json.dumps({"type": "bundle"}))


def test_a_prosecutor_who_reads_no_intel_may_not_import_a_collection(people, case):
    author = Actor.of(people["author"])
    services.add_member(author, case, people["prosecutor"])
    collection = store.create_collection(author, "case-feed", "Case feed")
    with pytest.raises(services.CaseRefused) as caught:
        imports.import_collection(Actor.of(people["prosecutor"]), case, collection.pk)
    assert caught.value.status == 403
