"""Load benchmark (`make bench`, issue 17), with locust as a library.

1. Users: LOAD_USERS simulated officers (signed-in sessions, think time 0.5-1.5
   s) on one node on PostgreSQL, mixing the request list, a search, a request's
   page and step actions (a draft, then send for validation or discard), while a peer
   node exchanges notes with it both ways underneath. Reported: p50/p95/p99
   latency per page, errors (must be 0), requests per second, and the CPU time
   of the node's processes (web, background) per request served (PostgreSQL's
   own processes not counted).
2. Mesh: five nodes on loopback, each peered with the four others, exchanging
   assistance requests (drafted, validated and submitted by three officers),
   hit/no-hit queries and intel (STIX imports pushed to every peer by the
   clock). Reported: receipted messages per second over the whole mesh, the
   age of the oldest undelivered message (sampled from each node's /metrics),
   and how long the queues took to drain once traffic stopped.

Durations are options (the issue asks for five minutes each: `--seconds 300`).
Results: bench/results/load.json and bench/results/load.md."""

from __future__ import annotations

# locust patches the standard library with gevent: it must come first.
import locust  # isort: skip

import argparse
import itertools
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import gevent
import gevent.event
import httpx
from locust import HttpUser, between, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The nodes (subprocesses) run this checkout's code, whatever the venv installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)

from bench.reads import start, write  # noqa: E402
from bench.taxii import session_cpu  # noqa: E402
from tests.assistance.flow import Officers, act, request_body  # noqa: E402
from tests.live import (  # noqa: E402
    TEST_PASSWORD,
    LiveNode,
    discard_node,
    make_node,
    peer_nodes,
    wait_until,
)

RESULTS = ROOT / "bench" / "results"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/accord")
TOKEN = secrets.token_urlsafe(32)
NODE_ENV = {"ACCORD_METRICS_TOKEN": TOKEN, "ACCORD_CLOCK_SECONDS": "5"}
OFFICERS = {role: role for role in ("investigator", "prosecutor", "central_authority")}
SEARCH_WORDS = ("fraud", "ring", "phishing", "botnet", "ransom")
MESH = (
    ("cn", "China", "Ministry of Public Security"),
    ("us", "United States", "Department of Justice"),
    ("de", "Germany", "Bundeskriminalamt"),
    ("fr", "France", "Police nationale"),
    ("br", "Brazil", "Polícia Federal"),
)
# The workload's draws (which page, which peer), repeatable; nothing secret.
RNG = random.Random(20261206)  # noqa: S311
GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def session(officers: Officers, node: LiveNode, role: str) -> httpx.Client:
    """An officer's signed-in API session, patient: on a loaded machine a
    step may take longer than the tests' 10 s."""
    client = officers(node, role)
    client.timeout = httpx.Timeout(120)
    return client


def metrics(node: LiveNode) -> dict[str, float]:
    """The node's /metrics: (name{labels}) -> value, for the outbox series."""
    text = httpx.get(
        node.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ).text
    rows = {}
    for line in text.splitlines():
        if line.startswith(("accord_outbox_oldest", "accord_outbox_receipts_total")):
            name, _, value = line.rpartition(" ")
            rows[name] = float(value)
    return rows


def oldest(rows: dict[str, float]) -> float:
    return max([v for k, v in rows.items() if k.startswith("accord_outbox_oldest")] or [0.0])


def applied(rows: dict[str, float]) -> float:
    return sum(v for k, v in rows.items() if k.startswith("accord_outbox_receipts_total"))


def percentiles(entry) -> dict:
    return {
        "requests": entry.num_requests,
        "errors": entry.num_failures,
        **{f"p{p}_ms": round(entry.get_response_time_percentile(p / 100)) for p in (50, 95, 99)},
    }


# ---------------------------------------------------------------- 1. users


