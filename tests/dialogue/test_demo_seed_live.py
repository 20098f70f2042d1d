"""The demo's reference dialogue seeded on the three live agencies with us.dhs
(issue 16): the 2017 round co-chaired by Guo Shengkun (cn.mps), Jeff Sessions
(us.doj) and Elaine Duke (us.dhs), every outcome signed by all three nodes and
agreed on each, and the immigration commitment owned by us.dhs."""

from __future__ import annotations

import io
from typing import Any

import pytest

from accord.core.democlient import DEMO_TOTP_SECRET
from accord.dialogue.demo import OUTCOMES, seed
from tests.live import TEST_PASSWORD, signed_in, wait_until

pytestmark = pytest.mark.live

API = "/api/v1/dialogue"


def test_the_seed_with_us_dhs_has_three_co_chairs_and_three_signatures(three_agencies):
    for node in three_agencies:
        node.accord(
            "createuser",
            "central",
            "--role",
            "central_authority",
            "--password-stdin",
            "--totp-secret",
            DEMO_TOTP_SECRET,
            stdin=TEST_PASSWORD + "\n",
        )
    cn, doj, dhs = three_agencies
    out = io.StringIO()
    seed(cn.url, doj.url, TEST_PASSWORD, out, dhs_url=dhs.url)
    assert "loaded" in out.getvalue()

    with signed_in(dhs, "central_authority") as client:
        [found] = [
            d
            for d in client.get(f"{API}/dialogues").json()
            if d["title_en"] == "China–US Law Enforcement and Cybersecurity Dialogue"
        ]

        def everything_agreed() -> dict[str, Any] | None:
            view = client.get(f"{API}/dialogues/{found['id']}").json()
            statuses = [o["versions"][-1]["status"] for o in view["outcomes"]]
            return view if statuses == ["agreed"] * len(OUTCOMES) else None

        view = wait_until(everything_agreed, 60, what="every outcome agreed on us.dhs")
    [round_] = view["rounds"]
    assert {(c["node"], c["name"]) for c in round_["co_chairs"]} == {
        ("cn.mps", "郭声琨 Guo Shengkun"),
        ("us.doj", "Jeff Sessions"),
        ("us.dhs", "Elaine Duke"),
    }
    assert len(view["outcomes"]) == len(OUTCOMES)
    for outcome in view["outcomes"]:
        assert outcome["required_signers"] == ["cn.mps", "us.dhs", "us.doj"]
        [version] = outcome["versions"]
        assert {s["node"] for s in version["signatures"]} == {"cn.mps", "us.doj", "us.dhs"}
        assert version["status"] == "agreed"
    owners = {c["title_en"]: c["owner_node"] for c in view["commitments"]}
    assert owners["Verify the nationality of persons to be repatriated"] == "us.dhs"
