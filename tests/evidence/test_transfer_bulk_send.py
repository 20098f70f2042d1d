"""Sending an item the bulk way, in process: the signed offer names the hash
of each part of the stored ciphertext and carries the key that opens it; a
pusher starts once the offer is applied, and the clock starts one again for
a transfer whose pusher's lease ran out (its node was killed)."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import TestCase
from django.utils import timezone

from accord.core.roles import Role
from accord.evidence import blobs, bulk, transfer
from accord.evidence.models import Blob, EvidenceItem, Transfer
from accord.evidence.wire import BULK_OFFER_KIND
from tests.evidence.test_transfer_send import partner, request_, send, settle  # noqa: F401
from tests.evidence.world import add

pytestmark = pytest.mark.django_db

MB = 1_048_576
DATA = bytes(range(256)) * 4096 * 3 + b"end"  # four stored chunks of 1 MiB, one part each


@pytest.fixture
def bulk_item(users, request_, settings) -> EvidenceItem:  # noqa: F811
    settings.EVIDENCE_BULK_MIN_BYTES = 0
    settings.EVIDENCE_PART_BYTES = MB
    return add(users[Role.INVESTIGATOR], DATA, request=request_)


@pytest.fixture
def pushers(monkeypatch) -> list[int]:
    """The transfers a pusher was started for (none really runs here)."""
    started: list[int] = []
    monkeypatch.setattr(bulk, "start_pusher", started.append)
    return started


def test_the_offer_names_every_part_and_the_key(users, partner, bulk_item, pushers) -> None:  # noqa: F811
    started = send(users, bulk_item)
    assert (started.chunks, started.held) == (4, "0000")
    [offer] = partner.sent(BULK_OFFER_KIND)
    blob = Blob.objects.get(pk=bulk_item.sha256)
    with blobs.storage().open(blob.storage_name, "rb") as handle:
        sealed = handle.read()
    size = offer["part_bytes"]
    assert size == MB + 16
    parts = [sealed[i : i + size] for i in range(0, len(sealed), size)]
    # A part is named by the SHA-256 of its stored chunks' tags: one chunk each here.
    assert offer["parts"] == [hashlib.sha256(part[-16:]).hexdigest() for part in parts]
    # The key opens the stored chunks: the receiver keeps them as they are.
    key = AESGCM(base64.b64decode(offer["key"]))
    assert key.decrypt(blobs.nonce(0), sealed[:size], blobs.aad(0, False)) == DATA[:MB]
    assert pushers == []  # not before the partner applied the offer


def test_a_pusher_starts_once_the_offer_is_applied(users, partner, bulk_item, pushers) -> None:  # noqa: F811
    started = send(users, bulk_item)
    with TestCase.captureOnCommitCallbacks(execute=True):
        settle(partner)
    assert pushers == [started.pk]
    assert Transfer.objects.get(pk=started.pk).push_until > timezone.now()


def test_the_clock_starts_a_pusher_whose_lease_ran_out(users, partner, bulk_item, pushers) -> None:  # noqa: F811
    started = send(users, bulk_item)
    with TestCase.captureOnCommitCallbacks(execute=True):
        settle(partner)
        transfer.tick()  # the lease holds: no second pusher
    assert pushers == [started.pk]
    Transfer.objects.filter(pk=started.pk).update(push_until=timezone.now() - timedelta(seconds=1))
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert transfer.tick()["pushed"] == 1
    assert pushers == [started.pk, started.pk]
