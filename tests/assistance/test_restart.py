"""A node stopped or killed in the middle of a request's workflow loses
nothing: what it committed before going down (a submission, a step, a
confirmation) reaches the partner once it is back, exactly once, and the
workflow goes on to the end with both replicas identical.

Two fresh nodes of this module's own, cn.restart and us.restart, since they are
killed. us.restart reaches cn.restart through a fault proxy, which a test
closes (every request dropped) to hold the requested node's messages back
while it kills one of the nodes, or while a requesting-side step crosses
them on the wire; cn.restart reaches us.restart directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest

from tests.assistance.flow import (
    REFUSED,
    Officers,
    Pair,
    act,
    attachment,
    audit_count,
    audit_since,
    file_arrives,
    get,
)
from tests.faultproxy import FaultProxy
from tests.federation.exactly_once import answers, kill_hard
from tests.live import (
    LiveNode,
    discard_node,
    make_node,
    outbox_status,
    peer_nodes,
    wait_until,
)

pytestmark = pytest.mark.live

ROLES = ("investigator", "prosecutor", "central_authority", "auditor")
RECEIVED = "assistance:request:receive"
# A failed delivery backs off up to 300 s by default; the nodes here are down
# on purpose, so cap it at 2 s to have them catch up quickly once back. It
# changes when retries happen, not what is delivered.
FAST_RETRY = {"ACCORD_FEDERATION_BACKOFF_MAX": "2"}


@dataclass
class Nodes:
    cn: LiveNode
    us: LiveNode
    proxy: FaultProxy  # in front of cn: what us sends to cn goes through it


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[Nodes]:
    root = tmp_path_factory.mktemp("restart")
    cn = make_node(root, "cn.restart", "China", "Ministry of Public Security", **FAST_RETRY)
    us = make_node(root, "us.restart", "United States", "Department of Justice", **FAST_RETRY)
    proxy = FaultProxy(cn.url, drop_request=1.0)  # passes everything until faults are on
    try:
        for node in (cn, us):
            node.init()
            node.create_users({role: role for role in ROLES})
            node.start()
        proxy.start()
        peer_nodes(cn, us, a_url=proxy.url)
        yield Nodes(cn, us, proxy)
    finally:
        proxy.stop()
        for node in (cn, us):
            discard_node(node)


@pytest.fixture
def pair(nodes) -> Iterator[Pair]:
    with ExitStack() as stack:
        yield Pair(Officers(stack, nodes.cn, nodes.us), nodes.cn, nodes.us)
    for node in (nodes.cn, nodes.us):  # whatever happened, leave both serving
        if node.process is None or node.process.poll() is not None:
            node.start()
    nodes.proxy.set_faults(False)


# ---------------------------------------------------------------- helpers


def take_down(node: LiveNode, how: str) -> None:
    if how == "killed":
        kill_hard(node)
    else:
        node.stop()
    assert not answers(node)


@contextmanager
def held_back(proxy: FaultProxy) -> Iterator[None]:
    """Nothing us sends reaches cn while inside."""
    proxy.set_faults(True)
    try:
        yield
    finally:
        proxy.set_faults(False)


def delivery_failed(sender: LiveNode, receiver: LiveNode, since: str | None) -> None:
    """Wait until the sender records a failed delivery to the receiver after `since`."""

    def failed() -> bool:
        row = outbox_status(sender)[receiver.node_id]
        return bool(row["last_error"]) and row["last_error_at"] != since

    wait_until(failed, timeout=30, interval=0.5, what=f"{sender.node_id} to fail to deliver")


def last_error_at(sender: LiveNode, receiver: LiveNode) -> str | None:
    return outbox_status(sender)[receiver.node_id]["last_error_at"]


def assert_channels_clean(cn: LiveNode, us: LiveNode) -> None:
    """Both outboxes drained, nothing refused on either side, and both audit
    chains intact after the kills."""
    for sender, receiver in ((cn, us), (us, cn)):
        row = drained(sender, receiver)
        assert row["refused"] == 0 and not row["blocked"], row
    for node in (cn, us):
        verdict = node.accord("audit", "verify", check=False)
        assert verdict.returncode == 0 and verdict.stdout.startswith("OK"), verdict.stdout


def drained(sender: LiveNode, receiver: LiveNode) -> dict:
    def empty() -> dict | None:
        row = outbox_status(sender)[receiver.node_id]
        return row if row["outbox_depth"] == 0 else None

    return wait_until(empty, timeout=60, interval=0.5, what=f"{sender.node_id} to drain")


def receipts(pair: Pair, node: LiveNode, request_id: str, action: str) -> int:
    """How many times the node applied the partner's `action` for the request."""
    events = audit_since(pair.officer(node, "auditor"), RECEIVED, 0)
    return sum(1 for e in events if e["target_id"] == request_id and e["data"]["action"] == action)


