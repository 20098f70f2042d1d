"""The reference dialogue for the demo federation (DOMAIN.md, public facts): the
first round of the Law Enforcement and Cybersecurity Dialogue, Washington,
4 October 2017, its co-chairs and the four consensus topics, proposed by one
node and co-signed by the other through the channel, plus commitments linked
to indicators and one managed disagreement."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, TextIO

from accord.core.democlient import SeedError, SignedIn

WAIT_SECONDS = 30


def _until(found: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.3)
    raise SeedError(f"the partner node did not receive {what} in time")


OUTCOMES = [
    (
        "counter_terrorism",
        "Both sides will deepen counter-terrorism cooperation, including the exchange of "
        "information on terrorist suspects and financing.",
        "双方将深化反恐合作，包括交换恐怖嫌疑人员及恐怖融资信息。",
    ),
    (
        "narcotics",
        "Both sides will strengthen cooperation against drug trafficking, including fentanyl "
        "and its precursors.",
        "双方将加强禁毒合作，包括打击芬太尼及其前体化学品的贩运。",
    ),
    (
        "cybersecurity",
        "Both sides will cooperate on cybercrime cases and on network protection, and answer "
        "each other's requests promptly.",
        "双方将在网络犯罪案件和网络保护方面开展合作，并及时答复对方的请求。",
    ),
    (
        "immigration",
        "Both sides will cooperate on illegal immigration and the repatriation of nationals "
        "without legal status.",
        "双方将在非法移民及遣返无合法身份人员方面开展合作。",
    ),
]


def _rounds(node: SignedIn, dialogue_id: str) -> Any:
    """The dialogue's rounds on `node`, once it holds the dialogue. Asked of the
    list first, which is empty while the dialogue is on its way (the dialogue's
    own address would answer 404, a warning in the demo's log)."""
    listed = node.call("GET", "/api/v1/dialogue/dialogues")
    if not any(d["id"] == dialogue_id for d in listed):
        return []
    return node.call("GET", f"/api/v1/dialogue/dialogues/{dialogue_id}")["rounds"]


def seed(cn_url: str, us_url: str, password: str, out: TextIO, *, dhs_url: str = "") -> None:
    """The reference dialogue between cn.mps (cn_url) and us.doj (us_url); with
    dhs_url, us.dhs takes part too (issue 16: the 2017 round was co-chaired by
    Guo Shengkun; Jeff Sessions and Elaine Duke), names its own co-chair, signs
    every outcome with the other two and owns the immigration commitment."""
    cn, us = SignedIn(cn_url, "central", password), SignedIn(us_url, "central", password)
    dhs = SignedIn(dhs_url, "central", password) if dhs_url else None
    dialogue = cn.call(
        "POST",
        "/api/v1/dialogue/dialogues",
        {
            "peer": "us.doj",
            "peers": ["us.dhs"] if dhs else [],
            "track": "law_enforcement_cyber",
            "title_en": "China–US Law Enforcement and Cybersecurity Dialogue",
            "title_zh": "中美执法及网络安全对话",
        },
        expect=201,
    )["dialogue"]
    path = f"/api/v1/dialogue/dialogues/{dialogue['id']}"
    round_id = cn.call(
        "POST",
        f"{path}/rounds",
        {
            "number": 1,
            "date": "2017-10-04",
            "venue_en": "Washington, D.C.",
            "venue_zh": "华盛顿",
            "topics": [
                "counter_terrorism",
                "narcotics",
                "cybersecurity",
                "immigration",
                "fugitives",
            ],
            "documents": [{"title": "Joint press release (public)", "reference": ""}],
        },
        expect=201,
    )["id"]
    cn.call(
        "PUT",
        f"/api/v1/dialogue/rounds/{round_id}/delegation",
        {
            "people": [
                {
                    "role": "co_chair",
                    "name": "郭声琨 Guo Shengkun",
                    "title": "State Councilor and Minister of Public Security",
                }
            ]
        },
    )
    sessions = {"role": "co_chair", "name": "Jeff Sessions", "title": "Attorney General"}
    duke = {
        "role": "co_chair",
        "name": "Elaine Duke",
        "title": "Acting Secretary of Homeland Security",
    }
    # Each agency names its own co-chair; without us.dhs, us.doj names both.
    delegations = [(us, [sessions, duke])] if dhs is None else [(us, [sessions]), (dhs, [duke])]
    for node, people in delegations:
        _until(partial(_rounds, node, dialogue["id"]), "the dialogue and its round")
        node.call("PUT", f"/api/v1/dialogue/rounds/{round_id}/delegation", {"people": people})
    ids = {}
    for topic, english, chinese in OUTCOMES:
        ids[topic] = cn.call(
            "POST",
            f"/api/v1/dialogue/rounds/{round_id}/outcomes",
            {
                "topic": topic,
                "text_en": english,
                "text_zh": chinese,
                "signer_title": "国务委员、公安部部长",
            },
            expect=201,
        )["id"]

    def arrived(node: SignedIn, outcome_id: str) -> bool:
        return any(x["id"] == outcome_id for x in node.call("GET", path)["outcomes"])

    signers = [(us, "Attorney General")]
    if dhs is not None:
        signers.append((dhs, "Acting Secretary of Homeland Security"))
    for topic, outcome_id in ids.items():
        for node, title in signers:
            _until(partial(arrived, node, outcome_id), f"the {topic} outcome")
            node.call(
                "POST",
                f"/api/v1/dialogue/outcomes/{outcome_id}/signatures",
                {"version": 1, "signer_title": title},
                expect=201,
            )
    commitments = [
        (
            ids["narcotics"],
            "us.doj",
            "2027-06-30",
            "Answer narcotics requests from the partner",
            "答复对方的禁毒协助请求",
            [{"code": "assistance.answered", "topic": "narcotics", "target": 10}],
        ),
        (
            ids["cybersecurity"],
            "us.doj",
            "2027-03-31",
            "Answer cybercrime requests within 30 days (median)",
            "网络犯罪请求答复时间中位数不超过30天",
            [
                {"code": "assistance.turnaround_median", "topic": "cybersecurity", "target": 720},
                {"code": "assistance.answered", "topic": "cybersecurity", "target": 12},
            ],
        ),
        (
            ids["cybersecurity"],
            "us.doj",
            "2026-06-30",
            "Honour preservation requests in time",
            "按时执行数据保全请求",
            [{"code": "assistance.preservation_on_time", "topic": "cybersecurity", "target": 100}],
        ),
        (
            ids["counter_terrorism"],
            "cn.mps",
            "2027-06-30",
            "Locate fugitives on the partner's request",
            "应对方请求查找逃犯",
            [{"code": "assistance.locations_completed", "target": 5}],
        ),
    ]
    if dhs is not None:
        commitments.append(
            (
                ids["immigration"],
                "us.dhs",
                "2027-06-30",
                "Verify the nationality of persons to be repatriated",
                "核实待遣返人员的国籍",
                [{"code": "assistance.answered", "target": 10}],
            )
        )
    for outcome_id, owner, due, english, chinese, links in commitments:
        cn.call(
            "POST",
            f"/api/v1/dialogue/outcomes/{outcome_id}/commitments",
            {
                "title_en": english,
                "title_zh": chinese,
                "owner_node": owner,
                "due_date": due,
                "confirm_past": True,  # some of the demo's commitments are already due
                "indicators": links,
            },
            expect=201,
        )
    issue = cn.call(
        "POST",
        f"{path}/disagreements",
        {
            "topic": "cybersecurity",
            "round_id": round_id,
            "issue_en": "What counts as a cyber attack, and how state responsibility is attributed",
            "issue_zh": "网络攻击的界定及国家责任的归属",
        },
        expect=201,
    )["id"]
    cn.call(
        "PUT",
        f"/api/v1/dialogue/disagreements/{issue}/position",
        {
            "text_en": "Attribution must rest on evidence shared through agreed channels.",
            "text_zh": "归因必须基于通过商定渠道分享的证据。",
        },
    )
    _until(lambda: us.call("GET", path)["disagreements"], "the disagreement")
    us.call(
        "PUT",
        f"/api/v1/dialogue/disagreements/{issue}/position",
        {
            "text_en": "Attribution may also rest on national technical means.",
            "text_zh": "归因也可以基于国家技术手段。",
        },
    )
    us.call(
        "POST",
        f"/api/v1/dialogue/disagreements/{issue}/status",
        {"status": "managed", "note": "Recorded; cooperation on cases continues."},
    )
    out.write("The reference dialogue and its first round are loaded (public facts).\n")
