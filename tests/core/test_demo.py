"""`make run` = `accord demo`: three peered nodes on loopback (cn.mps; us.doj
and us.dhs, two agencies of one party), stopped by Ctrl-C, data reused on the
next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.live import free_port, wait_until

pytestmark = pytest.mark.live


def start_demo(root, ports):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "accord.cli",
            "demo",
            "--root",
            str(root),
            "--ports",
            ",".join(str(port) for port in ports),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def read_until(process, marker: str, timeout: float = 300) -> str:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    interrupt(process)  # the demo stops the nodes it started; a kill would orphan them
    raise AssertionError("demo output ended early:\n" + "".join(seen))


def interrupt(process) -> int:
    os.killpg(process.pid, signal.SIGINT)
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def ask_about_the_planted_overlap(ports) -> None:
    """A newcomer's first hit/no-hit question: cn's fraud case asks us.doj and
    gets the values both nodes hold (the demo set the policies): a phone number,
    a domain, a wallet, and a person written 王小明 on cn and "Wang Xiaoming"
    on us, born the same day, who meet through the pinyin name key."""
    from accord.core.democlient import SignedIn

    officer = SignedIn(f"http://127.0.0.1:{ports[0]}", "investigator", "accord-demo-2026")
    rows = officer.call("GET", "/api/v1/cases")
    rows = rows["items"] if isinstance(rows, dict) else rows
    [case] = [c for c in rows if "telecom" in c.get("title_translation", "")]
    officer.call(
        "POST",
        f"/api/v1/matching/cases/{case['id']}/queries",
        {"peers": ["us.doj"], "purpose": "Demo: does the partner know these?"},
        expect=201,
    )

    def answered() -> list | None:
        found = officer.call("GET", f"/api/v1/matching/cases/{case['id']}")
        done = all(q["status"] == "answered" for q in found["queries"])
        return found["hits"] if done and found["queries"] else None

    hits = wait_until(answered, 60, what="the demo query answered")
    assert sorted(h["type"] for h in hits) == ["domain", "eth", "person", "phone"]


def the_evidence_is_on_both_nodes(ports) -> None:
    """The demo's item, sent by cn.mps on the request it executes for us.doj:
    the same bytes on both nodes, each holding both nodes' custody records
    (collected and sent on cn, received on us)."""
    from accord.core.democlient import SignedIn
    from accord.evidence.demo import CONTENT, the_request

    officers = [SignedIn(f"http://127.0.0.1:{p}", "central", "accord-demo-2026") for p in ports]
    request = the_request(officers[0])
    held = []
    for officer in officers:
        [row] = officer.call("GET", f"/api/v1/evidence/requests/{request['id']}/items")
        held.append(officer.call("GET", f"/api/v1/evidence/items/{row['id']}"))
        content = officer.client.get(f"/api/v1/evidence/items/{row['id']}/content")
        assert content.status_code == 200 and content.content == CONTENT
    assert held[0]["id"] == held[1]["id"] and held[0]["sha256"] == held[1]["sha256"]
    for item in held:
        events = {(r["node"], r["event"]) for r in item["custody"]}
        assert {("cn.mps", "collected"), ("us.doj", "received")} <= events, events
    assert held[1]["collected"]["where"] == "广州 Guangzhou"


def the_synthetic_past_is_the_same_on_both_nodes(ports) -> None:
    """Months of finished requests, marked synthetic, held by both nodes
    alike (the same id, state and milestones), outgoing on one, incoming on
    the other."""
    from accord.core.democlient import SignedIn

    held = []
    for port in ports:
        officer = SignedIn(f"http://127.0.0.1:{port}", "auditor", "accord-demo-2026")
        page = officer.call("GET", "/api/v1/assistance/requests?q=SYN-&limit=100")
        rows = {r["reference"]: r for r in page["items"]}
        assert page["count"] == 60
        one = officer.call("GET", f"/api/v1/assistance/requests/{rows['SYN-CN.MPS-0001']['id']}")
        held.append((rows, one))
    (cn_rows, cn_one), (us_rows, us_one) = held
    assert cn_rows.keys() == us_rows.keys()
    assert [r["direction"] for r in (cn_rows["SYN-CN.MPS-0001"], us_rows["SYN-CN.MPS-0001"])] == [
        "outgoing",
        "incoming",
    ]
    shared = ("id", "content", "state", "version", "events", "acknowledge_due", "response_due")
    for field in (*shared, "submitted_at", "received_at", "decided_at", "responded_at"):
        assert cn_one[field] == us_one[field], field
    assert cn_one["content"]["synthetic"] is True


def test_demo_runs_three_peered_nodes_and_stops_cleanly(tmp_path):
    ports = (free_port(), free_port(), free_port())
    demo = start_demo(tmp_path, ports)
    output = read_until(demo, "Ctrl-C")
    assert "accord-demo-2026" in output and "cn.mps now peers with us.doj" in output
    for pair in ("cn.mps now peers with us.dhs", "us.doj now peers with us.dhs"):
        assert pair in output
    # The examples, cases with values both nodes hold among them, all made.
    assert "Created 3 synthetic cases" in output
    assert "examples are incomplete" not in output, output
    # Nothing alarming while it starts: the seeding waits for what is on its way
    # to the other node without asking for it before it is there (a 404).
    alarming = [
        line
        for line in output.splitlines()
        if " 404 " in line or "Not Found" in line or " WARNING " in line or " ERROR " in line
    ]
    assert alarming == [], "\n".join(alarming)
    ask_about_the_planted_overlap(ports)
    # Requests and evidence are between the two central authorities.
    the_evidence_is_on_both_nodes(ports[:2])
    the_synthetic_past_is_the_same_on_both_nodes(ports[:2])
    documents = [httpx.get(f"http://127.0.0.1:{p}/.well-known/accord").json() for p in ports]
    assert [d["node_id"] for d in documents] == ["cn.mps", "us.doj", "us.dhs"]
    assert [d["central_authority"] for d in documents] == [True, True, False]
    assert len({d["fingerprint"] for d in documents}) == 3
    assert interrupt(demo) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ports[0]}/healthz", timeout=2)

    again = start_demo(tmp_path, ports)
    # Ctrl-C as soon as the nodes answer, while the demo may still be checking
    # the examples: it stops at once, and stops the nodes it started.
    reused = wait_until(lambda: _identity(ports[0]), 120, what="cn.mps serving again")
    assert reused["fingerprint"] == documents[0]["fingerprint"]
    assert interrupt(again) in (0, 130)
    output = again.stdout.read()
    assert "Creating demo node" not in output and "now peers" not in output
    assert "Demo nodes stopped." in output
    for port in ports:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _identity(port: int) -> dict | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/.well-known/accord", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
