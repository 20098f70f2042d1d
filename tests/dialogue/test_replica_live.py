"""The dialogue record repaired between two live nodes (issue 11, "Replicas
that never split"), over real HTTP with separate databases.

cn.test keeps a dialogue with us.test: cn records the round, proposes an
outcome both sign, opens a disagreement and sets a commitment; us names its
delegation and states its position. Then each node's copy of a part the other
writes is broken behind the application's back: on us, the text of cn's
outcome; on cn, us's position and us's delegation. One `accord requests
reconcile` on cn finds all three: us asks cn for its outcome, and sends cn its
own position and delegation. Both nodes then show the same record again, and
each audits the repairs it applied."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialogue.test_signed_outcomes import (
    API,
    DELIVERY_SECONDS,
    Pair,
    Side,
    new_pair,
    sides,  # noqa: F401  (the module's fixture, used here too)
)
from tests.live import LiveNode, wait_until

pytestmark = pytest.mark.live

REPAIRED = "federation:replica:repaired"


def behind_the_back(node: LiveNode, code: str) -> None:
    """Run ORM code in the node's own database, past every service and audit."""
    node.accord("manage", "shell", "-c", "from accord.dialogue.models import *; " + code)


def record(side: Side, dialogue_id: str) -> dict[str, Any]:
    """The record as `side` shows it, less what each node measures for itself
    (a commitment's indicators read that node's own requests, per agency and
    party too)."""
    view = side.view(dialogue_id)
    for commitment in view["commitments"]:
        del commitment["indicators"], commitment["overdue"]
        del commitment["by_agency"], commitment["by_party"]
    return view


def repaired_keys(side: Side) -> set[str]:
    response = side.auditor.get("/api/v1/audit/events", params={"action": REPAIRED, "limit": 1000})
    assert response.status_code == 200, response.text
    return {event["target_id"] for event in response.json()["items"]}


def build(pair: Pair) -> dict[str, str]:
    """The record described above, once both nodes hold all of it."""
    cn, us = pair.cn, pair.us
    outcome = pair.propose(topic="narcotics")
    pair.agreed(outcome)
    delegation = {"people": [{"role": "co_chair", "name": "Jeff Sessions", "title": "AG"}]}
    assert us.ca.put(f"{API}/rounds/{pair.round_id}/delegation", json=delegation).is_success
    disagreement = cn.post(
        f"/dialogues/{pair.dialogue_id}/disagreements",
        {"topic": "cybersecurity", "issue_en": "How attribution is established"},
    )["id"]
    wait_until(
        lambda: us.view(pair.dialogue_id)["disagreements"],
        DELIVERY_SECONDS,
        what="us.test to receive the disagreement",
    )
    position = {"text_en": "Attribution may rest on national technical means."}
    assert us.ca.put(f"{API}/disagreements/{disagreement}/position", json=position).is_success
    cn.post(
        f"/outcomes/{outcome}/commitments",
        {"title_en": "Answer narcotics requests", "owner_node": us.id, "due_date": "2030-06-30"},
    )

    def complete() -> bool:
        view = record(cn, pair.dialogue_id)
        [held] = view["disagreements"]
        return (
            bool(view["rounds"][0]["delegations"] and held["positions"] and view["commitments"])
            and record(us, pair.dialogue_id) == view
        )

    wait_until(complete, DELIVERY_SECONDS, what="both nodes to hold the whole record")
    return {"outcome": outcome, "disagreement": disagreement}


def test_each_node_s_broken_copy_is_repaired_from_the_part_s_owner(sides):  # noqa: F811
    cn, us = sides
    pair = new_pair(cn, us)
    ids = build(pair)
    before = record(cn, pair.dialogue_id)
    outcome_key = f"dialogue.outcome:{ids['outcome']}"
    position_key = f"dialogue.position:{ids['disagreement']}/{us.id}"
    delegation_key = f"dialogue.delegation:{pair.round_id}/{us.id}"
    assert not {outcome_key} & repaired_keys(us)
    assert not {position_key, delegation_key} & repaired_keys(cn)

    behind_the_back(
        us.node,
        f"OutcomeVersion.objects.filter(outcome_id={ids['outcome']!r}).update(text_en='Tampered')",
    )
    behind_the_back(
        cn.node,
        f"Position.objects.filter(disagreement_id={ids['disagreement']!r}, node={us.id!r})"
        f".delete(); DelegateEntry.objects.filter(round_id={pair.round_id!r}, node={us.id!r})"
        ".delete()",
    )
    broken_cn, broken_us = record(cn, pair.dialogue_id), record(us, pair.dialogue_id)
    assert broken_us["outcomes"][0]["versions"][0]["text_en"] == "Tampered"
    assert broken_cn["disagreements"][0]["positions"] == {}
    assert broken_cn["rounds"][0]["delegations"] == []

    out = cn.node.accord("requests", "reconcile", us.id).stdout
    assert us.id in out

    wait_until(
        lambda: record(cn, pair.dialogue_id) == record(us, pair.dialogue_id) == before,
        DELIVERY_SECONDS,
        what="both nodes to show the record as it was",
    )
    # The outcome is agreed again on us: both signatures verify on the text restored.
    [version] = us.view(pair.dialogue_id)["outcomes"][0]["versions"]
    assert version["status"] == "agreed"
    # Each node audits the repairs it applied, naming the part.
    assert outcome_key in repaired_keys(us)
    assert {position_key, delegation_key} <= repaired_keys(cn)
