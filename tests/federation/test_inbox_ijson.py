"""The inbox reads I-JSON only (RFC 7493; docs/protocol.md): a member name
given twice is refused, in the batch, in an envelope and in a sealed body, so
no reader can act on a value other than the one that was signed; and text no
database can store is refused for its content, the same on both databases."""

from __future__ import annotations

import json

import pytest
from nacl.public import Box, PublicKey

from accord.core.identity import this_node
from accord.federation.envelope import b64encode
from tests.federation.test_inbox_rejections import (
    NOTE,
    NOTE_KIND,
    assert_refused,
    assert_rejected,
    batch,
    check_receipt,
    post,
    remote,
    snapshot,
)

pytestmark = pytest.mark.django_db
__all__ = ["post", "remote"]  # fixtures shared with test_inbox_rejections


def test_an_envelope_naming_seq_twice_is_rejected_as_malformed(remote, post):
    """Last-wins would apply seq 1 (the signed value) while a first-wins
    reader sees seq 7: the two would disagree about what was signed."""
    text = json.dumps(batch(remote.envelope(1)))
    assert text.count('"seq": 1') == 1
    doubled = text.replace('"seq": 1', '"seq": 7, "seq": 1')
    before = snapshot(remote)

    response = post(raw=doubled.encode())

    answer = assert_rejected(response, 400, "malformed", remote, before)
    assert "twice" in answer["error"]["detail"]


def test_a_batch_naming_envelopes_twice_is_rejected_as_malformed(remote, post):
    one, two = (json.dumps(batch(remote.envelope(n)))[1:-1] for n in (1, 2))
    before = snapshot(remote)

    response = post(raw=f"{{{one}, {two}}}".encode())

    assert_rejected(response, 400, "malformed", remote, before)


def _sealed_envelope(remote, plain: bytes):
    box = Box(remote.encryption_key, PublicKey(this_node().encryption_public))
    return remote.envelope(1, kind=NOTE_KIND, ciphertext=b64encode(bytes(box.encrypt(plain))))


def test_a_body_naming_a_member_twice_is_refused(remote, post):
    plain = json.dumps(NOTE)[:-1] + ', "text": "Something else."}'
    envelope = _sealed_envelope(remote, plain.encode())
    before = snapshot(remote)

    response = post(batch(envelope))

    message = assert_refused(response, envelope, "invalid_body", before)
    assert "twice" in message.refusal_reason


@pytest.mark.parametrize(
    ("text", "why"),
    [("Please\x00check.", "NUL characters"), ("Please \ud800 check.", "unicode string")],
    ids=["nul", "lone-surrogate"],
)
def test_a_note_with_text_no_database_stores_is_refused_for_its_content(remote, post, text, why):
    plain = json.dumps({**NOTE, "text": text}).encode()  # \u0000, \ud800 as JSON escapes
    envelope = _sealed_envelope(remote, plain)
    before = snapshot(remote)

    response = post(batch(envelope))

    message = assert_refused(response, envelope, "invalid_body", before)
    assert why in message.refusal_reason


def test_a_well_formed_note_still_applies(remote, post):
    envelope = _sealed_envelope(remote, json.dumps(NOTE).encode())

    response = post(batch(envelope))

    check_receipt(response.json()["receipts"][0], envelope)


@pytest.mark.parametrize("field", ["sender", "kind"])
def test_an_envelope_with_a_nul_in_a_field_is_rejected_as_malformed(remote, post, field):
    document = {**remote.envelope(1).as_dict(), field: "zz.p\x00eer"}
    before = snapshot(remote)

    response = post(batch(document))

    answer = assert_rejected(response, 400, "malformed", remote, before)
    assert "NUL" in answer["error"]["detail"]
