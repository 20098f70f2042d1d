"""The test vector of docs/protocol.md, recomputed from its inputs twice: with
the project's own functions, and independently with plain PyNaCl, rfc8785 and
hashlib. Fails when the document or the implementation drifts. No database."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from django.core.exceptions import ValidationError
from nacl import bindings
from nacl.exceptions import BadSignatureError
from nacl.public import Box, PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from accord.core.canonical import canonical_bytes
from accord.core.identity import NodeIdentity, key_fingerprint
from accord.federation import envelope as wire
from accord.federation import inbox, kinds, peering
from accord.federation import wire as bodies
from accord.federation.envelope import Envelope, EnvelopeError

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
BLOCK = re.compile(r"^```json test-vector\n(.*?)^```$", re.DOTALL | re.MULTILINE)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def load_vector() -> dict[str, Any]:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 1, "docs/protocol.md must hold exactly one ```json test-vector block"
    return json.loads(blocks[0])


VECTOR = load_vector()
INPUTS = VECTOR["inputs"]
EXPECTED = VECTOR["expected"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def node(name: str) -> NodeIdentity:
    spec = INPUTS[name]
    return NodeIdentity(
        node_id=spec["node_id"],
        party=spec["party"],
        agency=spec["agency"],
        signing_key=SigningKey(bytes.fromhex(spec["signing_seed_hex"])),
        encryption_key=PrivateKey(bytes.fromhex(spec["encryption_private_hex"])),
    )


SENDER, RECIPIENT = node("sender"), node("recipient")
NONCE = bytes.fromhex(INPUTS["nonce_hex"])


def without(document: dict[str, Any], *names: str) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in names}


def project_envelope() -> Envelope:
    body = wire.seal_body(
        INPUTS["body"], SENDER.encryption_key, RECIPIENT.encryption_public, nonce=NONCE
    )
    return Envelope(
        id=INPUTS["id"],
        kind=INPUTS["kind"],
        sender=SENDER.node_id,
        recipient=RECIPIENT.node_id,
        seq=INPUTS["seq"],
        sent_at=INPUTS["sent_at"],
        in_reply_to=INPUTS["in_reply_to"],
        body=body,
    ).signed(SENDER.signing_key)


# ---------------------------------------------------------------- inputs


def test_inputs_have_the_documented_sizes_and_formats():
    for name in ("sender", "recipient"):
        assert len(bytes.fromhex(INPUTS[name]["signing_seed_hex"])) == 32
        assert len(bytes.fromhex(INPUTS[name]["encryption_private_hex"])) == 32
    assert len(NONCE) == 24
    message_id = uuid.UUID(INPUTS["id"])
    assert str(message_id) == INPUTS["id"] and message_id.version == 7
    sent_at = datetime.strptime(INPUTS["sent_at"], TIME_FORMAT).replace(tzinfo=UTC)
    assert sent_at.strftime(TIME_FORMAT) == INPUTS["sent_at"]
    assert message_id.int >> 80 == int(sent_at.timestamp() * 1000)  # the UUIDv7 timestamp
    assert wire.format_time(wire.parse_time(INPUTS["received_at"])) == INPUTS["received_at"]
    assert INPUTS["seq"] == 1 and INPUTS["kind"] == bodies.NOTE_KIND


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize("name", ["sender", "recipient"])
def test_public_keys_and_fingerprints(name):
    spec, expected, identity = INPUTS[name], EXPECTED[name], node(name)
    # The project's identity.
    assert b64(identity.signing_public) == expected["signing_public_b64"]
    assert b64(identity.encryption_public) == expected["encryption_public_b64"]
    assert identity.fingerprint == expected["fingerprint"]
    assert key_fingerprint(identity.encryption_public) == expected["encryption_fingerprint"]
    # Independently: PyNaCl and hashlib.
    signing_public = bytes(SigningKey(bytes.fromhex(spec["signing_seed_hex"])).verify_key)
    encryption_public = bytes(PrivateKey(bytes.fromhex(spec["encryption_private_hex"])).public_key)
    assert b64(signing_public) == expected["signing_public_b64"]
    assert b64(encryption_public) == expected["encryption_public_b64"]
    assert hashlib.sha256(signing_public).hexdigest() == expected["fingerprint"]
    assert hashlib.sha256(encryption_public).hexdigest() == expected["encryption_fingerprint"]
    assert encryption_public == bindings.crypto_scalarmult_base(
        bytes.fromhex(spec["encryption_private_hex"])
    )


@pytest.mark.parametrize("name", ["sender", "recipient"])
def test_identity_document(name):
    expected = EXPECTED[name]
    document = expected["identity_document"]
    assert node(name).public_document() == document
    assert document["keys"]["signing"]["public_key"] == expected["signing_public_b64"]
    assert document["keys"]["encryption"]["public_key"] == expected["encryption_public_b64"]
    assert document["fingerprint"] == expected["fingerprint"]
    # The signature covers the canonical document without signature and endpoint.
    signed = rfc8785.dumps(without(document, "signature"))
    assert signed.decode("utf-8") == expected["identity_signing_input"]
    VerifyKey(unb64(expected["signing_public_b64"])).verify(signed, unb64(document["signature"]))
    # Peering accepts it with an (unsigned) endpoint added, pinned by fingerprint ...
    served = {**document, "endpoint": "https://accord.example/"}
    keys = peering.verify_identity(served, peering.normalise_fingerprint(document["fingerprint"]))
    assert keys == (unb64(expected["signing_public_b64"]), unb64(expected["encryption_public_b64"]))
    # ... and refuses a changed signed member.
    with pytest.raises(ValidationError):
        peering.verify_identity({**served, "party": "Elsewhere"}, document["fingerprint"])


# ---------------------------------------------------------------- body


def test_body_canonical_bytes():
    plain = bytes.fromhex(EXPECTED["body_canonical_hex"])
    assert plain.decode("utf-8") == EXPECTED["body_canonical"]
    assert canonical_bytes(INPUTS["body"]) == plain
    assert rfc8785.dumps(INPUTS["body"]) == plain
    assert json.loads(plain) == INPUTS["body"]
    # The body is a valid core.note body.
    kind = kinds.get(INPUTS["kind"])
    assert kind is not None and kind.schema is bodies.NoteBody
    bodies.NoteBody.model_validate(json.loads(plain))


def test_body_encryption_with_the_project():
    sealed = wire.seal_body(
        INPUTS["body"], SENDER.encryption_key, RECIPIENT.encryption_public, nonce=NONCE
    )
    assert sealed == EXPECTED["body"]
    opened = wire.open_body(EXPECTED["body"], RECIPIENT.encryption_key, SENDER.encryption_public)
    assert opened == bytes.fromhex(EXPECTED["body_canonical_hex"])
    assert wire.body_sha256(EXPECTED["body"]) == EXPECTED["body_sha256"]


def test_body_encryption_independently():
    plain = rfc8785.dumps(INPUTS["body"])
    sender_private = PrivateKey(bytes.fromhex(INPUTS["sender"]["encryption_private_hex"]))
    recipient_private = PrivateKey(bytes.fromhex(INPUTS["recipient"]["encryption_private_hex"]))
    sender_public = PublicKey(unb64(EXPECTED["sender"]["encryption_public_b64"]))
    recipient_public = PublicKey(unb64(EXPECTED["recipient"]["encryption_public_b64"]))
    # crypto_box: sender's X25519 private key with the recipient's public key.
    outgoing = Box(sender_private, recipient_public)
    incoming = Box(recipient_private, sender_public)
    shared = bytes.fromhex(EXPECTED["box_shared_key_hex"])
    assert outgoing.shared_key() == incoming.shared_key() == shared
    assert bindings.crypto_box_beforenm(bytes(recipient_public), bytes(sender_private)) == shared
    raw = unb64(EXPECTED["body"])
    assert b64(raw) == EXPECTED["body"]  # standard alphabet, with padding
    assert b64(bytes(outgoing.encrypt(plain, NONCE))) == EXPECTED["body"]
    # Layout: nonce (24) || Poly1305 tag (16) || XSalsa20 ciphertext (len(plain)).
    assert raw[:24] == NONCE and len(raw) == 24 + 16 + len(plain)
    assert bindings.crypto_box_easy(plain, NONCE, bytes(recipient_public), bytes(sender_private))
    assert bindings.crypto_secretbox(plain, NONCE, shared) == raw[24:]
    assert incoming.decrypt(raw) == plain
    assert bindings.crypto_secretbox_open(raw[24:], NONCE, shared) == plain
    # body_sha256 is the SHA-256 of the base64 text, not of the bytes it encodes.
    assert hashlib.sha256(EXPECTED["body"].encode("ascii")).hexdigest() == EXPECTED["body_sha256"]


# ---------------------------------------------------------------- envelope


def test_envelope_with_the_project():
    envelope = project_envelope()
    assert envelope.as_dict() == EXPECTED["envelope"]
    assert envelope.sig == EXPECTED["envelope_sig"]
    assert envelope.body_sha256 == EXPECTED["body_sha256"]
    assert set(EXPECTED["envelope"]) == {*wire.ENVELOPE_FIELDS, "sig"}
    parsed = Envelope.parse(copy.deepcopy(EXPECTED["envelope"]))
    parsed.verify([SENDER.signing_public])
    with pytest.raises(EnvelopeError) as excinfo:
        parsed.verify([RECIPIENT.signing_public])
    assert excinfo.value.reason == "bad_signature"


def test_envelope_independently():
    document = EXPECTED["envelope"]
    signed = rfc8785.dumps(without(document, "sig"))
    assert signed.decode("utf-8") == EXPECTED["envelope_signing_input"]
    assert hashlib.sha256(signed).hexdigest() == EXPECTED["envelope_signing_input_sha256"]
    assert document["sig"] == EXPECTED["envelope_sig"]
    verify_key = VerifyKey(unb64(EXPECTED["sender"]["signing_public_b64"]))
    verify_key.verify(signed, unb64(document["sig"]))
    # Ed25519 is deterministic: signing again gives the same bytes.
    seed = bytes.fromhex(INPUTS["sender"]["signing_seed_hex"])
    assert b64(SigningKey(seed).sign(signed).signature) == EXPECTED["envelope_sig"]
    # The envelope carries exactly the inputs.
    expected_fields = {
        "v": 1,
        "id": INPUTS["id"],
        "kind": INPUTS["kind"],
        "sender": INPUTS["sender"]["node_id"],
        "recipient": INPUTS["recipient"]["node_id"],
        "seq": INPUTS["seq"],
        "sent_at": INPUTS["sent_at"],
        "in_reply_to": INPUTS["in_reply_to"],
        "body": EXPECTED["body"],
    }
    assert without(document, "sig") == expected_fields


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("v", 2),
        ("id", "0194694c-5e3b-7570-9ab3-4ae4b69aeced"),
        ("kind", "core.ping"),
        ("sender", "xx.example"),
        ("recipient", "xx.example"),
        ("seq", 2),
        ("sent_at", "2025-01-15T09:30:00.123457Z"),
        ("in_reply_to", "0194694c-5e3b-7570-9ab3-4ae4b69aecee"),
        ("body", EXPECTED["body"][:-4] + "AAA="),
    ],
)
def test_the_signature_covers_every_field(field, value):
    document = {**EXPECTED["envelope"], field: value}
    verify_key = VerifyKey(unb64(EXPECTED["sender"]["signing_public_b64"]))
    with pytest.raises(BadSignatureError):
        verify_key.verify(rfc8785.dumps(without(document, "sig")), unb64(document["sig"]))
    with pytest.raises(EnvelopeError):
        wire.verify_document(document, wire.ENVELOPE_FIELDS, [SENDER.signing_public])


# ---------------------------------------------------------------- receipt


def test_receipt_with_the_project():
    receipt = wire.make_receipt(
        Envelope.parse(copy.deepcopy(EXPECTED["envelope"])),
        INPUTS["receipt_status"],
        INPUTS["receipt_reason"],
        wire.parse_time(INPUTS["received_at"]),
        RECIPIENT.signing_key,
    )
    assert receipt == EXPECTED["receipt"]
    assert set(receipt) == {*wire.RECEIPT_FIELDS, "sig"}
    wire.verify_receipt(
        copy.deepcopy(EXPECTED["receipt"]),
        message_id=INPUTS["id"],
        sender=SENDER.node_id,
        recipient=RECIPIENT.node_id,
        seq=INPUTS["seq"],
        body_hash=EXPECTED["body_sha256"],
        keys=[RECIPIENT.signing_public],
    )
    with pytest.raises(EnvelopeError):
        wire.verify_receipt(
            copy.deepcopy(EXPECTED["receipt"]),
            message_id=INPUTS["id"],
            sender=SENDER.node_id,
            recipient=RECIPIENT.node_id,
            seq=INPUTS["seq"],
            body_hash=EXPECTED["body_sha256"],
            keys=[SENDER.signing_public],  # signed by the recipient, not the sender
        )


def test_receipt_independently():
    receipt = EXPECTED["receipt"]
    assert without(receipt, "sig") == {
        "v": 1,
        "type": "accord.receipt",
        "message_id": INPUTS["id"],
        "kind": INPUTS["kind"],
        "sender": INPUTS["sender"]["node_id"],
        "recipient": INPUTS["recipient"]["node_id"],
        "seq": INPUTS["seq"],
        "body_sha256": hashlib.sha256(EXPECTED["body"].encode("ascii")).hexdigest(),
        "status": INPUTS["receipt_status"],
        "reason": INPUTS["receipt_reason"],
        "received_at": INPUTS["received_at"],
    }
    signed = rfc8785.dumps(without(receipt, "sig"))
    assert signed.decode("utf-8") == EXPECTED["receipt_signing_input"]
    assert hashlib.sha256(signed).hexdigest() == EXPECTED["receipt_signing_input_sha256"]
    assert receipt["sig"] == EXPECTED["receipt_sig"]
    VerifyKey(unb64(EXPECTED["recipient"]["signing_public_b64"])).verify(
        signed, unb64(receipt["sig"])
    )
    seed = bytes.fromhex(INPUTS["recipient"]["signing_seed_hex"])
    assert b64(SigningKey(seed).sign(signed).signature) == EXPECTED["receipt_sig"]


# ---------------------------------------------------------------- prose


def test_the_documented_rejection_statuses_match_the_inbox():
    text = DOC.read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", text, re.MULTILINE))
    assert {reason: int(status) for reason, status in documented.items()} == (
        inbox.REJECTION_STATUS
    )


def test_the_documented_kinds_are_the_registered_ones():
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z0-9_]+\.[a-z0-9_.-]+)`$", text, re.MULTILINE))
    assert documented == set(kinds.names())
