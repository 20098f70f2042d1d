"""Routing on three live agencies (issue 16): cn.mps asks the United States;
the request goes to us.doj, the central authority, which accepts it and
assigns its execution to us.dhs; us.dhs executes through us.doj, and the
requester sees one request, one timeline, one set of deadlines, with the
executing agency named. The three replicas agree after every step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from accord.assistance.machine import EXECUTION
from tests.assistance.flow import Officers, Routed, act, get, request_body

pytestmark = pytest.mark.live

DUAL = "dual_criminality"
ASSIGNMENT = {"node": "us.dhs", "comment": "Immigration status: DHS holds the records"}


@pytest.fixture(scope="module")
def routed(three_agencies) -> Iterator[Routed]:
    cn, doj, dhs = three_agencies
    with ExitStack() as stack:
        yield Routed(Officers(stack, cn, doj, dhs), cn, doj, dhs)


def accepted(routed: Routed) -> str:
    request_id, _view = routed.new("identity_verification")
    routed.step(request_id, "acknowledge", state="received")
    routed.step(request_id, "start_screening", state="screening")
    routed.finding(request_id, DUAL, True, "Identity fraud is an offence in both")
    routed.step(request_id, "accept", state="accepted")
    return request_id


def test_the_executing_agency_executes_and_the_requester_sees_one_request(routed):
    request_id = accepted(routed)
    doj, dhs, cn = routed.us_ca, routed.agency_ca, routed.cn_ca
    assert "assign" in get(doj, request_id)["actions"]
    # Before the assignment, us.dhs holds no replica of the request.
    assert dhs.get(f"/api/v1/assistance/requests/{request_id}").status_code == 404

    view = routed.step(request_id, "assign", ASSIGNMENT, state="accepted")
    assert view["executing_node"] == "us.dhs"
    assert view["events"][-1]["payload"] == ASSIGNMENT
    seen = get(cn, request_id)
    assert seen["executing_agency"] == "Department of Homeland Security (United States)"
    page = cn.get(f"/requests/{request_id}/")
    assert page.status_code == 200
    assert "Department of Homeland Security (United States)" in page.text

    # The executing agency takes the execution steps, and only those; it
    # holds none of the central authority's screening notes nor its team.
    executing = get(dhs, request_id)
    assert executing["actions"] == ["begin_execution"]
    assert executing["findings"] == [] and executing["team"] == []
    assert get(doj, request_id)["findings"], "the central authority keeps its own notes"
    act(dhs, request_id, "refuse", {"grounds": []}, expect=403)
    # The central authority no longer executes it, nor assigns it again.
    act(doj, request_id, "begin_execution", expect=403)
    act(doj, request_id, "assign", ASSIGNMENT, expect=403)

    routed.step(request_id, "begin_execution", state="in_execution")
    routed.step(
        request_id, "respond_partially", {"text": "Entry records found"}, state="partially_executed"
    )
    view = routed.step(
        request_id, "respond", {"text": "Status: lawful permanent resident"}, state="responded"
    )
    steps = [e["action"] for e in view["events"][-3:]]
    assert steps == ["begin_execution", "respond_partially", "respond"]
    assert set(steps) == EXECUTION
    assert view["responded_at"] == view["events"][-1]["at"]
    assert view["events"][-1]["payload"]["text"] == "Status: lawful permanent resident"
    # The requester closes it: relayed to the executing agency too.
    view = routed.step(request_id, "close", state="closed")
    assert get(dhs, request_id)["state"] == "closed"


def test_a_requesting_side_step_after_the_assignment_reaches_all_three(routed):
    request_id = accepted(routed)
    routed.step(request_id, "assign", ASSIGNMENT, state="accepted")
    view = routed.step(request_id, "withdraw", {"comment": "Solved otherwise"}, state="withdrawn")
    assert view["executing_node"] == "us.dhs"
    act(routed.agency_ca, request_id, "begin_execution", expect=409)


def test_a_request_goes_to_the_central_authority_of_another_party(routed):
    cn_investigator = routed.officer(routed.cn, "investigator")
    direct = cn_investigator.post(
        "/api/v1/assistance/requests", json=request_body("identity_verification", "us.dhs")
    )
    assert direct.status_code == 422, direct.text
    assert "central authority" in direct.json()["detail"]
    own = routed.officer(routed.us, "investigator").post(
        "/api/v1/assistance/requests", json=request_body("identity_verification", "us.dhs")
    )
    assert own.status_code == 422, own.text
    assert "own party" in own.json()["detail"]
    form = cn_investigator.get("/requests/new/?type=identity_verification")
    assert form.status_code == 200
    assert 'value="us.doj"' in form.text and 'value="us.dhs"' not in form.text


@pytest.mark.parametrize("node", ["cn.mps", "us.fbi", "us.doj"])
def test_an_assignment_stays_within_the_requested_party(routed, node):
    request_id = accepted(routed)
    refused = act(routed.us_ca, request_id, "assign", {"node": node}, expect=422)
    assert "is not an agency of this party" in refused["detail"]
    assert get(routed.us_ca, request_id)["executing_node"] == ""


def test_an_agency_cannot_act_on_a_request_not_assigned_to_it(routed):
    request_id = accepted(routed)
    dhs = routed.agency_ca
    assert dhs.get(f"/api/v1/assistance/requests/{request_id}").status_code == 404
    response = dhs.post(
        f"/api/v1/assistance/requests/{request_id}/actions",
        json={"action": "begin_execution", "version": 6, "payload": {}},
    )
    assert response.status_code == 404, response.text
    # The central authority still executes it itself, as in a two-node set-up.
    routed.step(request_id, "begin_execution", state="in_execution")


def test_the_executing_agencys_replica_is_repaired_from_the_central_authority(routed):
    request_id = accepted(routed)
    before = routed.step(request_id, "assign", ASSIGNMENT, state="accepted")
    routed.agency.accord(
        "manage",
        "shell",
        "-c",
        "from accord.assistance.models import AssistanceRequest as R; "
        f"R.objects.filter(pk={request_id!r}).update(state='closed', executing_node='')",
    )
    assert get(routed.agency_ca, request_id)["state"] == "closed"
    # us.doj owns the request: its digest to us.dhs finds the difference.
    routed.us.accord("requests", "reconcile", routed.agency.node_id)
    assert routed.agreed(request_id, timeout=60) == before
