"""Two real nodes, separate databases and data directories, over loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.live import TEST_PASSWORD, ensure_peered, outbox_status, wait_until

pytestmark = pytest.mark.live


def test_each_node_publishes_its_own_identity(two_live_nodes):
    documents = []
    for node in two_live_nodes:
        with node.client() as http:
            response = http.get("/.well-known/accord")
        assert response.status_code == 200
        document = response.json()
        assert document["node_id"] == node.node_id
        assert document["protocol_version"] == 1
        for key in document["keys"].values():
            raw = base64.b64decode(key["public_key"])
            assert len(raw) == 32
            assert key["fingerprint"] == hashlib.sha256(raw).hexdigest()
        documents.append(document)
    cn, us = documents
    assert cn["keys"]["signing"]["public_key"] != us["keys"]["signing"]["public_key"]
    assert cn["keys"]["encryption"]["public_key"] != us["keys"]["encryption"]["public_key"]


def sign_in(node, username: str) -> int:
    with node.client() as http:
        token = http.get("/login/").cookies["csrftoken"]
        response = http.post(
            "/login/",
            data={"username": username, "password": TEST_PASSWORD, "csrfmiddlewaretoken": token},
        )
    return response.status_code


def test_users_of_one_node_do_not_exist_on_the_other(two_live_nodes):
    cn, us = two_live_nodes
    cn.create_user("only.on.cn", "analyst")
    assert sign_in(cn, "only.on.cn") == 302
    assert sign_in(us, "only.on.cn") == 200  # the form again, with an error
    assert cn.accord("audit", "verify").stdout.startswith("OK")
    assert us.accord("audit", "verify").stdout.startswith("OK")


def children(pid: int) -> dict[int, str]:
    """The child processes of `pid`, with their command lines (Linux /proc)."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue  # it exited meanwhile
    return {child: line.decode() for child, line in found.items()}


def background_of(node) -> int | None:
    found = [p for p, line in children(node.process.pid).items() if "accord.cli background" in line]
    return found[0] if found else None


def test_a_node_runs_its_background_work_in_one_process(two_live_nodes):
    cn, _us = two_live_nodes
    lines = list(children(cn.process.pid).values())
    assert sum("accord.cli background" in line for line in lines) == 1
    assert not [
        line
        for line in lines
        if any(f"accord.cli {role}" in line for role in ("worker", "deliver", "clock"))
    ]


def test_a_node_starts_its_background_process_again_when_it_stops(two_live_nodes):
    cn, us = two_live_nodes
    first = background_of(cn)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and background_of(cn) in (None, first):
        time.sleep(0.2)
    again = background_of(cn)
    assert again not in (None, first)
    assert cn.process.poll() is None  # the node kept serving
    assert "accord background stopped (exit -9); starting it again" in cn.log()
    with cn.client() as http:
        assert http.get("/.well-known/accord").status_code == 200
    # The new process delivers: messages queued now reach the peer.
    ensure_peered(cn, us)
    cn.accord("peer", "ping", us.node_id, "--count", "3")
    wait_until(
        lambda: outbox_status(cn)[us.node_id]["outbox_depth"] == 0, 60, what="the pings delivered"
    )
