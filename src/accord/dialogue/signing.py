"""What the co-chairing nodes sign, and how a signature is checked. An outcome
version is agreed when every co-chairing agency's node has an Ed25519 signature
over the same canonical content (RFC 8785). The content and the statement a
node signs are each built here and nowhere else: the services sign with
them, the inbound handlers check with them, and the offline verifier (`accord
dialogue verify`, export.py) rebuilds them from an export file without any
database."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from accord.core.canonical import canonical_bytes
from accord.core.identity import this_node
from accord.dialogue.fields import now_iso
from accord.dialogue.models import Dialogue, Outcome, OutcomeSignature, OutcomeVersion, Round
from accord.dialogue.types import DelegationRole
from accord.federation.parties import party_key

CONTENT_TAG = "accord.dialogue.outcome/1"
SIGNATURE_TAG = "accord.dialogue.signature/1"
# A signature as stored, sent and exported: these fields, in this order.
SIGNATURE_FIELDS = ("node", "signer_name", "signer_title", "signed_at", "public_key", "signature")


def signed_content(
    *,
    dialogue: str,
    track: str,
    round_id: str,
    round_number: int,
    outcome: str,
    topic: str,
    version: int,
    proposed_by: str,
    text_en: str,
    text_zh: str,
) -> dict[str, Any]:
    """What both nodes sign: the canonical (RFC 8785) form of this dictionary."""
    return {
        "accord": CONTENT_TAG,
        "dialogue": dialogue,
        "track": track,
        "round": round_id,
        "round_number": round_number,
        "outcome": outcome,
        "topic": topic,
        "version": version,
        "proposed_by": proposed_by,
        "text_en": text_en,
        "text_zh": text_zh,
    }


def outcome_content(outcome: Outcome, version: int, text_en: str, text_zh: str) -> dict[str, Any]:
    """The signed content of a version of an outcome held here (or about to be)."""
    round_ = outcome.round
    return signed_content(
        dialogue=str(round_.dialogue_id),
        track=round_.dialogue.track,
        round_id=str(round_.pk),
        round_number=round_.number,
        outcome=str(outcome.pk),
        topic=outcome.topic,
        version=version,
        proposed_by=outcome.author_node,
        text_en=text_en,
        text_zh=text_zh,
    )


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def signature_statement(sha256: str, node: str, name: str, title: str, at: str) -> bytes:
    """What a node's key signs: the content's hash and who signed it, when."""
    return canonical_bytes(
        {
            "accord": SIGNATURE_TAG,
            "content_sha256": sha256,
            "node": node,
            "signer_name": name,
            "signer_title": title,
            "signed_at": at,
        }
    )


def sign(sha256: str, name: str, title: str) -> dict[str, str]:
    """This node's signature over the content `sha256`, as the fields to store.
    Signed exactly as stored: what is kept is what verifies."""
    node = this_node()
    name, at, title = name[:300], now_iso(), (title or "").strip()[:300]
    statement = signature_statement(sha256, node.node_id, name, title, at)
    return {
        "node": node.node_id,
        "signer_name": name,
        "signer_title": title,
        "signed_at": at,
        "public_key": base64.b64encode(node.signing_public).decode(),
        "signature": base64.b64encode(node.signing_key.sign(statement).signature).decode(),
    }


def signature_fields(signature: OutcomeSignature) -> dict[str, str]:
    return {name: getattr(signature, name) for name in SIGNATURE_FIELDS}


def verify_signature(signature: OutcomeSignature | Mapping[str, Any], sha256: str) -> bool:
    s = signature if isinstance(signature, Mapping) else signature_fields(signature)
    try:
        statement = signature_statement(
            sha256, s["node"], s["signer_name"], s["signer_title"], s["signed_at"]
        )
        VerifyKey(base64.b64decode(s["public_key"])).verify(
            statement, base64.b64decode(s["signature"])
        )
    except (BadSignatureError, ValueError, KeyError, TypeError):
        return False
    return True


def signed_by(version: OutcomeVersion, node: str) -> bool:
    return version.signatures.filter(node=node).exists()


def valid_signers(version: OutcomeVersion) -> set[str]:
    """The nodes whose signature verifies over this very content."""
    return {s.node for s in version.signatures.all() if verify_signature(s, version.content_sha256)}


def status_of(version: OutcomeVersion, required: Sequence[str]) -> str:
    """agreed: every required node's valid signature over this very content."""
    signed = valid_signers(version)
    if set(required) <= signed:
        return "agreed"
    return "proposed" if signed else "unsigned"


def missing(version: OutcomeVersion, required: Sequence[str]) -> list[str]:
    """The required nodes that have not signed this version yet."""
    signed = valid_signers(version)
    return [node for node in required if node not in signed]


def parties(dialogue: Dialogue) -> tuple[str, ...]:
    """Every participating node: this one and the dialogue's peers, sorted."""
    return tuple(sorted({this_node().node_id, *(p.node_id for p in dialogue.peers.all())}))


def party_of(dialogue: Dialogue) -> dict[str, str]:
    """Each participating node's party, as its identity says (compared by party_key)."""
    here = this_node()
    found = {p.node_id: party_key(p.party) for p in dialogue.peers.all()}
    return {here.node_id: party_key(here.party), **found}


def required_signers(round_: Round) -> tuple[str, ...]:
    """Whose signatures make an outcome of this round agreed: every node with a
    co-chair in the round's delegations. While the co-chairs recorded do not
    yet span two parties (or none are recorded), every participant of the
    dialogue: an outcome is never agreed by one side alone."""
    dialogue = round_.dialogue
    sides = party_of(dialogue)
    chairs = {
        e.node
        for e in round_.delegates.all()
        if e.role == DelegationRole.CO_CHAIR and e.node in sides
    }
    if len({sides[node] for node in chairs}) >= 2:
        return tuple(sorted(chairs))
    return tuple(sorted(sides))