def finish(pair: Pair, request_id: str) -> dict:
    """From submitted to closed, with the replicas compared at every step."""
    pair.step(request_id, "acknowledge", state="received")
    pair.step(request_id, "start_screening", state="screening")
    pair.finding(request_id, "dual_criminality", True, "Fraud in both systems")
    pair.step(request_id, "accept", state="accepted")
    pair.step(request_id, "begin_execution", state="in_execution")
    pair.step(request_id, "respond", {"text": "Subscriber: Example Ltd."}, state="responded")
    return pair.step(request_id, "close", state="closed")


def unique_versions(view: dict) -> None:
    assert [e["version"] for e in view["events"]] == list(range(1, len(view["events"]) + 1))


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_request_submitted_while_the_requested_node_is_down_arrives_once_it_is_back(pair, how):
    cn, us = pair.cn, pair.us
    request_id = pair.draft("data_order")
    act(pair.owner("send_for_validation"), request_id, "send_for_validation")
    act(pair.owner("validate"), request_id, "validate")
    since = last_error_at(cn, us)
    take_down(us, how)
    act(pair.cn_ca, request_id, "submit")
    delivery_failed(cn, us, since)
    us.start()

    view = pair.agreed(request_id, timeout=60)
    assert view["state"] == "submitted"
    assert receipts(pair, us, request_id, "submit") == 1
    view = finish(pair, request_id)
    unique_versions(view)
    assert_channels_clean(cn, us)
    assert receipts(pair, us, request_id, "submit") == 1


def test_a_step_the_requested_node_took_just_before_it_was_killed_is_not_lost(pair, nodes):
    """us responds (with a file in several chunks) and is killed before any
    of it reached cn; after its restart the response arrives, once, intact."""
    cn, us = pair.cn, pair.us
    request_id, _ = pair.new("stored_data")
    pair.step(request_id, "acknowledge", state="received")
    pair.step(request_id, "start_screening", state="screening")
    pair.finding(request_id, "dual_criminality", True, "Fraud in both systems")
    pair.step(request_id, "accept", state="accepted")
    pair.step(request_id, "begin_execution", state="in_execution")
    data = (request_id.encode() * 40_000)[:1_200_000]  # three chunks of 512 KiB
    with held_back(nodes.proxy):
        answered = act(
            pair.us_ca,
            request_id,
            "respond",
            {"text": "Image attached"},
            attachments=[attachment("image.bin", data)],
        )
        assert answered["state"] == "responded"
        kill_hard(us)
        assert get(pair.cn_ca, request_id)["state"] == "in_execution"
        us.start()
    view = pair.agreed(request_id, timeout=60)
    assert view["state"] == "responded" and len(view["files"]) == 1
    assert file_arrives(pair.cn_ca, request_id, view["files"][0]["sha256"]) == data
    assert receipts(pair, cn, request_id, "respond") == 1
    view = pair.step(request_id, "close", state="closed")
    unique_versions(view)
    assert_channels_clean(cn, us)


