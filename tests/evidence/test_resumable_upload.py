"""Resumable uploads: a session declares the name, size and SHA-256; parts go
in order; an upload cut off (the connection dropped midway through a part,
or the client stopped after part k) resumes from the session's offset and
ends as one item with the declared hash. Bad offsets, ranges, sizes and
hashes are refused with the reason, audited, and change nothing. Sessions
are their owner's only; the clock expires abandoned ones and their files."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import timedelta

import pytest
from django.http import UnreadablePostError
from django.test import Client
from django.utils import timezone

from accord.core.audit import Actor, AuditAction
from accord.evidence import resumable
from accord.evidence.models import CustodyRecordRow, EvidenceItem, UploadSession, UploadStatus
from tests.evidence.test_blobs import Tripwire
from tests.evidence.test_cli import run
from tests.evidence.test_pages_api import signed_in
from tests.evidence.world import events, make_case, make_people

pytestmark = pytest.mark.django_db

PART = 4096
DATA = os.urandom(3 * PART + 500)  # four parts, the last one short
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def small_parts(settings):
    settings.EVIDENCE_UPLOAD_PART_BYTES = PART


@pytest.fixture
def people():
    return make_people()


@pytest.fixture
def case(people):
    return make_case(people)


@pytest.fixture
def author(people) -> Client:
    return signed_in(people["author"])


def begin(client: Client, case, **declared) -> dict:
    body = {"name": "phone.img", "size": len(DATA), "sha256": SHA, "how": "seizure", **declared}
    made = client.post(
        f"/api/v1/evidence/cases/{case.pk}/uploads", body, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    return made.json()


def put(client: Client, upload: dict, first: int, data: bytes, **headers):
    last = first + len(data) - 1
    headers.setdefault("HTTP_CONTENT_RANGE", f"bytes {first}-{last}/{len(DATA)}")
    return client.put(
        f"/api/v1/evidence/uploads/{upload['id']}",
        data,
        content_type="application/octet-stream",
        **headers,
    )


def offset(client: Client, upload: dict) -> int:
    return client.get(f"/api/v1/evidence/uploads/{upload['id']}").json()["offset"]


def finish(client: Client, upload: dict):
    return client.post(f"/api/v1/evidence/uploads/{upload['id']}/finish")


class Dropping(io.BytesIO):
    """A request body whose connection drops after `after` bytes."""

    def __init__(self, data: bytes, after: int) -> None:
        super().__init__(data)
        self.after = after

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.after:
            raise UnreadablePostError("connection reset by peer")
        return super().read(min(size or 0, self.after - self.tell()))


def test_an_upload_cut_off_midway_resumes_into_one_identical_item(
    people, case, author, django_capture_on_commit_callbacks
):
    upload = begin(author, case)
    assert upload["offset"] == 0 and upload["part_bytes"] == PART
    assert put(author, upload, 0, DATA[:PART]).json()["offset"] == PART
    session = UploadSession.objects.get(pk=upload["id"])
    with pytest.raises(resumable.services.EvidenceRefused, match="none of it was kept"):
        resumable.append(
            Actor.of(people["author"]),
            session,
            Dropping(DATA[PART : 2 * PART], after=1000),
            length=PART,
            where=PART,
        )
    assert offset(author, upload) == PART  # the cut part left nothing behind
    for first in range(PART, len(DATA), PART):
        assert put(author, upload, first, DATA[first : first + PART]).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        made = finish(author, upload)
    assert made.status_code == 201, made.content
    item = made.json()
    assert item["sha256"] == SHA and item["size"] == len(DATA)
    assert item["collected"]["how"] == "seizure"
    got = author.get(f"/api/v1/evidence/items/{item['id']}/content")
    assert b"".join(got.streaming_content) == DATA
    assert EvidenceItem.objects.count() == 1
    assert finish(author, upload).json()["id"] == item["id"]  # asked again: the same item
    assert not resumable.staging_path(UploadSession.objects.get(pk=upload["id"])).exists()
    assert events(AuditAction.EVIDENCE_UPLOAD_PART) == 4
    assert CustodyRecordRow.objects.filter(event="collected").count() == 1


def test_the_cli_resumes_an_upload_stopped_after_part_k(people, case, author, tmp_path):
    source = tmp_path / "phone.img"
    source.write_bytes(DATA)
    upload = begin(author, case)
    put(author, upload, 0, DATA[:PART])
    put(author, upload, PART, DATA[PART : 2 * PART])  # then the client stopped
    out = run("add", str(source), "--case", case.reference, "--as", "ev-author")
    assert f"resuming upload {upload['id']} at byte {2 * PART}" in out
    item = EvidenceItem.objects.get()
    assert item.sha256 == SHA and item.name == "phone.img"
    assert events(AuditAction.EVIDENCE_UPLOAD_PART) == 4  # two parts were not sent again
    assert UploadSession.objects.get(pk=upload["id"]).status == UploadStatus.DONE


def test_a_part_at_the_wrong_offset_is_refused_and_names_the_right_one(case, author):
    upload = begin(author, case)
    put(author, upload, 0, DATA[:PART])
    refused = put(author, upload, 2 * PART, DATA[2 * PART : 3 * PART])
    assert refused.status_code == 409
    assert f"has {PART} bytes" in refused.json()["detail"]
    assert offset(author, upload) == PART
    assert events(AuditAction.EVIDENCE_REFUSED, data__status=409) == 1


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (f"bytes 0-{PART - 1}/99", 422),  # not the declared size
        ("bytes 0-10/*", 422),  # not the part's length
        ("bytes=0-", 422),  # a Range, not a Content-Range
    ],
)
def test_a_part_badly_placed_is_refused(case, author, header, status):
    upload = begin(author, case)
    refused = put(author, upload, 0, DATA[:PART], HTTP_CONTENT_RANGE=header)
    assert refused.status_code == status
    assert offset(author, upload) == 0
    assert events(AuditAction.EVIDENCE_REFUSED) == 1


def test_limits_are_checked_before_a_byte_is_read(people, case, author, settings):
    too_big = put(author, begin(author, case), 0, DATA[: PART + 1])
    assert too_big.status_code == 413
    session = UploadSession.objects.get()
    with pytest.raises(resumable.services.EvidenceRefused, match="A part holds"):
        resumable.append(Actor.of(people["author"]), session, Tripwire(0), length=PART + 1, where=0)
    settings.EVIDENCE_MAX_ITEM_BYTES = 1000
    declared = author.post(
        f"/api/v1/evidence/cases/{case.pk}/uploads",
        {"name": "big.img", "size": 1001, "sha256": SHA},
        content_type="application/json",
    )
    assert declared.status_code == 413
    assert "larger than this node accepts" in declared.json()["detail"]


def test_bytes_that_do_not_match_the_declared_hash_make_no_item(case, author):
    upload = begin(author, case, sha256="0" * 64)
    for first in range(0, len(DATA), PART):
        put(author, upload, first, DATA[first : first + PART])
    refused = finish(author, upload)
    assert refused.status_code == 422
    assert "do not match the SHA-256" in refused.json()["detail"]
    assert not EvidenceItem.objects.exists()
    assert UploadSession.objects.get().status == UploadStatus.OPEN  # nothing changed
    assert events(AuditAction.EVIDENCE_REFUSED, data__status=422) == 1


def test_an_unfinished_upload_cannot_be_finished(case, author):
    upload = begin(author, case)
    put(author, upload, 0, DATA[:PART])
    refused = finish(author, upload)
    assert refused.status_code == 409 and "send the rest" in refused.json()["detail"]


def test_a_session_is_its_owners_only(people, case, author):
    upload = begin(author, case)
    mate = signed_in(people["mate"])  # on the case's team, but not the uploader
    assert mate.get(f"/api/v1/evidence/uploads/{upload['id']}").status_code == 404
    assert put(mate, upload, 0, DATA[:PART]).status_code == 404
    assert events(AuditAction.ACCESS_DENIED, data__what="evidence_upload") == 2
    refused = signed_in(people["outsider"]).post(
        f"/api/v1/evidence/cases/{case.pk}/uploads",
        {"name": "x", "size": 1, "sha256": SHA},
        content_type="application/json",
    )
    assert refused.status_code in (403, 404)
    assert not UploadSession.objects.filter(created_by=people["outsider"]).exists()


def test_the_clock_expires_an_abandoned_upload_and_removes_its_file(case, author):
    upload = begin(author, case)
    put(author, upload, 0, DATA[:PART])
    session = UploadSession.objects.get()
    assert resumable.staging_path(session).exists()
    assert resumable.expire(timezone.now()) == 0  # still waiting
    assert resumable.expire(timezone.now() + timedelta(hours=25)) == 1
    assert UploadSession.objects.get().status == UploadStatus.EXPIRED
    assert not resumable.staging_path(session).exists()
    assert events(AuditAction.EVIDENCE_UPLOAD_EXPIRED) == 1
    assert put(author, upload, PART, DATA[PART : 2 * PART]).status_code == 409


def test_a_cancelled_upload_takes_no_more_parts(case, author):
    upload = begin(author, case)
    put(author, upload, 0, DATA[:PART])
    cancelled = author.delete(f"/api/v1/evidence/uploads/{upload['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert put(author, upload, PART, DATA[PART : 2 * PART]).status_code == 409
