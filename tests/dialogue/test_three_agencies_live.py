"""A dialogue of three agencies, over real HTTP with separate databases (issue
16): cn.mps keeps it with us.doj and us.dhs (two agencies of the other party).
The round is co-chaired by all three; an outcome cn.mps proposes is agreed only
once every co-chairing node has signed its very content, and until then each
node names the agency that has not signed yet. Every message fans out to all
three nodes, which end up with identical replicas; a commitment owned by us.dhs
is shown on all three and reported on by us.dhs alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.dialogue.test_signed_outcomes import API, DELIVERY_SECONDS, REFUSED, Side
from tests.live import TEST_PASSWORD, LiveNode, _sign_in, wait_until

pytestmark = pytest.mark.live

CO_CHAIRS = {
    "cn.mps": ("Guo Shengkun", "State Councilor and Minister of Public Security"),
    "us.doj": ("Jeff Sessions", "Attorney General"),
    "us.dhs": ("Elaine Duke", "Acting Secretary of Homeland Security"),
}
DHS = "Department of Homeland Security (United States)"


@pytest.fixture(scope="module")
def agencies(three_agencies) -> Iterator[dict[str, Side]]:
    """The central authority's and the auditor's sessions on each agency."""
    with ExitStack() as stack:

        def session(node: LiveNode, role: str) -> httpx.Client:
            return _sign_in(stack.enter_context(node.client()), node, role, TEST_PASSWORD)

        yield {
            n.node_id: Side(n, session(n, "central_authority"), session(n, "auditor"))
            for n in three_agencies
        }


def shared(view: dict[str, Any]) -> dict[str, Any]:
    """The record less what each node measures for itself (its own requests)."""
    for commitment in view["commitments"]:
        for key in ("indicators", "overdue", "targets_met", "by_agency", "by_party"):
            commitment.pop(key, None)
    return view


def held_by_all(sides: dict[str, Side], dialogue_id: str, ready: Any, what: str) -> None:
    def everywhere() -> bool:
        for side in sides.values():
            if side.ca.get(f"{API}/dialogues/{dialogue_id}").status_code != 200:
                return False
            if not ready(side.view(dialogue_id)):
                return False
        return True

    wait_until(everywhere, DELIVERY_SECONDS, what=what)


def version_of(view: dict[str, Any], outcome_id: str) -> dict[str, Any] | None:
    found = [o for o in view["outcomes"] if o["id"] == outcome_id]
    return found[0]["versions"][-1] if found and found[0]["versions"] else None


@pytest.fixture(scope="module")
def dialogue(agencies) -> dict[str, str]:
    """A dialogue of the three, with a round each co-chairs, held by all three."""
    cn = agencies["cn.mps"]
    suffix = uuid.uuid4().hex[:6]
    created = cn.post(
        "/dialogues",
        {
            "peer": "us.doj",
            "peers": ["us.dhs"],
            "track": "law_enforcement_cyber",
            "title_en": f"Law Enforcement and Cybersecurity Dialogue {suffix}",
            "title_zh": f"执法及网络安全对话 {suffix}",
        },
    )
    dialogue_id = created["dialogue"]["id"]
    assert [p["node"] for p in created["participants"]] == ["cn.mps", "us.dhs", "us.doj"]
    round_ = cn.post(
        f"/dialogues/{dialogue_id}/rounds",
        {"number": 1, "date": "2017-10-04", "venue_en": "Washington, D.C.", "topics": []},
    )
    held_by_all(agencies, dialogue_id, lambda v: v["rounds"], "all three to hold the round")
    for node, (name, title) in CO_CHAIRS.items():
        people = {"people": [{"role": "co_chair", "name": name, "title": title}]}
        response = agencies[node].ca.put(f"{API}/rounds/{round_['id']}/delegation", json=people)
        assert response.is_success, response.text
    held_by_all(
        agencies,
        dialogue_id,
        lambda v: len(v["rounds"][0]["co_chairs"]) == 3,
        "all three to hold the three co-chairs",
    )
    return {"dialogue": dialogue_id, "round": round_["id"]}


def test_the_round_has_three_co_chairs_from_three_agencies(agencies, dialogue):
    for side in agencies.values():
        [round_] = side.view(dialogue["dialogue"])["rounds"]
        chairs = {(c["node"], c["name"], c["agency"]) for c in round_["co_chairs"]}
        assert chairs == {
            ("cn.mps", "Guo Shengkun", "Ministry of Public Security (China)"),
            ("us.doj", "Jeff Sessions", "Department of Justice (United States)"),
            ("us.dhs", "Elaine Duke", DHS),
        }
    page = agencies["us.dhs"].ca.get(f"/dialogue/rounds/{dialogue['round']}/")
    assert page.status_code == 200
    for name, _title in CO_CHAIRS.values():
        assert name in page.text


def test_an_outcome_is_agreed_only_once_every_co_chairing_node_signed_it(agencies, dialogue):
    cn, doj, dhs = agencies["cn.mps"], agencies["us.doj"], agencies["us.dhs"]
    dialogue_id = dialogue["dialogue"]
    outcome_id = cn.post(
        f"/rounds/{dialogue['round']}/outcomes",
        {"topic": "fugitives", "text_en": "Cooperate on returns.", "text_zh": "合作遣返。"},
    )["id"]
    held_by_all(agencies, dialogue_id, lambda v: version_of(v, outcome_id), "all three to hold it")
    doj.post(f"/outcomes/{outcome_id}/signatures", {"version": 1})

    def awaiting_dhs(view: dict[str, Any]) -> bool:
        version = version_of(view, outcome_id)
        return bool(
            version
            and {s["node"] for s in version["signatures"]} == {"cn.mps", "us.doj"}
            and version["status"] == "proposed"
            and version["awaiting"] == [{"node": "us.dhs", "agency": DHS}]
        )

    held_by_all(agencies, dialogue_id, awaiting_dhs, "two signatures, us.dhs named as missing")
    page = cn.ca.get(f"/dialogue/rounds/{dialogue['round']}/")
    assert "Not yet signed by: " + DHS in page.text
    assert cn.ca.get(f"/dialogue/{dialogue_id}/").text.count(DHS) >= 1

    dhs.post(f"/outcomes/{outcome_id}/signatures", {"version": 1})
    held_by_all(
        agencies,
        dialogue_id,
        lambda v: version_of(v, outcome_id)["status"] == "agreed",
        "the outcome agreed on all three nodes",
    )
    # A node signs once: a second signature is refused, and audited.
    before = dhs.audit_count(REFUSED)
    again = dhs.ca.post(f"{API}/outcomes/{outcome_id}/signatures", json={"version": 1})
    assert again.status_code == 403, again.text
    assert dhs.audit_count(REFUSED) == before + 1


def test_an_amendment_needs_all_three_signatures_again(agencies, dialogue):
    cn, doj = agencies["cn.mps"], agencies["us.doj"]
    dialogue_id = dialogue["dialogue"]
    outcome_id = cn.post(
        f"/rounds/{dialogue['round']}/outcomes",
        {"topic": "narcotics", "text_en": "Exchange seizure data.", "text_zh": "交换缉获数据。"},
    )["id"]
    held_by_all(agencies, dialogue_id, lambda v: version_of(v, outcome_id), "all to hold it")
    doj.post(f"/outcomes/{outcome_id}/signatures", {"version": 1})
    cn.post(
        f"/outcomes/{outcome_id}/versions", {"text_en": "Exchange data.", "text_zh": "交换数据。"}
    )

    def v2_awaits_both(view: dict[str, Any]) -> bool:
        version = version_of(view, outcome_id)
        return bool(
            version
            and version["version"] == 2
            and version["status"] == "proposed"
            and [a["node"] for a in version["awaiting"]] == ["us.dhs", "us.doj"]
        )

    held_by_all(agencies, dialogue_id, v2_awaits_both, "v2 awaiting both US agencies")
    # us.doj's signature covers v1's content, not v2's: v1 cannot be signed any more.
    stale = agencies["us.dhs"].ca.post(
        f"{API}/outcomes/{outcome_id}/signatures", json={"version": 1}
    )
    assert stale.status_code == 403, stale.text


def test_a_commitment_owned_by_us_dhs_is_shown_and_reported_on_all_three(agencies, dialogue):
    cn, doj, dhs = agencies["cn.mps"], agencies["us.doj"], agencies["us.dhs"]
    dialogue_id = dialogue["dialogue"]
    outcome_id = cn.post(
        f"/rounds/{dialogue['round']}/outcomes",
        {"topic": "fugitives", "text_en": "Verify identities.", "text_zh": "核实身份。"},
    )["id"]
    held_by_all(agencies, dialogue_id, lambda v: version_of(v, outcome_id), "all to hold it")
    commitment = cn.post(
        f"/outcomes/{outcome_id}/commitments",
        {
            "title_en": "Verify the immigration status of returnees",
            "owner_node": "us.dhs",
            "due_date": "2030-06-30",
            "indicators": [{"code": "assistance.answered", "target": 5}],
        },
    )
    assert commitment["owner_agency"] == DHS
    assert {row["node"] for row in commitment["by_agency"]} == {"us.doj", "us.dhs"}
    assert [row["party"] for row in commitment["by_party"]] == ["United States"]

    def status_everywhere(status: str) -> Any:
        def check(view: dict[str, Any]) -> bool:
            found = [c for c in view["commitments"] if c["id"] == commitment["id"]]
            return (
                bool(found) and found[0]["owner_node"] == "us.dhs" and found[0]["status"] == status
            )

        return check

    held_by_all(agencies, dialogue_id, status_everywhere("open"), "the commitment on all three")
    refused = doj.ca.post(f"{API}/commitments/{commitment['id']}/status", json={"status": "done"})
    assert refused.status_code == 403, refused.text
    dhs.post(f"/commitments/{commitment['id']}/status", {"status": "in_progress"}, expect=200)
    held_by_all(
        agencies, dialogue_id, status_everywhere("in_progress"), "us.dhs's report on all three"
    )


def test_all_three_nodes_hold_identical_replicas(agencies, dialogue):
    """After every test above: the same record on each node."""
    dialogue_id = dialogue["dialogue"]

    def identical() -> bool:
        views = [shared(side.view(dialogue_id)) for side in agencies.values()]
        return all(view == views[0] for view in views[1:])

    wait_until(identical, DELIVERY_SECONDS, what="identical records on all three nodes")
