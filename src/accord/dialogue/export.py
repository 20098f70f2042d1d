"""A dialogue's record as one JSON file that anyone can verify offline: every
outcome version with the content both nodes signed, their signatures, and the
public keys (with fingerprints to compare out of band). `accord dialogue
verify FILE` recomputes each content hash and checks each signature, naming
every broken item."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accord.core.identity import this_node
from accord.dialogue import signing
from accord.dialogue.models import Dialogue, OutcomeSignature

FORMAT = "accord.dialogue.export/1"


def fingerprint(public_key_b64: str) -> str:
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()


def export_dialogue(dialogue: Dialogue) -> dict[str, Any]:
    node = this_node()
    own = [node.signing_key, node.previous_signing_key]
    keys = {
        node.node_id: [base64.b64encode(bytes(k.verify_key)).decode() for k in own if k],
        **{
            peer.node_id: [k for k in (peer.signing_key, peer.previous_signing_key) if k]
            for peer in dialogue.peers.all()
        },
    }
    # Keys a node signed with before it rotated: each signature was checked
    # against the key pinned for that node when it arrived.
    for node_id, key in (
        OutcomeSignature.objects.filter(version__outcome__round__dialogue=dialogue)
        .values_list("node", "public_key")
        .distinct()
    ):
        if node_id in keys and key not in keys[node_id]:
            keys[node_id].append(key)
    rounds = list(dialogue.rounds.order_by("number"))
    return {
        "format": FORMAT,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "exported_by": node.node_id,
        "nodes": {
            n: [{"public_key": k, "fingerprint": fingerprint(k)} for k in ks]
            for n, ks in keys.items()
        },
        "dialogue": {
            "id": str(dialogue.pk),
            "track": dialogue.track,
            "title_en": dialogue.title_en,
            "title_zh": dialogue.title_zh,
            "parties": sorted(keys),
        },
        "rounds": [
            {
                "id": str(r.pk),
                "number": r.number,
                "date": r.date.isoformat(),
                "venue_en": r.venue_en,
                "venue_zh": r.venue_zh,
                "topics": r.topics,
                "delegations": [
                    {"node": d.node, "role": d.role, "name": d.name, "title": d.title}
                    for d in r.delegates.all()
                ],
            }
            for r in rounds
        ],
        "outcomes": [
            {
                "id": str(o.pk),
                "round": str(o.round_id),
                "round_number": o.round.number,
                "topic": o.topic,
                "proposed_by": o.author_node,
                # Whose signatures make it agreed: the round's co-chairing nodes.
                "required_signers": list(signing.required_signers(r)),
                "versions": [
                    {
                        "version": v.version,
                        "text_en": v.text_en,
                        "text_zh": v.text_zh,
                        "content_sha256": v.content_sha256,
                        "signatures": [signing.signature_fields(s) for s in v.signatures.all()],
                    }
                    for v in o.versions.order_by("version")
                ],
            }
            for r in rounds
            for o in r.outcomes.order_by("created_at")
        ],
    }


@dataclass(frozen=True)
class Finding:
    item: str
    ok: bool
    detail: str


def _content(document: dict[str, Any], outcome: dict[str, Any], version: dict[str, Any]) -> dict:
    """The signed content of one version, rebuilt from the file alone."""
    dialogue = document["dialogue"]
    return signing.signed_content(
        dialogue=dialogue["id"],
        track=dialogue["track"],
        round_id=outcome["round"],
        round_number=outcome["round_number"],
        outcome=outcome["id"],
        topic=outcome["topic"],
        version=version["version"],
        proposed_by=outcome["proposed_by"],
        text_en=version["text_en"],
        text_zh=version["text_zh"],
    )


def verify(document: dict[str, Any], trusted: dict[str, set[str]] | None = None) -> list[Finding]:
    """Every outcome version: content hash, each signature, and whether every
    node it needs (its round's co-chairing nodes) signed it. A malformed file
    is one finding, not an exception.

    The file lists the keys it was signed with; `trusted` (node -> SHA-256
    fingerprints held out of band) limits each named node to keys with those
    fingerprints, so a file re-signed with a forger's keys fails."""
    try:
        if document.get("format") != FORMAT:
            return [Finding("file", False, f"not an {FORMAT} file")]
        keys = {n: {k["public_key"] for k in ks} for n, ks in document["nodes"].items()}
        untrusted = []
        for node, wanted in (trusted or {}).items():
            listed = keys.get(node, set())
            keys[node] = {k for k in listed if fingerprint(k) in wanted}
            untrusted += [
                Finding(
                    f"key of {node}",
                    False,
                    f"fingerprint {fingerprint(k)} is not one you trust for it",
                )
                for k in sorted(listed - keys[node])
            ]
        parties = set(document["dialogue"]["parties"])
        if len(parties) < 2 or not parties <= set(keys):
            return [Finding("file", False, "a dialogue has two or more parties, each with keys")]
        return untrusted + [
            f
            for o in document["outcomes"]
            for v in o["versions"]
            for f in _verify_version(document, o, v, keys, _required(document, o, parties))
        ]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return [Finding("file", False, f"malformed export: {exc!r}")]


def _required(document: dict, outcome: dict, parties: set[str]) -> set[str]:
    """Whose signatures the outcome needs: the file's list (every party when it
    has none), never fewer than two nodes nor fewer than the round's co-chairs."""
    listed = set(outcome.get("required_signers") or parties)
    chairs = {
        d["node"]
        for r in document["rounds"]
        if r["id"] == outcome["round"]
        for d in r["delegations"]
        if d["role"] == "co_chair"
    }
    if len(listed) < 2 or not listed <= parties or not chairs <= listed:
        return parties
    return listed


def _verify_version(
    document: dict, outcome: dict, version: dict, keys: dict[str, set[str]], parties: set[str]
) -> list[Finding]:
    name = (
        f"round {outcome['round_number']} outcome {outcome['topic']} ({outcome['id']}) "
        f"version {version['version']}"
    )
    expected = signing.content_hash(_content(document, outcome, version))
    if expected != version["content_sha256"]:
        return [Finding(name, False, "its text does not match the SHA-256 that was signed")]
    findings, good = [], set()
    for signature in version["signatures"]:
        who = f"{name}, signature of {signature.get('node')}"
        if signature.get("public_key") not in keys.get(signature.get("node"), set()):
            findings.append(
                Finding(who, False, "signed with a key not listed (or not trusted) for that node")
            )
        elif not signing.verify_signature(signature, expected):
            findings.append(Finding(who, False, "the signature does not verify"))
        else:
            good.add(signature["node"])
            findings.append(Finding(who, True, f"valid ({signature.get('signer_name')})"))
    state = (
        "agreed"
        if parties <= good
        else "not agreed: signed by " + (", ".join(sorted(good)) or "nobody")
    )
    findings.append(Finding(name, True, state))
    return findings
