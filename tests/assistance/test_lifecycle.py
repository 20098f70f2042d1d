"""The whole life of a request between two live nodes, for every type of
request and every branch of the workflow (DOMAIN.md, "Assistance requests").

cn.test requests, us.test is requested. Every step is taken through the API by
the officer who owns it, and after every step both replicas are compared
(`Pair.step` waits until cn's and us's shared views are identical, with no
requesting-side step still waiting for its confirmation) and the history
checked: one event more, for that step, to the state the table says."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from accord.assistance.machine import TRANSITIONS
from tests.assistance.flow import DETAILS, Officers, Pair, act, attachment, file_arrives, get
from tests.live import ensure_peered, wait_until

pytestmark = pytest.mark.live

DUAL_CRIMINALITY = "dual_criminality"
# The types that are executed and answered with a response (locate_person also
# is, after its own screen: see its test).
ANSWERED_TYPES = sorted(TRANSITIONS["begin_execution"].types - {"locate_person"})
CONDITIONS = [{"kind": "speciality", "text": "Use only in case SH-2026-17"}]
GROUNDS = [{"ground": "essential_interests", "rationale": "Touches an ongoing security matter"}]


@pytest.fixture(scope="module")
def pair(two_live_nodes) -> Iterator[Pair]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        yield Pair(Officers(stack, cn, us), cn, us)


def moment(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def in_screening(pair: Pair, request_type: str, **overrides) -> str:
    request_id, _ = pair.new(request_type, **overrides)
    pair.step(request_id, "acknowledge", state="received")
    pair.step(request_id, "start_screening", state="screening")
    return request_id


def accepted(pair: Pair, request_type: str, **overrides) -> str:
    request_id = in_screening(pair, request_type, **overrides)
    pair.finding(request_id, DUAL_CRIMINALITY, True, "Fraud is an offence in both systems")
    pair.step(request_id, "accept", state="accepted")
    return request_id


def refused_in_step(
    pair: Pair, request_id: str, action: str, payload: dict | None, status: int
) -> dict:
    """The step is refused with `status` and neither replica changes."""
    before = pair.agreed(request_id)
    act(pair.owner(action), request_id, action, payload, expect=status)
    after = pair.agreed(request_id)
    assert after == before
    return after


def file_content(request_id: str, size: int) -> bytes:
    """Content unique to the request (files are stored by their hash)."""
    seed = f"{request_id} response records\n".encode()
    return (seed * (size // len(seed) + 1))[:size]


# ---------------------------------------------------------------- every type


@pytest.mark.parametrize("request_type", ANSWERED_TYPES)
def test_a_request_is_accepted_executed_answered_in_parts_and_closed(pair, request_type):
    request_id = pair.draft(request_type)
    act(pair.owner("send_for_validation"), request_id, "send_for_validation")
    act(pair.owner("validate"), request_id, "validate")
    # Until it is submitted, the request is the requesting node's alone.
    assert pair.us_ca.get(f"/api/v1/assistance/requests/{request_id}").status_code == 404
    view = pair.step(request_id, "submit", state="submitted")
    assert view["content"]["request_type"] == request_type
    assert [e["action"] for e in view["events"]] == [
        "create",
        "send_for_validation",
        "validate",
        "submit",
    ]
    view = pair.step(request_id, "acknowledge", state="received")
    assert view["received_at"] == view["events"][-1]["at"]
    # Evidence is executed within 90 days of the decision, not of receipt.
    from_decision = request_type == "general_evidence"
    assert view["decision_due"] and bool(view["response_due"]) != from_decision
    pair.step(request_id, "start_screening", state="screening")
    pair.finding(request_id, DUAL_CRIMINALITY, True, "The conduct is punishable in both")
    view = pair.step(request_id, "accept", state="accepted")
    assert view["decided_at"] == view["events"][-1]["at"]
    if from_decision:
        # 90 days to the same local time in New York, the requested side's zone.
        decided = moment(view["decided_at"]).astimezone(ZoneInfo("America/New_York"))
        assert moment(view["response_due"]) == decided + timedelta(days=90)
    pair.step(request_id, "begin_execution", state="in_execution")

    # More than one 512 KiB chunk: the file travels as an evidence item, in chunks.
    first = file_content(request_id, 700_000)
    view = pair.step(
        request_id,
        "respond_partially",
        {"text": "First records attached"},
        state="partially_executed",
        attachments=[attachment("part-1.csv", first)],
    )
    assert [(f["name"], f["size"]) for f in view["files"]] == [("part-1.csv", len(first))]
    second = file_content(request_id, 1_000)[::-1]
    view = pair.step(
        request_id,
        "respond",
        {"text": "The rest of the records"},
        state="responded",
        attachments=[attachment("part-2.txt", second)],
    )
    assert view["responded_at"] == view["events"][-1]["at"]
    assert [f["name"] for f in view["files"]] == ["part-1.csv", "part-2.txt"]
    for ref, data in zip(view["files"], (first, second), strict=True):
        assert file_arrives(pair.cn_ca, request_id, ref["sha256"]) == data

    view = pair.step(request_id, "close", state="closed")
    assert view["ended_at"] == view["events"][-1]["at"]
    assert [e["action"] for e in view["events"]][4:] == [
        "acknowledge",
        "start_screening",
        "accept",
        "begin_execution",
        "respond_partially",
        "respond",
        "close",
    ]
    assert [e["side"] for e in view["events"]][4:] == ["requested"] * 6 + ["requesting"]


def test_the_author_and_the_validating_prosecutor_follow_their_submitted_request(pair):
    request_id, _ = pair.new("general_evidence")
    for role in ("investigator", "prosecutor"):
        view = get(pair.officer(pair.cn, role), request_id)
        assert view["state"] == "submitted" and role in view["team"]
        assert view["actions"] == []  # after submission, the central authority acts


def test_locate_person_is_accepted_only_after_the_interpol_neutrality_screen(pair):
    request_id = in_screening(pair, "locate_person")
    pair.finding(request_id, DUAL_CRIMINALITY, True, "Fraud is an offence in both")
    refused_in_step(pair, request_id, "accept", {}, 422)  # not screened yet
    pair.finding(request_id, "interpol_art3", True, "Predominantly political at first sight")
    refused_in_step(pair, request_id, "accept", {}, 422)
    refused_in_step(pair, request_id, "accept_with_conditions", {"conditions": CONDITIONS}, 422)
    pair.finding(request_id, "interpol_art3", False, "Ordinary fraud; no political element")
    pair.step(request_id, "accept", state="accepted")
    pair.step(request_id, "begin_execution", state="in_execution")
    pair.step(
        request_id, "respond", {"text": "Last seen in Seattle, 2026-10-03"}, state="responded"
    )
    pair.step(request_id, "close", state="closed")


def test_preservation_is_held_extended_and_converted_into_a_production_request(pair):
    marker = f"preservation {uuid.uuid4().hex[:12]}"
    request_id = in_screening(pair, "preservation", summary=marker)
    # No dual-criminality finding: preservation never needs one (Budapest Art. 29(3)).
    pair.step(request_id, "accept", state="accepted")
    view = pair.step(request_id, "preserve", {"comment": "Mailbox frozen"}, state="preserved")
    held = moment(view["hold_expires"])
    assert held - moment(view["responded_at"]) == timedelta(days=60)
    view = pair.step(
        request_id, "extend", {"days": 30, "comment": "Full request on its way"}, state="extended"
    )
    assert moment(view["hold_expires"]) - held == timedelta(days=30)
    pair.step(request_id, "convert", state="converted")

    investigator = pair.officer(pair.cn, "investigator")

    def follow_ups() -> list[dict]:
        listed = investigator.get(
            "/api/v1/assistance/requests", params={"q": marker, "state": "draft", "limit": 100}
        )
        assert listed.status_code == 200, listed.text
        return [row for row in listed.json()["items"] if row["id"] != request_id]

    [follow_up] = wait_until(follow_ups, timeout=10, what="the follow-up draft on cn")
    assert follow_up["direction"] == "outgoing" and follow_up["request_type"] == "stored_data"
    draft = get(investigator, follow_up["id"])
    assert draft["content"]["legal_basis"] == "budapest_31"
    assert (
        draft["content"]["details"]["data_description"]
        == (DETAILS["preservation"]["data_to_preserve"])
    )
    assert "send_for_validation" in draft["actions"]
    # The draft is cn's alone until it is submitted.
    assert pair.us_ca.get(f"/api/v1/assistance/requests/{follow_up['id']}").status_code == 404


def test_a_released_preservation_ends_the_hold(pair):
    request_id = in_screening(pair, "preservation")
    pair.step(request_id, "accept", state="accepted")
    pair.step(request_id, "preserve", state="preserved")
    view = pair.step(request_id, "release", state="released")
    assert view["ended_at"] == view["events"][-1]["at"]


def test_a_preservation_hold_lapses_when_its_time_is_up(pair):
    request_id = in_screening(pair, "preservation")
    pair.step(request_id, "accept", state="accepted")
    view = pair.step(request_id, "preserve", state="preserved")
    expires = moment(view["hold_expires"])

    # The clock runs on the requested node. (Any other hold on us.test that
    # expires earlier lapses too; the tests that use one are done with it.)
    pair.us.accord("requests", "tick", "--at", (expires - timedelta(minutes=1)).isoformat())
    assert pair.agreed(request_id)["state"] == "preserved"
    ticked = pair.us.accord(
        "requests", "tick", "--at", (expires + timedelta(minutes=1)).isoformat()
    )
    assert "holds lapsed" in ticked.stdout

    def lapsed() -> dict | None:
        view = pair.agreed(request_id)
        return view if view["state"] == "lapsed" else None

    view = wait_until(lapsed, timeout=30, what="the hold to lapse on both nodes")
    last = view["events"][-1]
    assert (last["action"], last["side"], last["actor_role"]) == ("lapse", "requested", "system")
    assert view["version"] == last["version"] == view["events"][-2]["version"] + 1
    assert view["ended_at"] == last["at"]


@pytest.mark.parametrize(
    ("decision", "payload", "state"),
    [
        ("accept_information", {}, "closed"),
        ("decline_information", {"comment": "Outside our remit"}, "refused"),
    ],
)
def test_spontaneous_information_is_acknowledged_then_accepted_or_declined(
    pair, decision, payload, state
):
    request_id, _ = pair.new("spontaneous")
    pair.step(request_id, "acknowledge", state="received")
    # It is not a request: there is nothing to screen.
    refused_in_step(pair, request_id, "start_screening", {}, 409)
    view = pair.step(request_id, decision, payload, state=state)
    assert view["decided_at"] == view["events"][-1]["at"]
    if decision == "accept_information":
        assert view["conditions"] == DETAILS["spontaneous"]["conditions"]
        assert view["conditions_accepted"] is True
    else:
        assert view["conditions"] == [] and view["conditions_accepted"] is False


# ---------------------------------------------------------------- branches


def test_a_refusal_needs_a_prior_consultation_and_its_grounds_reach_the_requester(pair):
    request_id = in_screening(pair, "general_evidence")
    refused_in_step(pair, request_id, "refuse", {"grounds": GROUNDS}, 422)
    pair.step(request_id, "legal_review", state="legal_review")
    pair.step(
        request_id,
        "consult",
        {"comment": "Could you accept a use limit?", "proposed_conditions": CONDITIONS},
        state="consultation",
    )
    # Refusal grounds are cited with their rationale.
    refused_in_step(pair, request_id, "refuse", {"grounds": [{"ground": "immunity"}]}, 422)
    refused_in_step(pair, request_id, "refuse", {"grounds": []}, 422)
    view = pair.step(request_id, "refuse", {"grounds": GROUNDS, "comment": "No"}, state="refused")
    assert view["refusal_grounds"] == GROUNDS
    cn_replica = get(pair.cn_ca, request_id)
    assert cn_replica["refusal_grounds"] == GROUNDS and cn_replica["state"] == "refused"
    assert cn_replica["actions"] == []


def test_a_domestic_investigation_postpones_a_request_and_never_refuses_it(pair):
    request_id = in_screening(pair, "stored_data")
    domestic = [{"ground": "domestic_investigation", "rationale": "Our own case runs"}]
    refused_in_step(pair, request_id, "postpone", {"grounds": GROUNDS}, 422)
    pair.step(request_id, "consult", {"comment": "We have a case of our own"}, state="consultation")
    refused_in_step(pair, request_id, "refuse", {"grounds": domestic}, 422)
    pair.step(
        request_id, "postpone", {"grounds": domestic, "until": "2027-03-01"}, state="postponed"
    )
    pair.step(request_id, "resume", state="screening")


def test_conditions_must_be_accepted_by_the_requester_before_execution(pair):
    request_id = in_screening(pair, "data_order")
    pair.finding(request_id, DUAL_CRIMINALITY, True, "Fraud in both systems")
    view = pair.step(
        request_id,
        "accept_with_conditions",
        {"conditions": CONDITIONS},
        state="accepted_with_conditions",
    )
    assert view["conditions"] == CONDITIONS and view["conditions_accepted"] is False
    refused_in_step(pair, request_id, "begin_execution", {}, 409)

    # The requesting side's answer waits for the requested node's confirmation.
    answer = act(pair.cn_ca, request_id, "accept_conditions")
    assert answer["state"] == "accepted_with_conditions"
    assert [(p["action"], p["outcome"]) for p in answer["pending_actions"]] == [
        ("accept_conditions", "")
    ]
    view = pair.agreed(request_id)
    assert (view["state"], view["conditions_accepted"]) == ("accepted", True)
    assert view["events"][-1]["action"] == "accept_conditions"
    assert get(pair.cn_ca, request_id)["pending_actions"][0]["outcome"] == "applied"

    pair.step(request_id, "begin_execution", state="in_execution")
    pair.step(request_id, "respond", {"text": "Subscriber: Example Ltd."}, state="responded")


def test_answered_questions_return_the_request_to_screening_without_a_second_receipt(pair):
    request_id = in_screening(pair, "general_evidence")
    first_receipt = pair.agreed(request_id)["received_at"]
    pair.step(
        request_id,
        "request_information",
        {"questions": "Which branch exactly?"},
        state="needs_information",
    )
    view = pair.step(
        request_id, "provide_information", {"answers": "Branch 12, Main Street"}, state="screening"
    )
    # The service clock keeps running from the first receipt; nobody acknowledges again.
    assert view["received_at"] == first_receipt
    actions = [e["action"] for e in view["events"]]
    assert actions.count("acknowledge") == 1
    assert actions[-1] == "provide_information"
    refused_in_step(pair, request_id, "acknowledge", {}, 409)


def test_the_requester_withdraws_a_request_before_the_response(pair):
    request_id = in_screening(pair, "identity_verification")
    view = pair.step(
        request_id, "withdraw", {"comment": "The suspect was identified"}, state="withdrawn"
    )
    assert view["ended_at"] == view["events"][-1]["at"]
    assert view["events"][-1]["side"] == "requesting"
    refused_in_step(pair, request_id, "accept", {}, 409)


@pytest.mark.parametrize("first", ["together", "together-again", "withdrawal", "screening"])
def test_a_withdrawal_racing_a_screening_step_leaves_both_replicas_one_history(pair, first):
    """cn withdraws and us starts screening, both on the version they saw: at
    the same moment, or one after the other landed on the partner."""
    request_id, _ = pair.new("traffic_disclosure")
    seen = pair.step(request_id, "acknowledge", state="received")["version"]
    statuses: dict[str, int] = {}

    def withdraw() -> None:
        statuses["withdraw"] = post(pair.cn_ca, "withdraw", {"comment": "No longer needed"})

    def screen() -> None:
        statuses["screen"] = post(pair.us_ca, "start_screening", {})

    def post(client, action: str, payload: dict) -> int:
        return client.post(
            f"/api/v1/assistance/requests/{request_id}/actions",
            json={"action": action, "version": seen, "payload": payload},
        ).status_code

    if first.startswith("together"):
        racers = [threading.Thread(target=withdraw), threading.Thread(target=screen)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=30)
    elif first == "withdrawal":
        withdraw()
        wait_until(
            lambda: get(pair.us_ca, request_id)["state"] == "withdrawn",
            timeout=30,
            what="the withdrawal to reach us",
        )
        screen()
    else:
        screen()  # cn hears of it a moment later, or already has
        withdraw()
    assert set(statuses) == {"withdraw", "screen"}

    view = pair.agreed(request_id)
    actions = [e["action"] for e in view["events"]][5:]
    assert [e["version"] for e in view["events"]] == list(range(1, len(view["events"]) + 1))
    # Whatever the order, both nodes went through the same versions in the
    # same order, and a step refused for coming late changed nothing: a
    # withdrawal asked on the version before a screening its officer never saw
    # is refused by us, not applied to a request that moved on (issue 11).
    if statuses["screen"] == 200:
        assert actions == ["start_screening"]
        if statuses["withdraw"] == 200:
            [pending] = get(pair.cn_ca, request_id)["pending_actions"]
            assert pending["outcome"] == "refused"
            assert pending["refusal"].startswith("The request changed since you saw it")
    else:
        assert statuses == {"withdraw": 200, "screen": 409} and actions == ["withdraw"]
    assert view["state"] == ("withdrawn" if actions == ["withdraw"] else "screening")
    if first == "withdrawal":
        assert statuses == {"withdraw": 200, "screen": 409}


def test_an_emergency_request_is_acknowledged_decided_and_answered_within_eight_hours(pair):
    request_id, view = pair.new(
        "data_order", urgency="emergency", urgency_reason="A child is in immediate danger"
    )
    assert moment(view["acknowledge_due"]) - moment(view["submitted_at"]) == timedelta(hours=8)
    view = pair.step(request_id, "acknowledge", state="received")
    assert moment(view["decision_due"]) - moment(view["received_at"]) == timedelta(hours=8)
    assert moment(view["response_due"]) - moment(view["received_at"]) == timedelta(hours=8)
    assert get(pair.cn_ca, request_id)["content"]["urgency"] == "emergency"


@pytest.mark.parametrize(("kind", "kept"), [("delete", False), ("restrict_use", True)])
def test_the_provider_restricts_use_or_demands_deletion_of_what_it_sent(pair, kind, kept):
    request_id = accepted(pair, "stored_data")
    pair.step(request_id, "begin_execution", state="in_execution")
    data = file_content(request_id, 4_000)
    view = pair.step(
        request_id,
        "respond",
        {"text": "Server image attached"},
        state="responded",
        attachments=[attachment("image.bin", data)],
    )
    sha256 = view["files"][0]["sha256"]
    assert file_arrives(pair.cn_ca, request_id, sha256) == data
    pair.step(request_id, "close", state="closed")

    restriction = {"kind": kind, "text": "Material objected to by the provider"}
    view = pair.step(request_id, "restrict_use", restriction, state="closed")
    assert [{k: r[k] for k in ("kind", "text")} for r in view["restrictions"]] == [restriction]
    download = pair.cn_ca.get(f"/api/v1/assistance/requests/{request_id}/files/{sha256}")
    if kept:  # restricted: the central authority may still use it
        assert download.status_code == 200 and download.content == data
    else:  # the item's conditions refuse it (and the clock purges it)
        assert download.status_code == 409, download.text
        assert "deletion" in download.json()["detail"]
    # The provider keeps its own copy either way.
    assert file_arrives(pair.us_ca, request_id, sha256) == data