class Officer(HttpUser):
    """An investigator at work: lists, searches, reads, and now and then drafts
    a request and sends it for validation or discards it (audited steps)."""

    wait_time = between(0.5, 1.5)
    requests: list[str] = []
    peer = ""
    signed_in = 0
    steps_taken = 0

    def on_start(self) -> None:
        self.client.get("/login/", name="sign-in")
        form = {"username": "investigator", "password": TEST_PASSWORD}
        form["csrfmiddlewaretoken"] = self.client.cookies["csrftoken"]
        self.client.post("/login/", data=form, allow_redirects=False, name="sign-in")
        self.client.headers["X-CSRFToken"] = self.client.cookies["csrftoken"]
        self.client.headers["Referer"] = self.host + "/"
        Officer.signed_in += 1

    @task(4)
    def request_list(self) -> None:
        self.client.get("/requests/", name="list")

    @task(3)
    def search(self) -> None:
        self.client.get("/requests/", params={"q": RNG.choice(SEARCH_WORDS)}, name="search")

    @task(4)
    def detail(self) -> None:
        self.client.get(f"/requests/{RNG.choice(self.requests)}/", name="detail")

    @task(1)
    def steps(self) -> None:
        body = request_body("preservation", self.peer)
        made = self.client.post("/api/v1/assistance/requests", json=body, name="step: draft")
        if made.status_code != 201:
            return
        row = made.json()
        Officer.steps_taken += 1
        # Every other draft goes for validation; the others are discarded.
        action, payload = ("discard", {"comment": "load"})
        if Officer.steps_taken % 2:
            action, payload = ("send_for_validation", {})
        self.client.post(
            f"/api/v1/assistance/requests/{row['id']}/actions",
            json={"action": action, "version": row["version"], "payload": payload},
            name=f"step: {action}",
        )


def notes_both_ways(officers: Officers, a: LiveNode, b: LiveNode, stop, sent: list) -> None:
    """The federation underneath: a note each way every 0.5 s."""
    for n in itertools.count():
        if stop.is_set():
            return
        for sender, receiver in ((a, b), (b, a)):
            try:
                answer = session(officers, sender, "investigator").post(
                    "/api/v1/federation/notes",
                    json={"peer": receiver.node_id, "subject": f"load {n}", "text": "x" * 400},
                    timeout=120,
                )
            except httpx.HTTPError:
                sent.append(False)
                continue
            sent.append(answer.status_code == 201)
        stop.wait(0.5)


def users(root: Path, count: int, seconds: float) -> dict:
    cn = make_node(root, "cn.load", "China", "Ministry of Public Security", **NODE_ENV)
    us = make_node(root, "us.load", "United States", "Department of Justice", **NODE_ENV)
    with ExitStack() as stack:
        stack.callback(discard_node, us)
        stack.callback(discard_node, cn)
        for node in (cn, us):
            node.init()
            node.create_users(OFFICERS)
        start(cn, workers=1, threads=8)  # `accord serve`'s defaults
        us.start()
        peer_nodes(cn, us)
        officers = Officers(stack, cn, us)
        investigator = session(officers, cn, "investigator")
        Officer.peer = us.node_id
        Officer.requests = []
        for n in range(40):
            summary = f"{SEARCH_WORDS[n % len(SEARCH_WORDS)]} case {n} (synthetic load)"
            body = request_body("preservation", us.node_id, summary=summary)
            made = investigator.post("/api/v1/assistance/requests", json=body)
            assert made.status_code == 201, made.text
            Officer.requests.append(made.json()["id"])

        env = Environment(user_classes=[Officer], host=cn.url)
        runner = env.create_local_runner()
        Officer.signed_in = 0
        runner.start(count, spawn_rate=10)
        wait_until(lambda: Officer.signed_in >= count, 300, what="every user to sign in")
        env.stats.reset_all()
        stop, sent = gevent.event.Event(), []
        underneath = gevent.spawn(notes_both_ways, officers, cn, us, stop, sent)
        cpu_before, started = session_cpu(cn.process.pid), time.monotonic()
        gevent.sleep(seconds)
        cpu = session_cpu(cn.process.pid) - cpu_before
        elapsed = time.monotonic() - started
        stop.set()
        runner.quit()
        underneath.join(30)
        total = env.stats.total
        pages = {
            name: percentiles(entry) for (name, _method), entry in sorted(env.stats.entries.items())
        }
        drained = wait_until(
            lambda: (oldest(metrics(cn)) == 0 and oldest(metrics(us)) == 0) or None,
            120,
            1.0,
            "the notes to drain",
        )
        return {
            "users": count,
            "seconds": round(elapsed, 1),
            "pages": pages,
            "all": percentiles(total),
            "requests_per_second": round(total.num_requests / elapsed, 1),
            "cpu_ms_per_request": round(1000 * cpu / max(1, total.num_requests), 1),
            "node_cpu_share": round(cpu / elapsed, 2),
            "error_kinds": {str(e.error)[:200]: e.occurrences for e in env.stats.errors.values()},
            "notes_sent": sum(sent),
            "notes_refused": len(sent) - sum(sent),
            "drained": bool(drained),
        }


