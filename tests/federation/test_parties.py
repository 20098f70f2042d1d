"""A party (a state) has one or more agency nodes, one of which holds its
central authority; each node's signed identity says which (issue 16)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError
from nacl.exceptions import BadSignatureError

from accord.core import identity
from accord.core.canonical import canonical_bytes
from accord.federation import parties
from accord.federation.models import Peer
from accord.federation.peering import holds_central_authority


def test_an_agency_node_says_so_in_its_signed_identity(tmp_path):
    made = identity.write_identity(
        tmp_path, "us.dhs", "United States", "Homeland Security", central_authority=False
    )
    assert json.loads((tmp_path / "node.json").read_text())["central_authority"] is False
    read = identity.read_identity(tmp_path)
    assert read.central_authority is False
    document = read.public_document()
    assert document["central_authority"] is False
    assert holds_central_authority(document) is False
    # The signature covers it: the same document claiming the authority fails.
    forged = {key: value for key, value in document.items() if key != "signature"}
    forged["central_authority"] = True
    with pytest.raises(BadSignatureError):
        made.signing_key.verify_key.verify(
            canonical_bytes(forged), base64.b64decode(document["signature"])
        )


def test_a_node_made_before_parties_had_agencies_holds_the_central_authority(tmp_path):
    identity.write_identity(tmp_path, "cn.mps", "China", "Ministry of Public Security")
    node = json.loads((tmp_path / "node.json").read_text())
    del node["central_authority"]
    (tmp_path / "node.json").write_text(json.dumps(node))
    assert identity.read_identity(tmp_path).central_authority is True
    assert holds_central_authority({}) is True


@pytest.mark.parametrize("value", ["yes", 1, None, []])
def test_an_identity_that_says_neither_yes_nor_no_is_refused(value):
    with pytest.raises(ValidationError):
        holds_central_authority({"central_authority": value})


def test_init_makes_an_agency_node_on_request(tmp_path):
    env = {
        "ACCORD_DATA_DIR": str(tmp_path / "node"),
        "DJANGO_SETTINGS_MODULE": "accord.settings",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [
            *(sys.executable, "-m", "accord.cli", "init", "--node-id", "us.dhs"),
            *("--party", "United States", "--agency", "Homeland Security"),
            "--no-central-authority",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "not the central authority" in result.stdout
    assert identity.read_identity(tmp_path / "node").central_authority is False


def _peer(node_id: str, party: str, central: bool) -> Peer:
    return Peer.objects.create(
        node_id=node_id,
        url=f"http://{node_id}.invalid",
        party=party,
        agency=node_id,
        central_authority=central,
        signing_key="x",
        encryption_key="x",
        fingerprint="0" * 64,
    )


@pytest.mark.django_db
def test_the_other_side_is_the_other_party_and_its_central_authority_is_known():
    # This node (tests/conftest.py) is xx.test of Testland.
    doj = _peer("us.doj", "United States", True)
    dhs = _peer("us.dhs", " united  States", False)
    sibling = _peer("xx.customs", "Testland", False)
    assert parties.other_side(doj) and parties.other_side(dhs)
    assert parties.same_party(sibling)
    assert parties.agencies_of("United States") == [doj, dhs]
    assert parties.central_authority_of("United States") == doj
    assert parties.central_authority_of("Testland") is None
    assert parties.own_agencies() == [sibling]


@pytest.mark.live
def test_three_agencies_of_two_parties_know_each_others_party_and_role(three_agencies):
    cn, doj, dhs = three_agencies
    seen = {
        node.node_id: {
            row["node_id"]: (row["party"], row["central_authority"])
            for row in json.loads(node.accord("peer", "list", "--json").stdout)
        }
        for node in three_agencies
    }
    assert seen[cn.node_id]["us.doj"] == ("United States", True)
    assert seen[cn.node_id]["us.dhs"] == ("United States", False)
    assert seen[doj.node_id]["us.dhs"] == ("United States", False)
    assert seen[dhs.node_id]["us.doj"] == ("United States", True)
    assert seen[dhs.node_id]["cn.mps"] == ("China", True)
    table = dhs.accord("peer", "list").stdout
    assert "central authority" in table and "China" in table
