"""The data migration that moves response files stored before evidence
(whole, in clear, under DATA_DIR/assistance-files) into evidence items of
their request: encrypted, with a signed first custody record, the clear copy
removed; a file whose bytes no longer match its hash is left where it is."""

from __future__ import annotations

import base64
import hashlib
import os
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from accord.assistance.models import ResponseFile
from accord.evidence import blobs
from accord.evidence.models import Blob, EvidenceItem
from accord.federation.models import Peer
from tests.assistance.arrivals import arrive, submitted

pytestmark = pytest.mark.django_db

MIGRATION = import_module("accord.assistance.migrations.0005_files_as_evidence")


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="us.legacy",
        url="http://127.0.0.1:9/",
        party="US",
        agency="DoJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def stored_file(request, name: str, data: bytes, *, damaged: bool = False) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    ResponseFile.objects.create(
        request=request,
        version=request.version,
        name=name,
        content_type="text/csv",
        size=len(data),
        sha256=digest,
    )
    folder = Path(settings.DATA_DIR) / "assistance-files"
    folder.mkdir(exist_ok=True)
    path = folder / digest
    path.write_bytes(data[::-1] if damaged else data)
    return path


def test_stored_response_files_become_evidence_items(
    users, peer, django_capture_on_commit_callbacks, capsys
):
    sent = arrive(users, peer)  # this node responded: its own production
    received = submitted(users, peer)  # this node asked: the partner's material
    sent_data, received_data = os.urandom(3000), os.urandom(2000)
    paths = [
        stored_file(sent, "line\r\nbreak.csv", sent_data),
        stored_file(received, "records.csv", received_data),
    ]
    kept = stored_file(received, "damaged.csv", os.urandom(100), damaged=True)

    with django_capture_on_commit_callbacks(execute=True):
        MIGRATION.adopt_files(apps, None)

    for request, data, event, path in (
        (sent, sent_data, "collected", paths[0]),
        (received, received_data, "received", paths[1]),
    ):
        item = EvidenceItem.objects.get(request=request, sha256=hashlib.sha256(data).hexdigest())
        assert b"".join(blobs.read_plaintext(Blob.objects.get(pk=item.sha256))) == data
        assert [row.event for row in item.custody.all()] == [event]
        assert not path.exists()
    assert EvidenceItem.objects.get(request=sent).name == "line\r\nbreak.csv"
    assert kept.exists() and EvidenceItem.objects.count() == 2
    assert "damaged" in capsys.readouterr().out
    # Run again (a migration replayed): nothing more.
    MIGRATION.adopt_files(apps, None)
    assert EvidenceItem.objects.count() == 2
