"""The evidence services: adding, viewing, downloading, exporting and purging
an item, each with its signed custody record and audit event; need-to-know
follows the case or request; every refusal is audited and changes nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import os

import pytest
from django.core.exceptions import PermissionDenied
from nacl.signing import VerifyKey

from accord.core.audit import Actor, AuditAction
from accord.core.canonical import canonical_bytes
from accord.core.identity import this_node
from accord.evidence import blobs, custody, queries, services
from accord.evidence.models import Blob, CustodyRecordRow, EvidenceItem
from tests.evidence.world import add, events, make_case, make_people, make_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return make_people()


@pytest.fixture
def case(people):
    return make_case(people)


def chain(item: EvidenceItem) -> list[custody.Record]:
    return [row.to_record() for row in item.custody.order_by("seq")]


def test_adding_an_item_records_who_collected_it_signed(people, case):
    item = add(people["author"], b"ledger", case=case)
    assert item.sha256 == hashlib.sha256(b"ledger").hexdigest()
    assert (item.size, item.case, item.request) == (6, case, None)
    [record] = chain(item)
    assert (record.event, record.seq, record.prev, record.node) == ("collected", 0, "", "xx.test")
    assert record.actor == "ev-author"
    assert record.details["how"] == "seizure" and record.details["by"] == "Officer Li"
    unsigned = {k: v for k, v in record.to_json().items() if k != "sig"}
    VerifyKey(this_node().signing_public).verify(
        canonical_bytes(unsigned), base64.b64decode(record.sig)
    )
    assert events(AuditAction.EVIDENCE_ADD, target_id=str(item.pk)) == 1


def test_a_row_gives_back_the_record_it_was_made_from(people, case):
    item = add(people["author"], case=case)
    row = item.custody.get()
    record = row.to_record()
    assert record.to_json() == row.to_json()
    assert record.hash == row.hash


def test_every_access_extends_the_chain(people, case):
    item = add(people["author"], b"x" * 5000, case=case)
    mate = Actor.of(people["mate"])
    services.view_item(mate, item)
    assert b"".join(services.download(mate, item)) == b"x" * 5000
    services.export_bundle(mate, [item], io.BytesIO())
    records = chain(item)
    assert [r.event for r in records] == ["collected", "viewed", "downloaded", "exported"]
    for before, after in itertools.pairwise(records):
        assert (after.seq, after.prev) == (before.seq + 1, before.hash)
    assert {r.actor for r in records[1:]} == {"ev-mate"}
    assert events(AuditAction.EVIDENCE_VIEW) == 1
    assert events(AuditAction.EVIDENCE_DOWNLOAD) == 1
    assert events(AuditAction.EVIDENCE_EXPORT) == 1


def test_the_same_bytes_twice_are_two_items_over_one_blob(people, case):
    first = add(people["author"], b"same", case=case)
    second = add(people["author"], b"same", name="copy.dd", case=case)
    assert first.pk != second.pk and first.sha256 == second.sha256
    assert Blob.objects.count() == 1


def test_an_item_on_a_request_follows_the_request_team(people):
    request = make_request(people)
    item = add(people["author"], request=request)
    assert item.request == request
    assert queries.visible(people["author"]).filter(pk=item.pk).exists()
    assert not queries.visible(people["outsider"]).filter(pk=item.pk).exists()
    assert queries.visible(people["central"]).filter(pk=item.pk).exists()


@pytest.mark.parametrize("who", ["outsider", "analyst"])
def test_someone_off_the_team_neither_sees_nor_touches_it(people, case, who):
    item = add(people["author"], case=case)
    actor = Actor.of(people[who])
    with pytest.raises((EvidenceItem.DoesNotExist, PermissionDenied)):
        queries.open_item(actor, item.pk)
    assert not queries.visible(people[who]).exists()
    before = CustodyRecordRow.objects.count()
    for attempt in (
        lambda: services.download(actor, item),
        lambda: services.view_item(actor, item),
        lambda: services.purge_item(actor, item, "no"),
        lambda: services.export_bundle(actor, [item], io.BytesIO()),
    ):
        with pytest.raises((services.EvidenceRefused, PermissionDenied)):
            attempt()
    assert CustodyRecordRow.objects.count() == before
    refused = events(AuditAction.EVIDENCE_REFUSED) + events(AuditAction.ACCESS_DENIED)
    assert refused >= 5


def test_auditors_read_and_do_not_change(people, case):
    item = add(people["author"], case=case)
    auditor = Actor.of(people["auditor"])
    services.view_item(auditor, item)
    with pytest.raises(services.EvidenceRefused) as refused:
        services.purge_item(auditor, item, "tidy up")
    assert refused.value.status == 403
    with pytest.raises(services.EvidenceRefused):
        add(people["auditor"], case=case)
    assert events(AuditAction.EVIDENCE_REFUSED) == 2


def test_an_upload_over_the_limit_is_refused_and_audited(people, case, settings):
    settings.EVIDENCE_MAX_ITEM_BYTES = 100
    actor = Actor.of(people["author"])
    new = services.NewItem(name="big.bin")
    with pytest.raises(services.EvidenceRefused) as refused:
        services.add_item(actor, io.BytesIO(b"x" * 101), new, case=case)
    assert refused.value.status == 413
    with pytest.raises(services.EvidenceRefused):
        services.add_item(actor, io.BytesIO(b""), new, case=case, declared_size=10_000)
    assert not EvidenceItem.objects.exists() and not Blob.objects.exists()
    assert events(AuditAction.EVIDENCE_REFUSED) == 2


NAMES = [
    "../../etc/passwd",
    "report\r\nSet-Cookie: x=1.pdf",
    "bell\x07tab\tesc\x1b.txt",
    "nul\x00byte.txt",
    "证据 清单.pdf",
    "..",
]


@pytest.mark.parametrize("name", NAMES)
def test_file_names_are_kept_as_given_and_never_used_as_paths(people, case, name):
    data = os.urandom(100)
    item = add(people["author"], data, name=name, case=case)
    item.refresh_from_db()
    assert item.name == name.replace("\x00", "\ufffd")
    blob = Blob.objects.get(pk=item.sha256)
    assert blob.storage_name == f"{item.sha256[:2]}/{item.sha256}"
    assert b"".join(services.download(Actor.of(people["author"]), item)) == data


def test_a_purge_removes_bytes_and_key_and_keeps_the_record(
    people, case, django_capture_on_commit_callbacks
):
    item = add(people["author"], b"to be purged", case=case)
    blob = Blob.objects.get(pk=item.sha256)
    path = blobs.storage().path(blob.storage_name)
    actor = Actor.of(people["author"])
    with django_capture_on_commit_callbacks(execute=True):
        services.purge_item(actor, item, "retention ended")
    assert not Blob.objects.filter(pk=item.sha256).exists()
    assert not os.path.exists(path)
    item.refresh_from_db()
    assert item.purged and item.purge_reason == "retention ended"
    last = chain(item)[-1]
    assert (last.event, last.reason, last.details) == (
        "purged",
        "retention ended",
        {"bytes_removed": 1},
    )
    with pytest.raises(services.EvidenceRefused) as refused:
        services.download(actor, item)
    assert refused.value.status == 409
    with pytest.raises(services.EvidenceRefused):
        services.purge_item(actor, item, "again")
    assert events(AuditAction.EVIDENCE_PURGE) == 1
    assert events(AuditAction.EVIDENCE_REFUSED) == 2


def test_a_purge_keeps_bytes_another_live_item_holds(people, case):
    first = add(people["author"], b"shared", case=case)
    second = add(people["author"], b"shared", case=case)
    actor = Actor.of(people["author"])
    services.purge_item(actor, first, "duplicate")
    assert b"".join(services.download(actor, second)) == b"shared"
    assert chain(first)[-1].details == {"bytes_removed": 0}


def test_a_purge_needs_a_reason(people, case):
    item = add(people["author"], case=case)
    with pytest.raises(services.EvidenceRefused) as refused:
        services.purge_item(Actor.of(people["author"]), item, "  ")
    assert refused.value.status == 422
    item.refresh_from_db()
    assert not item.purged


def test_damaged_storage_is_named_on_download(people, case):
    item = add(people["author"], os.urandom(3000), case=case)
    blob = Blob.objects.get(pk=item.sha256)
    with open(blobs.storage().path(blob.storage_name), "r+b") as handle:
        handle.seek(10)
        handle.write(b"\xff\xff")
    with pytest.raises(blobs.Damaged, match="chunk 1 of 1"):
        b"".join(services.download(Actor.of(people["author"]), item))


def test_a_purge_racing_a_download_leaves_both_consistent(
    people, case, django_capture_on_commit_callbacks
):
    """A download that has begun finishes with the right bytes (it holds the
    file open); the purge removes the file; any download after it is refused."""
    data = os.urandom(3 * 1_048_576 + 7)
    item = add(people["author"], data, case=case)
    actor = Actor.of(people["author"])
    chunks = services.download(actor, item)
    first = next(chunks)
    with django_capture_on_commit_callbacks(execute=True):
        services.purge_item(actor, item, "deletion requested")
    assert not Blob.objects.filter(pk=item.sha256).exists()
    assert first + b"".join(chunks) == data
    with pytest.raises(services.EvidenceRefused):
        services.download(actor, item)
    events_of_item = [r.event for r in chain(item)]
    assert events_of_item == ["collected", "downloaded", "purged"]


def test_a_blob_file_gone_from_storage_is_refused_before_any_byte(people, case):
    item = add(people["author"], b"here today", case=case)
    blob = Blob.objects.get(pk=item.sha256)
    blobs.storage().delete(blob.storage_name)
    with pytest.raises(services.EvidenceRefused, match="missing") as refused:
        services.download(Actor.of(people["author"]), item)
    assert refused.value.status == 409
    assert [r.event for r in chain(item)] == ["collected"]  # no download on record
    assert events(AuditAction.EVIDENCE_REFUSED) == 1