# ---------------------------------------------------------------- 2. mesh


def bundle(count: int) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": now,
            "modified": now,
            "name": f"C2 server {n}",
            "pattern": f"[ipv4-addr:value = '203.0.113.{RNG.randint(1, 254)}']",
            "pattern_type": "stix",
            "valid_from": now,
            "object_marking_refs": [GREEN],
        }
        for n in range(count)
    ]
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})


SHARE_ALL = (
    "from accord.core.audit import Actor; from accord.intel import sync; "
    "from accord.intel.models import Collection; from accord.federation.models import Peer; "
    "shared = Collection.objects.get(alias='shared'); "
    "[sync.share(Actor.system('cli'), shared, p) for p in Peer.objects.filter(active=True)]"
)


def mesh_setup(nodes: list[LiveNode], officers: Officers) -> dict[str, str]:
    """Peer every pair, share intel with every peer, let every peer ask about
    IPv4 addresses; one case per node holding the same 20 addresses. Returns
    each node's case id."""
    jobs = [gevent.spawn(peer_nodes, a, b) for a, b in itertools.combinations(nodes, 2)]
    gevent.joinall(jobs, raise_error=True)
    gevent.joinall(
        [gevent.spawn(n.accord, "manage", "shell", "-c", SHARE_ALL) for n in nodes],
        raise_error=True,
    )
    cases = {}
    for node in nodes:
        ca = session(officers, node, "central_authority")
        for peer in nodes:
            if peer is not node:
                policy = {"types": ["ipv4"], "max_values": 1000, "per_day": 10000}
                answer = ca.put(f"/api/v1/matching/policies/{peer.node_id}", json=policy)
                assert answer.status_code == 200, answer.text
        inv = session(officers, node, "investigator")
        case = inv.post("/api/v1/cases", json={"title": "Botnet (load)", "title_language": "en"})
        assert case.status_code == 201, case.text
        cases[node.node_id] = case.json()["id"]
        for n in range(20):
            added = inv.post(
                f"/api/v1/cases/{cases[node.node_id]}/observables",
                json={"type": "ipv4", "value": f"198.51.100.{n + 1}"},
            )
            assert added.status_code == 201, added.text
    return cases


def officer_loop(node, nodes, officers, case_id: str, stop, done: dict) -> None:
    """One node's officers: a request submitted to a peer, a hit/no-hit query
    to another, once a second."""
    peers = [p for p in nodes if p is not node]
    inv, pro, ca = (session(officers, node, role) for role in OFFICERS)
    while not stop.is_set():
        try:
            made = inv.post(
                "/api/v1/assistance/requests",
                json=request_body("preservation", RNG.choice(peers).node_id),
            )
            assert made.status_code == 201, made.text
            steps = ((inv, "send_for_validation"), (pro, "validate"), (ca, "submit"))
            for client, action in steps:
                act(client, made.json()["id"], action)
            done["requests"] += 1
            asked = inv.post(
                f"/api/v1/matching/cases/{case_id}/queries",
                json={"peers": [RNG.choice(peers).node_id], "purpose": "load benchmark"},
            )
            assert asked.status_code == 201, asked.text
            done["queries"] += 1
        except (httpx.HTTPError, AssertionError) as failed:
            print(f"{node.node_id}: {failed}"[:300], flush=True)
            done["errors"] += 1
        stop.wait(1.0)


def intel_loop(nodes: list[LiveNode], stop, done: dict) -> None:
    """Every 10 s a node imports 25 indicators; its clock pushes them to all peers."""
    for node in itertools.cycle(nodes):
        if stop.wait(10):
            return
        node.accord("intel", "import", "-", "--collection", "shared", stdin=bundle(25))
        done["indicators"] += 25


