"""docs/evidence.md's test vector, recomputed from its inputs.

The document holds fenced blocks tagged `vector:<name>`: the inputs (seeds,
item, records, export) and every value derived from them. This test reads
the inputs from the document, derives the values again, partly through
Accord's code and partly from first principles (rfc8785, PyNaCl, hashlib,
AESGCM), and compares them with the document's blocks, so the document and
the code cannot drift apart. To print the blocks after a deliberate format
change: PYTHONPATH=src:. python -m tests.evidence.test_vector"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.signing import SigningKey, VerifyKey

from accord.evidence import bulk_wire, bundle, custody

DOC = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"
BLOCK = re.compile(r"^```[a-z]* vector:([a-z0-9-]+)\n(.*?)^```$", re.S | re.M)
JSON_BLOCKS = {"keys", "content", "record-hashes", "at-rest", "bulk-part"}


def doc_blocks() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        assert name not in found, f"vector:{name} appears twice"
        found[name] = body.rstrip("\n")
    return found


def at(text: str) -> datetime:
    return custody.parse_time(text)


def compute(inputs: dict[str, Any]) -> dict[str, str]:
    """Every derived block, as the document shows it."""
    keys = {node: SigningKey(bytes.fromhex(seed)) for node, seed in inputs["seeds"].items()}
    public = {node: bytes(key.verify_key) for node, key in keys.items()}
    content = inputs["content"].encode("utf-8")
    sha = hashlib.sha256(content).hexdigest()
    item = inputs["item"]

    records: list[custody.Record] = []
    last: dict[str, custody.Record] = {}
    for step in inputs["records"]:
        node = step["node"]
        record = custody.make_record(
            item=item["id"],
            sha256=sha,
            node=node,
            prev=last.get(node),
            event=step["event"],
            at=at(step["at"]),
            actor=step["actor"],
            reason=step["reason"],
            details=step["details"],
            signing_key=keys[node],
        )
        records.append(record)
        last[node] = record
    stored = custody.chain_order(records)

    export = inputs["export"]
    nodes = {
        node: {**entry, "signing_key": public[node]} for node, entry in inputs["nodes"].items()
    }
    source = bundle.ItemSource(
        **{field: item[field] for field in item},
        sha256=sha,
        size=len(content),
        open=lambda: iter([content]),
        records=records,
    )
    archive = io.BytesIO()
    manifest = bundle.write_bundle(
        archive,
        items=[source],
        nodes=nodes,
        exporter=export["exporter"],
        actor=export["actor"],
        signing_key=keys[export["exporter"]],
        created_at=at(export["created_at"]),
    )
    with zipfile.ZipFile(archive) as opened:
        manifest_bytes = opened.read(bundle.MANIFEST)
        signature = opened.read(bundle.SIGNATURE)
        custody_file = opened.read(f"custody/{item['id']}.jsonl")
    assert manifest_bytes == rfc8785.dumps(manifest)

    rest = inputs["at_rest"]
    cipher = AESGCM(bytes.fromhex(rest["key"]))
    chunks = []
    for chunk in rest["chunks"]:
        index, last_flag = chunk["index"], chunk["last"]
        nonce = b"\0\0\0\0" + struct.pack(">Q", index)
        aad = b"accord-evidence-v1" + struct.pack(">Q", index) + bytes([last_flag])
        plain = chunk["plaintext"].encode("utf-8")
        chunks.append(
            {
                "index": index,
                "last": last_flag,
                "nonce": nonce.hex(),
                "aad": aad.hex(),
                "ciphertext_and_tag": cipher.encrypt(nonce, plain, aad).hex(),
            }
        )

    def pretty(value: Any) -> str:
        return json.dumps(value, indent=2, ensure_ascii=False)

    # The item's one stored chunk is its one part (section 7.6), PUT by cn.mps;
    # the part is named by the SHA-256 of its one chunk's tag (its last 16 bytes).
    part = bytes.fromhex(chunks[0]["ciphertext_and_tag"])
    named = hashlib.sha256(part[-16:]).hexdigest()
    path = bulk_wire.PART_PATH.format(item=item["id"], index=0)
    headers = bulk_wire.sign_request(
        keys["cn.mps"], "PUT", path, "cn.mps", "us.doj", at(inputs["bulk_at"]), named
    )
    document = bulk_wire.request_document("PUT", path, "cn.mps", "us.doj", inputs["bulk_at"], named)
    bulk_part = {
        "part_bytes": bulk_wire.part_bytes_for(len(content), 1_048_576, 8 * 1_048_576),
        "parts": [named],
        "signed": rfc8785.dumps(document).decode("utf-8"),
        "headers": headers,
    }

    return {
        "keys": pretty(
            {
                node: {
                    "signing_key": bundle.b64(key),
                    "fingerprint": hashlib.sha256(key).hexdigest(),
                }
                for node, key in public.items()
            }
        ),
        "content": pretty(
            {"size": len(content), "sha256": sha, "chunks": manifest["items"][0]["chunks"]}
        ),
        "record-0-signed-bytes": rfc8785.dumps(records[0].unsigned()).decode("utf-8"),
        "custody": custody_file.decode("utf-8").rstrip("\n"),
        "record-hashes": pretty(
            [{"node": r.node, "seq": r.seq, "hash": r.hash, "sig": r.sig} for r in stored]
        ),
        "manifest": manifest_bytes.decode("utf-8"),
        "manifest-sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "manifest-sig": signature.decode("utf-8"),
        "at-rest": pretty({"key": rest["key"], "chunks": chunks}),
        "bulk-part": pretty(bulk_part),
    }


@pytest.fixture(scope="module")
def blocks() -> dict[str, str]:
    return doc_blocks()


@pytest.fixture(scope="module")
def computed(blocks) -> dict[str, str]:
    return compute(json.loads(blocks["inputs"]))


def test_the_document_has_every_vector_block(blocks, computed):
    assert set(blocks) == {"inputs", *computed}


@pytest.mark.parametrize(
    "name",
    [
        "keys",
        "content",
        "record-0-signed-bytes",
        "custody",
        "record-hashes",
        "manifest",
        "manifest-sha256",
        "manifest-sig",
        "at-rest",
        "bulk-part",
    ],
)
def test_each_documented_value_is_what_the_inputs_give(blocks, computed, name):
    if name in JSON_BLOCKS:
        assert json.loads(blocks[name]) == json.loads(computed[name])
    else:
        assert blocks[name] == computed[name]


def test_the_documented_values_hold_from_first_principles(blocks):
    """Checks a second implementation would make: each line is RFC 8785 bytes,
    each signature verifies over the record without 'sig', each prev is the
    sha256 of the line before in its chain, the manifest signature verifies."""
    keys = {
        node: base64.b64decode(entry["signing_key"])
        for node, entry in json.loads(blocks["keys"]).items()
    }
    previous: dict[str, str] = {}
    for line in blocks["custody"].split("\n"):
        record = json.loads(line)
        assert rfc8785.dumps(record) == line.encode("utf-8")
        unsigned = {key: value for key, value in record.items() if key != "sig"}
        VerifyKey(keys[record["node"]]).verify(
            rfc8785.dumps(unsigned), base64.b64decode(record["sig"])
        )
        assert record["prev"] == previous.get(record["node"], "")
        previous[record["node"]] = hashlib.sha256(line.encode("utf-8")).hexdigest()
    manifest = blocks["manifest"].encode("utf-8")
    assert hashlib.sha256(manifest).hexdigest() == blocks["manifest-sha256"]
    signature = json.loads(blocks["manifest-sig"])
    VerifyKey(keys[signature["node"]]).verify(manifest, base64.b64decode(signature["sig"]))
    heads = json.loads(manifest)["items"][0]["custody_heads"]
    assert {node: head["hash"] for node, head in heads.items()} == previous
    # A part request (section 7.6): the signed document is RFC 8785 of the
    # headers' values, and cn.mps's signature over it verifies.
    part = json.loads(blocks["bulk-part"])
    signed = json.loads(part["signed"])
    headers = part["headers"]
    assert rfc8785.dumps(signed) == part["signed"].encode("utf-8")
    assert (signed["sender"], signed["at"], signed["sha256"]) == (
        headers["Accord-Node"],
        headers["Accord-Time"],
        headers["Accord-Content-SHA256"],
    )
    assert signed["sha256"] == part["parts"][0]
    # The part is named by the SHA-256 of its chunks' tags: the last 16 bytes of
    # the one sealed chunk of the at-rest block.
    sealed = json.loads(blocks["at-rest"])["chunks"][0]["ciphertext_and_tag"]
    assert part["parts"][0] == hashlib.sha256(bytes.fromhex(sealed)[-16:]).hexdigest()
    VerifyKey(keys["cn.mps"]).verify(
        part["signed"].encode("utf-8"), base64.b64decode(headers["Accord-Signature"])
    )


def test_a_bundle_of_the_vector_verifies(blocks, tmp_path):
    """The documented files, zipped by hand as the format says, verify."""
    inputs = json.loads(blocks["inputs"])
    manifest = json.loads(blocks["manifest"])
    item = manifest["items"][0]
    path = tmp_path / "vector.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(item["file"], inputs["content"].encode("utf-8"))
        archive.writestr(item["custody"], blocks["custody"] + "\n")
        archive.writestr(bundle.MANIFEST, blocks["manifest"])
        archive.writestr(bundle.SIGNATURE, blocks["manifest-sig"])
    trust = {node: entry["fingerprint"] for node, entry in json.loads(blocks["keys"]).items()}
    result = bundle.verify_bundle(path, trust)
    assert result.ok and (result.items, result.records) == (1, len(inputs["records"])), result


def test_the_documented_codes_are_the_verifiers_in_its_order():
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## 4. Verifying") : text.index("## 5. ")]
    assert tuple(re.findall(r"^\| `([a-z_]+)` \| ", section, re.M)) == bundle.CODES


if __name__ == "__main__":
    for block_name, text in compute(json.loads(doc_blocks()["inputs"])).items():
        language = "json" if block_name in JSON_BLOCKS else "text"
        print(f"```{language} vector:{block_name}\n{text}\n```\n")
