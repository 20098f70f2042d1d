"""Outcomes signed by both nodes, between two live nodes over real HTTP.

cn.test proposes (and signs) an outcome, us.test co-signs it, and both nodes
then show it agreed; an amendment is a new version that needs both signatures
again while the old version keeps its own. The signed record, exported from
either node, verifies offline with `accord dialogue verify` (also where no node
exists at all), and any tampering with it is caught and named."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import TEST_PASSWORD, LiveNode, _sign_in, ensure_peered, identity_of, wait_until

pytestmark = pytest.mark.live

API = "/api/v1/dialogue"
DELIVERY_SECONDS = 60  # generous: other suites may load the machine
REFUSED = "dialogue:record:refused"
ACCORD = Path(sys.executable).parent / "accord"
VERIFY_SECONDS = 60

V1_EN = "Both sides will answer each other's cybercrime requests within 30 days."
V1_ZH = "双方将在30天内答复对方的网络犯罪请求。"
V2_EN = "Both sides will answer each other's cybercrime requests within 20 days."
V2_ZH = "双方将在20天内答复对方的网络犯罪请求。"


@dataclass
class Side:
    node: LiveNode
    ca: httpx.Client  # central authority: holds dialogue.manage and dialogue.sign
    auditor: httpx.Client

    @property
    def id(self) -> str:
        return self.node.node_id

    def view(self, dialogue_id: str) -> dict[str, Any]:
        response = self.ca.get(f"{API}/dialogues/{dialogue_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def versions(self, dialogue_id: str, outcome_id: str) -> list[dict[str, Any]]:
        """The outcome's versions as this node shows them ([] if it has not got it)."""
        for outcome in self.view(dialogue_id)["outcomes"]:
            if outcome["id"] == outcome_id:
                return outcome["versions"]
        return []

    def post(self, path: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
        response = self.ca.post(API + path, json=body)
        assert response.status_code == expect, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def audit_count(self, action: str) -> int:
        response = self.auditor.get("/api/v1/audit/events", params={"action": action, "limit": 1})
        assert response.status_code == 200, response.text
        return response.json()["count"]


@dataclass
class Pair:
    cn: Side
    us: Side
    dialogue_id: str
    round_id: str

    def propose(self, text_en: str = V1_EN, text_zh: str = V1_ZH, topic: str = "cybersecurity"):
        body = {
            "topic": topic,
            "text_en": text_en,
            "text_zh": text_zh,
            "signer_title": "State Councilor and Minister of Public Security",
        }
        created = self.cn.post(f"/rounds/{self.round_id}/outcomes", body)
        assert created["version"] == 1
        return created["id"]

    def statuses(self, side: Side, outcome_id: str) -> list[str]:
        """The status of each version, oldest first, as `side` shows it."""
        return [v["status"] for v in side.versions(self.dialogue_id, outcome_id)]

    def wait_for(self, side: Side, outcome_id: str, statuses: list[str]) -> list[dict[str, Any]]:
        wait_until(
            lambda: self.statuses(side, outcome_id) == statuses,
            DELIVERY_SECONDS,
            what=f"{side.id} to show {outcome_id} as {statuses}",
        )
        return side.versions(self.dialogue_id, outcome_id)

    def cosign(self, outcome_id: str, version: int) -> dict[str, Any]:
        return self.us.post(
            f"/outcomes/{outcome_id}/signatures",
            {"version": version, "signer_title": "Attorney General"},
        )

    def agreed(self, outcome_id: str, versions: int = 1) -> None:
        """Co-signed on us for each version in turn, and agreed on both nodes."""
        for number in range(1, versions + 1):
            if number > 1:
                self.cn.post(
                    f"/outcomes/{outcome_id}/versions",
                    {"text_en": f"{V1_EN} (v{number})", "text_zh": f"{V1_ZH}（第{number}版）"},
                )
            expected = ["agreed"] * (number - 1)
            self.wait_for(self.us, outcome_id, [*expected, "proposed"])
            self.cosign(outcome_id, number)
            for side in (self.cn, self.us):
                self.wait_for(side, outcome_id, [*expected, "agreed"])


def signers(version: dict[str, Any]) -> set[str]:
    return {s["node"] for s in version["signatures"]}


def new_pair(cn: Side, us: Side) -> Pair:
    """A new dialogue cn.test keeps with us.test, with one round, known on both."""
    dialogue = cn.post(
        "/dialogues",
        {
            "peer": us.id,
            "track": "law_enforcement_cyber",
            "title_en": "China–US Law Enforcement and Cybersecurity Dialogue",
            "title_zh": "中美执法及网络安全对话",
        },
    )["dialogue"]
    round_ = cn.post(
        f"/dialogues/{dialogue['id']}/rounds",
        {
            "number": 1,
            "date": "2017-10-04",
            "venue_en": "Washington, D.C.",
            "venue_zh": "华盛顿",
            "topics": ["cybersecurity", "narcotics"],
        },
    )
    wait_until(
        lambda: (
            us.ca.get(f"{API}/dialogues/{dialogue['id']}").status_code == 200
            and us.view(dialogue["id"])["rounds"]
        ),
        DELIVERY_SECONDS,
        what="us.test to receive the dialogue and its round",
    )
    return Pair(cn, us, dialogue["id"], round_["id"])


@pytest.fixture(scope="module")
def sides(two_live_nodes) -> Iterator[tuple[Side, Side]]:
    """The central authority's and the auditor's sessions on cn.test and us.test."""
    cn_node, us_node = two_live_nodes
    ensure_peered(cn_node, us_node)
    with ExitStack() as stack:

        def session(node: LiveNode, role: str) -> httpx.Client:
            return _sign_in(stack.enter_context(node.client()), node, role, TEST_PASSWORD)

        cn, us = (
            Side(n, session(n, "central_authority"), session(n, "auditor"))
            for n in (cn_node, us_node)
        )
        yield cn, us


@pytest.fixture(scope="module")
def pair(sides) -> Pair:
    return new_pair(*sides)


# ---------------------------------------------------------------- signing


def test_an_outcome_is_agreed_once_both_nodes_signed_it_and_an_amendment_signs_again(pair):
    cn, us = pair.cn, pair.us
    outcome_id = pair.propose()

    # The proposer signed it already; the partner has not yet.
    [v1] = pair.wait_for(cn, outcome_id, ["proposed"])
    assert signers(v1) == {cn.id}
    [v1_at_us] = pair.wait_for(us, outcome_id, ["proposed"])
    assert (v1_at_us["text_en"], v1_at_us["text_zh"]) == (V1_EN, V1_ZH)
    assert v1_at_us["content_sha256"] == v1["content_sha256"]

    signed = pair.cosign(outcome_id, 1)
    assert (signed["node"], signed["version"]) == (us.id, 1)
    for side in (cn, us):
        [v1] = pair.wait_for(side, outcome_id, ["agreed"])
        assert signers(v1) == {cn.id, us.id}

    # The proposing side amends: version 2, which only cn has signed so far.
    amended = cn.post(f"/outcomes/{outcome_id}/versions", {"text_en": V2_EN, "text_zh": V2_ZH})
    assert amended["version"] == 2
    for side in (cn, us):
        v1, v2 = pair.wait_for(side, outcome_id, ["agreed", "proposed"])
        assert (v2["version"], v2["text_en"], v2["text_zh"]) == (2, V2_EN, V2_ZH)
        assert v2["content_sha256"] == amended["content_sha256"] != v1["content_sha256"]
        assert signers(v2) == {cn.id}
        # Version 1 stays as it was, with both its signatures.
        assert (v1["version"], v1["text_en"], v1["text_zh"]) == (1, V1_EN, V1_ZH)
        assert signers(v1) == {cn.id, us.id}

    pair.cosign(outcome_id, 2)
    for side in (cn, us):
        v1, v2 = pair.wait_for(side, outcome_id, ["agreed", "agreed"])
        assert signers(v1) == signers(v2) == {cn.id, us.id}
    # Both replicas hold the same signatures, byte for byte.
    assert cn.versions(pair.dialogue_id, outcome_id) == us.versions(pair.dialogue_id, outcome_id)


def test_the_partner_cannot_amend_an_outcome_it_did_not_propose(pair):
    cn, us = pair.cn, pair.us
    outcome_id = pair.propose()
    pair.wait_for(us, outcome_id, ["proposed"])
    refused_before = us.audit_count(REFUSED)

    response = us.ca.post(
        f"{API}/outcomes/{outcome_id}/versions",
        json={"text_en": "Rewritten by us", "text_zh": "由美方改写"},
    )

    assert response.status_code == 403, response.text
    assert "proposed an outcome amends it" in response.json()["detail"]
    assert us.audit_count(REFUSED) == refused_before + 1
    for side in (cn, us):
        [v1] = side.versions(pair.dialogue_id, outcome_id)
        assert (v1["text_en"], v1["status"]) == (V1_EN, "proposed")


def test_a_node_signs_a_version_once(pair):
    cn, us = pair.cn, pair.us
    outcome_id = pair.propose()
    cn_refused, us_refused = cn.audit_count(REFUSED), us.audit_count(REFUSED)

    # cn signed when it proposed: a second signature is refused.
    again = cn.ca.post(f"{API}/outcomes/{outcome_id}/signatures", json={"version": 1})
    assert again.status_code == 403, again.text
    assert "already signed" in again.json()["detail"]

    pair.wait_for(us, outcome_id, ["proposed"])
    pair.cosign(outcome_id, 1)
    twice = us.ca.post(f"{API}/outcomes/{outcome_id}/signatures", json={"version": 1})
    assert twice.status_code == 403, twice.text
    assert "already signed" in twice.json()["detail"]

    assert (cn.audit_count(REFUSED), us.audit_count(REFUSED)) == (cn_refused + 1, us_refused + 1)
    for side in (cn, us):
        [v1] = pair.wait_for(side, outcome_id, ["agreed"])
        assert sorted(s["node"] for s in v1["signatures"]) == sorted([cn.id, us.id])


def test_an_old_version_cannot_be_signed(pair):
    cn, us = pair.cn, pair.us
    outcome_id = pair.propose()
    cn.post(f"/outcomes/{outcome_id}/versions", {"text_en": V2_EN, "text_zh": V2_ZH})
    pair.wait_for(us, outcome_id, ["proposed", "proposed"])
    refused_before = us.audit_count(REFUSED)

    old = us.ca.post(f"{API}/outcomes/{outcome_id}/signatures", json={"version": 1})

    assert old.status_code == 403, old.text
    assert "Only the latest version can be signed" in old.json()["detail"]
    assert us.audit_count(REFUSED) == refused_before + 1
    # Nor does a version that does not exist get a signature.
    missing = us.ca.post(f"{API}/outcomes/{outcome_id}/signatures", json={"version": 3})
    assert missing.status_code == 422, missing.text
    pair.cosign(outcome_id, 2)
    for side in (cn, us):
        v1, _ = pair.wait_for(side, outcome_id, ["proposed", "agreed"])
        assert signers(v1) == {cn.id}


def test_only_the_side_that_owes_a_commitment_reports_on_it(pair):
    cn, us = pair.cn, pair.us
    outcome_id = pair.propose(topic="narcotics")
    pair.agreed(outcome_id)
    commitment = cn.post(
        f"/outcomes/{outcome_id}/commitments",
        {
            "title_en": "Locate fugitives on request",
            "title_zh": "应请求查找逃犯",
            "owner_node": cn.id,
            "due_date": "2030-06-30",
            "indicators": [{"code": "assistance.locations_completed", "target": 5}],
        },
    )

    def status_at(side: Side) -> str | None:
        found = [
            c for c in side.view(pair.dialogue_id)["commitments"] if c["id"] == commitment["id"]
        ]
        return found[0]["status"] if found else None

    wait_until(lambda: status_at(us) == "open", DELIVERY_SECONDS, what="us to get the commitment")
    refused_before = us.audit_count(REFUSED)
    response = us.ca.post(f"{API}/commitments/{commitment['id']}/status", json={"status": "done"})
    assert response.status_code == 403, response.text
    assert us.audit_count(REFUSED) == refused_before + 1
    assert status_at(us) == status_at(cn) == "open"

    cn.post(f"/commitments/{commitment['id']}/status", {"status": "in_progress"}, expect=200)
    wait_until(
        lambda: status_at(us) == "in_progress", DELIVERY_SECONDS, what="us to get cn's report"
    )


# ---------------------------------------------------------------- export and offline verification


@dataclass
class Exports:
    files: dict[str, Path]  # node id -> the file its CLI wrote
    twice: str  # agreed in two versions
    once: str  # agreed in one version
    pending: str  # proposed by cn, not co-signed

    def read(self, node: str) -> dict[str, Any]:
        return json.loads(self.files[node].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def exports(sides, tmp_path_factory) -> Exports:
    """A dialogue of its own, exported by each node's CLI once both hold the
    same signed outcomes (in this order): one agreed in two versions, one
    agreed in one, one only proposed."""
    pair = new_pair(*sides)
    twice, once = pair.propose(), pair.propose(topic="narcotics")
    pending = pair.propose()
    pair.agreed(twice, versions=2)
    pair.agreed(once)
    pair.wait_for(pair.us, pending, ["proposed"])
    folder = tmp_path_factory.mktemp("exports")
    files = {}
    for side in sides:
        path = folder / f"{side.id}.json"
        result = side.node.accord("dialogue", "export", pair.dialogue_id, "--out", str(path))
        assert f"written to {path}" in result.stdout
        files[side.id] = path
    return Exports(files, twice, once, pending)


def outsider_verify(path: Path, empty: Path) -> subprocess.CompletedProcess:
    """`accord dialogue verify` where there is no node: an empty data directory
    and none of the suite's ACCORD_* settings (no database either)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["ACCORD_DATA_DIR"] = str(empty)
    return subprocess.run(
        [str(ACCORD), "dialogue", "verify", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=VERIFY_SECONDS,
        check=False,
    )


def published_fingerprint(node: LiveNode) -> str:
    return identity_of(node)["keys"]["signing"]["fingerprint"]


@pytest.mark.parametrize("exporter", ["cn.test", "us.test"])
def test_an_export_from_either_node_verifies_offline(sides, exports, exporter, tmp_path):
    cn, us = sides
    path = exports.files[exporter]
    document = exports.read(exporter)
    assert document["format"] == "accord.dialogue.export/1"
    assert document["exported_by"] == exporter
    assert document["dialogue"]["parties"] == sorted([cn.id, us.id])
    versions = {o["id"]: [v["version"] for v in o["versions"]] for o in document["outcomes"]}
    assert versions == {exports.twice: [1, 2], exports.once: [1], exports.pending: [1]}
    empty = tmp_path / "no-node"
    empty.mkdir()

    runs = [
        cn.node.accord("dialogue", "verify", str(path), check=False),
        us.node.accord("dialogue", "verify", str(path), check=False),
        outsider_verify(path, empty),
    ]

    twice = f"round 1 outcome cybersecurity ({exports.twice})"
    pending = f"round 1 outcome cybersecurity ({exports.pending}) version 1"
    for result in runs:
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        # 4 versions: 7 signatures (the pending one has only cn's) and 4 verdicts.
        assert "All 11 checks passed." in out
        assert "FAIL" not in out
        assert f"OK   {twice} version 1: agreed" in out
        assert f"OK   {twice} version 2: agreed" in out
        assert f"OK   {twice} version 2, signature of {us.id}: valid" in out
        assert f"OK   {pending}: not agreed: signed by {cn.id}" in out
        # Each key's fingerprint, to compare with the one its node publishes.
        for side in (cn, us):
            assert f"key of {side.id}: SHA-256 {published_fingerprint(side.node)}" in out
    assert list(empty.iterdir()) == []  # verifying wrote nothing there


def test_both_nodes_export_the_same_signed_record(exports):
    cn, us = exports.read("cn.test"), exports.read("us.test")
    for key in ("format", "nodes", "dialogue", "rounds", "outcomes"):
        assert cn[key] == us[key], key


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _version(document: dict, outcome_id: str, number: int) -> dict[str, Any]:
    outcome = next(o for o in document["outcomes"] if o["id"] == outcome_id)
    return next(v for v in outcome["versions"] if v["version"] == number)


def _signature(version: dict, node: str) -> dict[str, Any]:
    return next(s for s in version["signatures"] if s["node"] == node)


def tamper(kind: str, document: dict, exports: Exports) -> tuple[str, str]:
    """Spoil the document in place; returns the (first) item verify must name, and why."""
    twice = f"round 1 outcome cybersecurity ({exports.twice})"
    v2 = _version(document, exports.twice, 2)
    if kind == "english text":
        v2["text_en"] = V2_EN.replace("20 days", "60 days")
        return f"{twice} version 2", "its text does not match the SHA-256 that was signed"
    if kind == "chinese text":
        v2["text_zh"] = V2_ZH.replace("20", "60")
        return f"{twice} version 2", "its text does not match the SHA-256 that was signed"
    if kind == "version number":
        _version(document, exports.once, 1)["version"] = 2
        name = f"round 1 outcome narcotics ({exports.once}) version 2"
        return name, "its text does not match the SHA-256 that was signed"
    if kind == "signature":
        signature = _signature(v2, "us.test")
        signature["signature"] = _flip(signature["signature"])
        return f"{twice} version 2, signature of us.test", "the signature does not verify"
    if kind == "signer":
        _signature(v2, "cn.test")["signer_title"] = "Somebody else"
        return f"{twice} version 2, signature of cn.test", "the signature does not verify"
    if kind == "public key":
        # cn's signature now carries us's key, which is not listed for cn.
        _signature(v2, "cn.test")["public_key"] = _signature(v2, "us.test")["public_key"]
        return (
            f"{twice} version 2, signature of cn.test",
            "signed with a key not listed (or not trusted) for that node",
        )
    if kind == "listed keys":
        nodes = document["nodes"]
        nodes["cn.test"], nodes["us.test"] = nodes["us.test"], nodes["cn.test"]
        # Every signature fails; the first one is cn's proposal of version 1.
        return (
            f"{twice} version 1, signature of cn.test",
            "signed with a key not listed (or not trusted) for that node",
        )
    if kind == "format":
        del document["format"]
        return "file", "not an accord.dialogue.export/1 file"
    raise AssertionError(kind)


TAMPERING = [
    "english text",
    "chinese text",
    "version number",
    "signature",
    "signer",
    "public key",
    "listed keys",
    "format",
]


@pytest.mark.parametrize("kind", TAMPERING)
def test_a_tampered_export_fails_verification_and_names_the_broken_item(exports, kind, tmp_path):
    document = exports.read("cn.test")
    item, reason = tamper(kind, document, exports)
    spoiled = tmp_path / "spoiled.json"
    spoiled.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    empty = tmp_path / "no-node"
    empty.mkdir()

    result = outsider_verify(spoiled, empty)

    assert result.returncode != 0, result.stdout
    assert f"FAIL {item}: {reason}" in result.stdout, result.stdout
    assert f"do not verify; first: {item}: {reason}" in result.stderr, result.stderr
    assert "checks passed" not in result.stdout


def test_a_dropped_signature_leaves_the_version_not_agreed(exports, tmp_path):
    """Removing a signature spoils nothing that was signed, but verify no
    longer calls the version agreed, and says whose signature is left."""
    document = exports.read("us.test")
    v1 = _version(document, exports.once, 1)
    v1["signatures"] = [s for s in v1["signatures"] if s["node"] == "cn.test"]
    path = tmp_path / "dropped.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    empty = tmp_path / "no-node"
    empty.mkdir()

    out = outsider_verify(path, empty).stdout

    name = f"round 1 outcome narcotics ({exports.once}) version 1"
    assert f"OK   {name}: not agreed: signed by cn.test" in out
    assert f"{name}: agreed" not in out


def test_verify_refuses_what_is_not_an_export(tmp_path):
    empty = tmp_path / "no-node"
    empty.mkdir()
    for name, text in (("garbage.json", "{not json"), ("list.json", "[1, 2]")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = outsider_verify(path, empty)
        assert result.returncode != 0, (name, result.stdout)
        assert str(path) in result.stderr, result.stderr
