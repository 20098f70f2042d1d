"""A round co-chaired by three agencies, in a real browser (issue 16): on the
three live agencies (cn.mps, us.doj, us.dhs), a dialogue cn.mps keeps with both
US agencies, whose round each agency co-chairs, and an outcome signed by cn.mps
and us.doj, all set up through the JSON API. us.dhs's central authority opens
the round page: three co-chairs from three agencies, and the outcome not yet
signed by its own agency; on the dialogue page it co-signs, and the outcome is
agreed, on its node and on the other two."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.live import TEST_PASSWORD, LiveNode, _sign_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live]

API = "/api/v1/dialogue"
SECONDS = 60
CO_CHAIRS = {
    "cn.mps": ("Guo Shengkun", "State Councilor and Minister of Public Security"),
    "us.doj": ("Jeff Sessions", "Attorney General"),
    "us.dhs": ("Elaine Duke", "Acting Secretary of Homeland Security"),
}
AGENCIES = {
    "cn.mps": "Ministry of Public Security (China)",
    "us.doj": "Department of Justice (United States)",
    "us.dhs": "Department of Homeland Security (United States)",
}


@pytest.fixture(scope="module")
def sessions(three_agencies) -> Iterator[dict[str, tuple[LiveNode, httpx.Client]]]:
    with ExitStack() as stack:
        yield {
            node.node_id: (
                node,
                _sign_in(
                    stack.enter_context(node.client()), node, "central_authority", TEST_PASSWORD
                ),
            )
            for node in three_agencies
        }


def call(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, API + path, json=body)
    assert response.is_success, f"{path}: {response.status_code} {response.text}"
    return response.json()


def held(client: httpx.Client, dialogue_id: str) -> dict[str, Any] | None:
    response = client.get(f"{API}/dialogues/{dialogue_id}")
    return response.json() if response.status_code == 200 else None


def test_a_round_page_shows_three_co_chairs_and_the_agency_yet_to_sign(sessions, officer_in):
    cn = sessions["cn.mps"][1]
    dialogue_id = call(
        cn,
        "POST",
        "/dialogues",
        {
            "peers": ["us.doj", "us.dhs"],
            "track": "law_enforcement_cyber",
            "title_en": f"Three-agency dialogue {uuid.uuid4().hex[:6]}",
            "title_zh": "三机构对话",
        },
    )["dialogue"]["id"]
    round_id = call(
        cn,
        "POST",
        f"/dialogues/{dialogue_id}/rounds",
        {"number": 1, "date": "2017-10-04", "venue_en": "Washington, D.C.", "topics": []},
    )["id"]
    for node, (name, title) in CO_CHAIRS.items():
        client = sessions[node][1]
        wait_until(lambda c=client: (held(c, dialogue_id) or {}).get("rounds"), SECONDS)
        people = [{"role": "co_chair", "name": name, "title": title}]
        call(client, "PUT", f"/rounds/{round_id}/delegation", {"people": people})
    outcome_id = call(
        cn,
        "POST",
        f"/rounds/{round_id}/outcomes",
        {"topic": "immigration", "text_en": "Cooperate on returns.", "text_zh": "合作遣返。"},
    )["id"]
    doj = sessions["us.doj"][1]
    wait_until(lambda: (held(doj, dialogue_id) or {}).get("outcomes"), SECONDS)
    call(doj, "POST", f"/outcomes/{outcome_id}/signatures", {"version": 1})

    def ready_on_dhs() -> bool:
        view = held(sessions["us.dhs"][1], dialogue_id)
        if not view or not view["outcomes"] or len(view["rounds"][0]["co_chairs"]) < 3:
            return False
        return len(view["outcomes"][0]["versions"][0]["signatures"]) == 2

    wait_until(ready_on_dhs, SECONDS, what="us.dhs to hold the co-chairs and two signatures")

    dhs_node = sessions["us.dhs"][0]
    page = officer_in(dhs_node, "central_authority", "en")
    page.goto(f"{dhs_node.url}/dialogue/rounds/{round_id}/")
    chairs = page.get_by_test_id("co-chair")
    expect(chairs).to_have_count(3)
    for node, (name, _title) in CO_CHAIRS.items():
        chair = page.locator(f"[data-testid=co-chair][data-node='{node}']")
        expect(chair).to_contain_text(name)
        expect(chair).to_contain_text(AGENCIES[node])
    awaiting = page.get_by_test_id("round-outcome")
    expect(awaiting).to_have_attribute("data-status", "proposed")
    expect(awaiting.get_by_test_id("awaiting")).to_have_text(
        "Not yet signed by: " + AGENCIES["us.dhs"]
    )

    page.goto(f"{dhs_node.url}/dialogue/{dialogue_id}/")
    outcome = page.get_by_test_id("outcome")
    expect(outcome).to_have_attribute("data-status", "proposed")
    outcome.get_by_test_id("sign-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("outcome")).to_have_attribute("data-status", "agreed")
    page.goto(f"{dhs_node.url}/dialogue/rounds/{round_id}/")
    expect(page.get_by_test_id("round-outcome")).to_have_attribute("data-status", "agreed")

    def agreed_everywhere() -> bool:
        for _node, client in sessions.values():
            view = held(client, dialogue_id)
            if not view or view["outcomes"][0]["versions"][0]["status"] != "agreed":
                return False
        return True

    wait_until(agreed_everywhere, SECONDS, what="the outcome agreed on all three nodes")