def test_a_confirmation_on_its_way_to_a_killed_requesting_node_is_applied_once_it_is_back(
    pair, nodes
):
    """cn accepts the conditions; us applies the step and confirms it, but cn
    is killed before the confirmation reaches it. Once cn is back the
    confirmation is applied, once, and execution can begin."""
    cn, us = pair.cn, pair.us
    request_id, _ = pair.new("data_order")
    pair.step(request_id, "acknowledge", state="received")
    pair.step(request_id, "start_screening", state="screening")
    pair.finding(request_id, "dual_criminality", True, "Fraud in both systems")
    conditions = [{"kind": "no_onward_transfer", "text": "Not to third states"}]
    pair.step(
        request_id,
        "accept_with_conditions",
        {"conditions": conditions},
        state="accepted_with_conditions",
    )
    with held_back(nodes.proxy):
        asked = act(pair.cn_ca, request_id, "accept_conditions")
        assert [p["outcome"] for p in asked["pending_actions"]] == [""]
        wait_until(
            lambda: get(pair.us_ca, request_id)["state"] == "accepted",
            timeout=30,
            what="us to apply the accepted conditions",
        )
        # cn still waits for the confirmation when it dies.
        assert [p["outcome"] for p in get(pair.cn_ca, request_id)["pending_actions"]] == [""]
        kill_hard(cn)
    # The proxy lets us's messages through again, but cn is not there yet.
    since = last_error_at(us, cn)
    delivery_failed(us, cn, since)
    cn.start()

    view = pair.agreed(request_id, timeout=60)
    assert (view["state"], view["conditions_accepted"]) == ("accepted", True)
    assert get(pair.cn_ca, request_id)["pending_actions"][0]["outcome"] == "applied"
    assert [e["action"] for e in view["events"]].count("accept_conditions") == 1
    assert receipts(pair, cn, request_id, "accept_conditions") == 1
    pair.step(request_id, "begin_execution", state="in_execution")
    pair.step(request_id, "respond", {"text": "Subscriber: Example Ltd."}, state="responded")
    view = pair.step(request_id, "close", state="closed")
    unique_versions(view)
    assert_channels_clean(cn, us)


def test_a_withdrawal_crossing_the_response_is_refused_by_the_requested_node(pair, nodes):
    """Not a restart, but the same hold on the wire: us responds while cn,
    not knowing yet, withdraws. us orders the timeline, so the withdrawal
    arrives after the response and is refused; cn learns why, and both
    replicas keep the one history."""
    cn, us = pair.cn, pair.us
    request_id, _ = pair.new("general_evidence")
    pair.step(request_id, "acknowledge", state="received")
    pair.step(request_id, "start_screening", state="screening")
    pair.finding(request_id, "dual_criminality", True, "Fraud in both systems")
    pair.step(request_id, "accept", state="accepted")
    pair.step(request_id, "begin_execution", state="in_execution")
    auditor = pair.officer(us, "auditor")
    refused_before = audit_count(auditor, REFUSED)
    with held_back(nodes.proxy):
        act(pair.us_ca, request_id, "respond", {"text": "The witness statement"})
        asked = act(pair.cn_ca, request_id, "withdraw", {"comment": "No longer needed"})
        assert asked["state"] == "in_execution"

        def refused_on_us() -> list[dict]:
            events = audit_since(auditor, REFUSED, refused_before)
            return [e for e in events if e["target_id"] == request_id]

        [event] = wait_until(refused_on_us, timeout=30, what="us to refuse the withdrawal")
        assert event["data"]["action"] == "withdraw"
    view = pair.agreed(request_id, timeout=60)
    assert view["state"] == "responded"
    assert [e["action"] for e in view["events"]][-2:] == ["begin_execution", "respond"]
    [pending] = get(pair.cn_ca, request_id)["pending_actions"]
    assert (pending["action"], pending["outcome"]) == ("withdraw", "refused")
    assert "Responded" in pending["refusal"]
    pair.step(request_id, "close", state="closed")
    assert_channels_clean(cn, us)