def mesh(root: Path, seconds: float) -> dict:
    nodes = [
        make_node(root, f"{code}.mesh", party, agency, **NODE_ENV) for code, party, agency in MESH
    ]
    with ExitStack() as stack:
        for node in nodes:
            stack.callback(discard_node, node)
        for node in nodes:
            node.init()
            node.create_users(OFFICERS)
            node.start()
        officers = Officers(stack, *nodes)
        cases = mesh_setup(nodes, officers)
        before = sum(applied(metrics(n)) for n in nodes)
        stop = gevent.event.Event()
        done = {"requests": 0, "queries": 0, "indicators": 0, "errors": 0}
        loops = [
            gevent.spawn(officer_loop, n, nodes, officers, cases[n.node_id], stop, done)
            for n in nodes
        ]
        loops.append(gevent.spawn(intel_loop, nodes, stop, done))
        started, worst = time.monotonic(), 0.0
        while time.monotonic() - started < seconds:
            gevent.sleep(5)
            worst = max(worst, *(oldest(metrics(n)) for n in nodes))
        stop.set()
        gevent.joinall(loops, timeout=60, raise_error=True)
        elapsed = time.monotonic() - started
        receipted = sum(applied(metrics(n)) for n in nodes) - before
        stopped = time.monotonic()
        wait_until(
            lambda: all(oldest(metrics(n)) == 0 for n in nodes), 300, 1.0, "the mesh to drain"
        )
        return {
            "nodes": len(nodes),
            "seconds": round(elapsed, 1),
            **done,
            "messages_receipted": int(receipted),
            "messages_per_second": round(receipted / elapsed, 1),
            "oldest_undelivered_max_s": round(worst, 1),
            "drain_seconds": round(time.monotonic() - stopped, 1),
        }


# ---------------------------------------------------------------- report


def report(results: dict) -> str:
    u, m = results["users"], results["mesh"]
    lines = [
        "# Load benchmark",
        "",
        f"Run {results['when']} on {results['machine']} (shared with other work), "
        f"PostgreSQL, locust {locust.__version__}.",
        "",
        f"## {u['users']} users on one node, {u['seconds']} s",
        "",
        "Investigator sessions with 0.5-1.5 s think time; the node runs `accord serve`'s "
        "defaults (1 web process x 8 threads, one background process), and a peer node "
        f"exchanged {u['notes_sent']} notes with it meanwhile ({u['notes_refused']} failed).",
        "",
        "| page | requests | errors | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in [*u["pages"].items(), ("all", u["all"])]:
        if not row["requests"]:
            continue  # the sign-ins, all done before the measured window
        lines.append(
            f"| {name} | {row['requests']} | {row['errors']} | {row['p50_ms']} | "
            f"{row['p95_ms']} | {row['p99_ms']} |"
        )
    lines += [
        "",
        f"{u['requests_per_second']} requests/s; CPU of the node's processes "
        f"{u['cpu_ms_per_request']} ms per request ({u['node_cpu_share']} cores busy on "
        "average; PostgreSQL's processes and the load generator not counted).",
        "",
        "Errors: "
        + (", ".join(f"{k} ({n})" for k, n in u.get("error_kinds", {}).items()) or "none")
        + "."
        if "error_kinds" in u
        else "Errors: kinds not recorded in this run.",
        "",
        f"## Mesh of {m['nodes']} nodes, {m['seconds']} s",
        "",
        f"Submitted {m['requests']} requests and asked {m['queries']} hit/no-hit queries "
        f"({m['errors']} rounds failed), imported {m['indicators']} indicators shared with every "
        f"peer. The mesh receipted **{m['messages_receipted']} messages, "
        f"{m['messages_per_second']}/s**; the oldest undelivered message was at most "
        f"**{m['oldest_undelivered_max_s']} s** old (sampled every 5 s from /metrics); the "
        f"queues drained {m['drain_seconds']} s after traffic stopped.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300, help="of each scenario")
    parser.add_argument("--output", default=str(RESULTS / "load"), help="path without suffix")
    parser.add_argument("--only", choices=("users", "mesh"), help="run one scenario")
    args = parser.parse_args()
    os.environ["ACCORD_DATABASE_URL"] = PG_URL  # tests.live makes a database per node
    root = Path(tempfile.mkdtemp(prefix="accord-bench-load-"))
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    scenarios = {"users": lambda: users(root, args.users, args.seconds)}
    scenarios["mesh"] = lambda: mesh(root, args.seconds)
    for name, run in scenarios.items():
        if args.only in (None, name):
            results[name] = run()
            print(json.dumps(results[name]), flush=True)
    if args.only:
        return  # one scenario: printed, not written over the results of both
    write(args.output, results, report(results))


if __name__ == "__main__":
    main()
