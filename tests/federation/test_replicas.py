"""Replicas that never split (issue 11): a replica broken on purpose, behind
the application's back, is found by the digest exchange and repaired from its
owner's copy, on two live nodes over real HTTP with separate databases.

cn.test asks, us.test is asked: us owns every submitted request (it orders
each step). Two ways of breaking cn's copy: an edit straight in its database,
and the effect of an applied message dropped (the event deleted, the state and
milestone put back). One is found from cn's side (`accord requests reconcile`
on cn: us sees cn's digest differ and sends its copy), the other from us's
side (us's digest reaches cn, which asks us for its copy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.assistance.flow import Officers, Pair, audit_count, get, shared
from tests.live import LiveNode, ensure_peered, outbox_status, wait_until

pytestmark = pytest.mark.live

REPAIRED = "federation:replica:repaired"
SENT = "federation:replica:snapshot-sent"
OUT_OF_STEP = "federation:replica:out-of-step"
CHECKED = "federation:replicas:check"


@pytest.fixture(scope="module")
def pair(two_live_nodes) -> Iterator[Pair]:
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with ExitStack() as stack:
        yield Pair(Officers(stack, cn, us), cn, us)


def behind_the_back(node: LiveNode, code: str) -> None:
    """Run ORM code in the node's own database, past every service and audit."""
    node.accord("manage", "shell", "-c", code)


def key(request_id: str) -> str:
    return f"assistance.request:{request_id}"


def repaired_on(pair: Pair, node: LiveNode, request_id: str, before: dict) -> dict:
    """Wait until the two replicas agree again and equal the owner's copy."""
    owner = pair.us_ca

    def agreed() -> bool:
        return shared(get(pair.cn_ca, request_id)) == shared(get(owner, request_id)) == before

    wait_until(agreed, timeout=60, what=f"{request_id} repaired on {node.node_id}")
    return shared(get(pair.cn_ca, request_id))


def federation_page(pair: Pair, node: LiveNode) -> str:
    page = pair.officer(node, "node_admin").get("/federation/")
    assert page.status_code == 200
    return page.text


def test_an_edit_behind_the_back_is_repaired_from_the_owner(pair: Pair) -> None:
    request_id, _view = pair.new("general_evidence")
    before = pair.step(request_id, "acknowledge")
    auditor_cn, auditor_us = pair.officer(pair.cn, "auditor"), pair.officer(pair.us, "auditor")
    repaired, sent = audit_count(auditor_cn, REPAIRED), audit_count(auditor_us, SENT)
    behind_the_back(
        pair.cn,
        "from accord.assistance.models import AssistanceRequest as R; "
        f"R.objects.filter(pk={request_id!r}).update(summary='tampered', state='closed')",
    )
    broken = get(pair.cn_ca, request_id)
    assert (broken["content"]["summary"], broken["state"]) == ("tampered", "closed")

    out = pair.cn.accord("requests", "reconcile", pair.us.node_id).stdout
    assert "Digest of" in out and pair.us.node_id in out

    assert repaired_on(pair, pair.cn, request_id, before) == before
    # Both sides audit it: us sent its copy, cn applied it, naming the item.
    wait_until(lambda: audit_count(auditor_us, SENT) > sent, what="snapshot sent audited")
    assert audit_count(auditor_cn, REPAIRED) == repaired + 1
    events = auditor_cn.get("/api/v1/audit/events", params={"action": REPAIRED, "limit": 1000})
    assert any(e["target_id"] == key(request_id) for e in events.json()["items"])
    assert key(request_id) in federation_page(pair, pair.cn)
    # The workflow goes on from the repaired replica.
    pair.step(request_id, "start_screening")


def test_a_dropped_effect_is_found_by_the_owners_digest_and_repaired(pair: Pair) -> None:
    request_id, _view = pair.new("general_evidence")
    before = pair.step(request_id, "acknowledge")
    auditor_cn = pair.officer(pair.cn, "auditor")
    out_of_step = audit_count(auditor_cn, OUT_OF_STEP)
    # The acknowledgement's effect undone on cn: its event gone, the request
    # back at the version, state and milestones it had before.
    behind_the_back(
        pair.cn,
        "from accord.assistance.models import AssistanceRequest as R, RequestEvent as E; "
        f"E.objects.filter(request_id={request_id!r}, action='acknowledge').delete(); "
        f"R.objects.filter(pk={request_id!r}).update(state='submitted', "
        "version=R.objects.get(pk=" + repr(request_id) + ").version - 1, "
        "received_at=None, decision_due=None, response_due=None)",
    )
    broken = get(pair.cn_ca, request_id)
    assert (broken["state"], broken["version"]) == ("submitted", before["version"] - 1)

    pair.us.accord("requests", "reconcile", pair.cn.node_id)

    assert repaired_on(pair, pair.cn, request_id, before) == before
    assert audit_count(auditor_cn, OUT_OF_STEP) == out_of_step + 1
    # Listed while it was out of step; now under the repairs, not the open list.
    page = federation_page(pair, pair.cn)
    assert key(request_id) in page
    open_rows = page.split('data-testid="out-of-step-row"')[1:]
    assert not any(key(request_id) in row.split("</tr>")[0] for row in open_rows)
    pair.step(request_id, "start_screening")


def test_replicas_in_step_change_nothing(pair: Pair) -> None:
    request_id, _view = pair.new("locate_person")
    before = pair.agreed(request_id)
    auditor_cn = pair.officer(pair.cn, "auditor")
    auditor_us = pair.officer(pair.us, "auditor")
    counts = (audit_count(auditor_cn, REPAIRED), audit_count(auditor_cn, OUT_OF_STEP))
    checked = audit_count(auditor_us, CHECKED)
    pair.us.accord("requests", "reconcile", pair.cn.node_id)
    assert audit_count(auditor_us, CHECKED) == checked + 1
    # cn has applied the digest once nothing waits in us's outbox for it.
    wait_until(
        lambda: outbox_status(pair.us)[pair.cn.node_id]["outbox_depth"] == 0,
        what="digest delivered",
    )
    assert pair.agreed(request_id) == before
    assert (audit_count(auditor_cn, REPAIRED), audit_count(auditor_cn, OUT_OF_STEP)) == counts


def test_reconcile_names_an_unknown_peer(pair: Pair) -> None:
    result = pair.cn.accord("requests", "reconcile", "nowhere.test", check=False)
    assert result.returncode != 0
    assert "no peer 'nowhere.test'" in result.stderr
