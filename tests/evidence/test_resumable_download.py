"""A download cut off midway resumes with Range and If-Range: the same bytes,
one 'downloaded' custody record for the reader's download, every range
request audited; a range outside the item is refused (416), audited, and
changes nothing; the page's download resumes alike. A court bundle's
download resumes from the copy kept of it, for who exported it, while its
items may still be exported."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.evidence import bundle, exports, services
from accord.evidence.models import CustodyRecordRow
from tests.evidence.test_pages_api import signed_in
from tests.evidence.world import add, events, make_case, make_people

pytestmark = pytest.mark.django_db

# Three stored chunks of 1 MiB: ranges cross chunk boundaries.
DATA = os.urandom(2_300_000)


@pytest.fixture
def people():
    return make_people()


@pytest.fixture
def item(people):
    return add(people["author"], DATA, case=make_case(people))


def url(item) -> str:
    return f"/api/v1/evidence/items/{item.pk}/content"


def cut_off(response) -> bytes:
    """The first chunk, then the connection drops: the response is closed the
    way the test client closes it (response.close() alone would close the
    test's database connection too)."""
    stream = response._iterator  # the test client's closing wrapper
    first = next(stream)
    stream.close()
    return first


def downloaded(item) -> int:
    return CustodyRecordRow.objects.filter(item=item, event="downloaded").count()


def test_an_interrupted_download_resumes_with_identical_bytes(people, item):
    client = signed_in(people["author"])
    first = client.get(url(item))
    assert first.status_code == 200 and first["Accept-Ranges"] == "bytes"
    assert first["ETag"] == f'"{item.sha256}"'
    got = cut_off(first)
    rest = client.get(url(item), HTTP_RANGE=f"bytes={len(got)}-", HTTP_IF_RANGE=first["ETag"])
    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes {len(got)}-{len(DATA) - 1}/{len(DATA)}"
    assert rest["Content-Length"] == str(len(DATA) - len(got))
    assert got + b"".join(rest.streaming_content) == DATA
    assert downloaded(item) == 1  # the continuation adds no second record
    assert events(AuditAction.EVIDENCE_DOWNLOAD) == 2  # but both requests are audited


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=1048570-1048590", 1_048_570, 1_048_591),  # across a chunk boundary
        ("bytes=-100", len(DATA) - 100, len(DATA)),
        ("bytes=2000000-9999999", 2_000_000, len(DATA)),
    ],
)
def test_a_single_range_is_served_exactly(people, item, header, start, stop):
    got = signed_in(people["mate"]).get(url(item), HTTP_RANGE=header)
    assert got.status_code == 206
    assert got["Content-Range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"
    assert b"".join(got.streaming_content) == DATA[start:stop]


def test_a_range_from_byte_zero_or_by_someone_else_is_recorded(people, item):
    b"".join(signed_in(people["author"]).get(url(item), HTTP_RANGE="bytes=0-99").streaming_content)
    assert downloaded(item) == 1
    b"".join(signed_in(people["author"]).get(url(item), HTTP_RANGE="bytes=0-").streaming_content)
    assert downloaded(item) == 2  # from byte 0: a new download
    b"".join(signed_in(people["mate"]).get(url(item), HTTP_RANGE="bytes=100-").streaming_content)
    records = CustodyRecordRow.objects.filter(item=item, event="downloaded").order_by("seq")
    assert records.count() == 3  # the mate never downloaded it: recorded, with the range
    assert records.last().details == {"range": f"100-{len(DATA) - 1}"}


def test_a_stale_if_range_gets_the_whole_item(people, item):
    got = signed_in(people["author"]).get(
        url(item), HTTP_RANGE="bytes=100-", HTTP_IF_RANGE='"' + "0" * 64 + '"'
    )
    assert got.status_code == 200 and b"".join(got.streaming_content) == DATA


@pytest.mark.parametrize("header", ["bytes=2300000-", "bytes=-0", "bytes=9999999-10000000"])
def test_an_unsatisfiable_range_is_refused_audited_and_changes_nothing(people, item, header):
    refused = signed_in(people["author"]).get(url(item), HTTP_RANGE=header)
    assert refused.status_code == 416
    assert refused["Content-Range"] == f"bytes */{len(DATA)}"
    assert "not in the item" in refused.json()["detail"]
    assert downloaded(item) == 0 and events(AuditAction.EVIDENCE_DOWNLOAD) == 0
    assert events(AuditAction.EVIDENCE_REFUSED, data__status=416) == 1


def test_a_range_goes_through_the_same_door_as_a_whole_download(people, item):
    def status(who: str) -> int:
        return signed_in(people[who]).get(url(item), HTTP_RANGE="bytes=5-").status_code

    assert (status("outsider"), status("analyst"), status("auditor")) == (404, 403, 206)
    assert downloaded(item) == 1  # the auditor's, who never downloaded it before


def test_the_page_download_resumes_too(people, item):
    client = signed_in(people["author"])
    page = f"/evidence/{item.pk}/download/"
    head = client.get(page, HTTP_RANGE="bytes=0-999")
    rest = client.get(page, HTTP_RANGE="bytes=1000-", HTTP_IF_RANGE=head["ETag"])
    assert (head.status_code, rest.status_code) == (206, 206)
    assert b"".join(head.streaming_content) + b"".join(rest.streaming_content) == DATA
    assert downloaded(item) == 1


def test_an_interrupted_bundle_download_resumes_from_the_kept_bundle(people, item, tmp_path):
    client = signed_in(people["author"])
    first = client.post(
        "/api/v1/evidence/exports",
        {"items": [str(item.pk)], "cover": False},
        content_type="application/json",
    )
    assert first.status_code == 200 and first["Accept-Ranges"] == "bytes"
    again = first["Content-Location"]
    got = cut_off(first)
    rest = client.get(again, HTTP_RANGE=f"bytes={len(got)}-", HTTP_IF_RANGE=first["ETag"])
    assert rest.status_code == 206
    whole = got + b"".join(rest.streaming_content)
    assert f'"{hashlib.sha256(whole).hexdigest()}"' == first["ETag"]
    path = tmp_path / "bundle.zip"
    path.write_bytes(whole)
    node = this_node()
    assert bundle.verify_bundle(path, {node.node_id: node.fingerprint}).ok
    exported = CustodyRecordRow.objects.filter(item=item, event="exported").count()
    assert exported == 1  # fetched again: audited, but the export is on record once
    assert events(AuditAction.EVIDENCE_EXPORT_FETCH) == 1
    assert signed_in(people["mate"]).get(again).status_code == 404  # not who exported it
    beyond = client.get(again, HTTP_RANGE=f"bytes={len(whole)}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(whole)}"


def test_a_kept_bundle_follows_the_items_and_the_clock(people, item):
    client = signed_in(people["author"])
    exported = client.post(
        "/api/v1/evidence/exports",
        {"items": [str(item.pk)], "cover": False},
        content_type="application/json",
    )
    kept = exports.KeptBundle.objects.get()
    assert exported["Content-Location"] == f"/api/v1/evidence/exports/{kept.pk}"
    again = reverse("evidence:bundle", kwargs={"bundle_id": kept.pk})  # the pages' door
    part = client.get(again, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and len(b"".join(part.streaming_content)) == 10
    services.purge_item(Actor.of(people["author"]), item, "done with it")
    assert client.get(again, HTTP_RANGE="bytes=10-").status_code == 302  # refused: purged
    assert events(AuditAction.EVIDENCE_REFUSED, data__action="export") == 1
    assert exports.expire(timezone.now() + timedelta(hours=25)) == 1
    assert client.get(again).status_code == 404
