"""The clock removes evidence bytes nothing refers to, after the grace period:
a stored object left by a crash between the store and the item's commit, a
Blob row no live item holds, an encryption's scratch file. What an item
holds stays; each removal is audited."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from accord.core.audit import AuditAction
from accord.evidence import blobs, orphans
from accord.evidence.models import Blob
from tests.evidence.world import add, events, make_case, make_people

pytestmark = pytest.mark.django_db


class Crash(Exception):
    pass


@pytest.fixture(autouse=True)
def own_storage(settings, tmp_path):
    """A storage of this test's own: other tests' rolled-back objects are not in it."""
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "evidence")},
        },
    }


def later(days: int):
    return timezone.now() + timedelta(days=days)


def crashed_store(data: bytes) -> str:
    """The ciphertext stored, then the transaction lost (as a killed process loses it)."""
    with pytest.raises(Crash), transaction.atomic():
        blob, _ = blobs.commit(blobs.encrypt_stream(io.BytesIO(data)))
        name = blob.storage_name
        raise Crash
    return name


def test_a_crash_between_store_and_commit_is_cleaned_after_the_grace_period(settings):
    name = crashed_store(os.urandom(5000))
    assert blobs.storage().exists(name) and not Blob.objects.exists()
    assert orphans.sweep(later(1))["objects"] == 0  # within the grace period
    assert blobs.storage().exists(name)
    assert orphans.sweep(later(settings.EVIDENCE_ORPHAN_DAYS + 1))["objects"] == 1
    assert not blobs.storage().exists(name)
    assert events(AuditAction.EVIDENCE_ORPHAN_REMOVED, data__kind="object") == 1


def test_bytes_an_item_holds_stay_and_a_row_nothing_holds_goes(settings):
    people = make_people()
    item = add(people["author"], b"held by an item", case=make_case(people))
    loose, _ = blobs.store_stream(io.BytesIO(b"held by nothing"))
    assert orphans.sweep(later(settings.EVIDENCE_ORPHAN_DAYS + 1))["rows"] == 1
    assert not blobs.storage().exists(loose.storage_name)
    assert list(Blob.objects.values_list("pk", flat=True)) == [item.sha256]
    assert blobs.storage().exists(Blob.objects.get().storage_name)
    assert events(AuditAction.EVIDENCE_ORPHAN_REMOVED, data__kind="row") == 1
    assert not Blob.objects.filter(pk=loose.pk).exists()


def test_a_scratch_file_of_an_unfinished_encryption_goes(settings):
    scratch = Path(settings.DATA_DIR) / "tmp" / f"evidence-left-{os.getpid()}"
    scratch.parent.mkdir(exist_ok=True)
    scratch.write_bytes(b"ciphertext")
    old = (timezone.now() - timedelta(days=settings.EVIDENCE_ORPHAN_DAYS + 1)).timestamp()
    os.utime(scratch, (old, old))
    assert orphans.sweep()["scratch"] >= 1 and not scratch.exists()
