"""Audited reads benchmark (`make bench`): how many request pages a second one
live node on PostgreSQL serves to concurrent signed-in readers, when every read
is audited (assistance:request:read). Afterwards the audit log must hold one
event per page served and `accord audit verify` must pass, so a fast run that
lost reads cannot pass for a good one.

The request is a draft to a stand-in partner (a pinned peer row, never
contacted): drafting sends nothing, and the page is the same.

Results: bench/results/reads.json and bench/results/reads.md. On this machine
(2 cores) other work skews the figures: compare runs made one after the other,
e.g. the tree before a change (`--label before --output /tmp/before`) then this
one (`--baseline /tmp/before.json`)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live import (  # noqa: E402
    START_TIMEOUT_SECONDS,
    LiveNode,
    _sign_in,
    discard_node,
    make_node,
    signed_in,
)

RESULTS = ROOT / "bench" / "results"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/accord")
PARTNER = "partner.bench"
READ = "assistance:request:read"
JOIN_SECONDS = 120
HOLD_SECONDS, HOLD_PERIOD_SECONDS = 0.5, 1.0


def start(node: LiveNode, workers: int, threads: int) -> None:
    """`accord serve` as LiveNode.start, with as many web processes as asked."""
    log = node.log_path.open("ab")
    command = [sys.executable, "-m", "accord.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(node.port), "--workers", str(workers), "--threads", str(threads)]
    node.process = subprocess.Popen(
        command, env=node.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise AssertionError(f"{node.node_id} exited on start:\n{node.log()}")
        try:
            if httpx.get(node.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{node.node_id} did not start in {START_TIMEOUT_SECONDS} s")


def pin_partner(node: LiveNode) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    code = (
        "from accord.federation.models import Peer; Peer.objects.create("
        f"node_id={PARTNER!r}, url='http://127.0.0.1:9/', party='Partnerland', "
        f"agency='Partner Agency', signing_key={key!r}, encryption_key={key!r}, "
        "fingerprint='1' * 64)"
    )
    node.accord("manage", "shell", "-c", code)


def draft(node: LiveNode) -> tuple[str, str]:
    body = {
        "peer": PARTNER,
        "request_type": "spontaneous",
        "legal_basis": "bilateral",
        "requesting_authority": "Cyber police, Shanghai",
        "central_authority": "MPS",
        "offences": [
            {
                "label": "Computer fraud",
                "statute": "18 U.S.C. § 1343",
                "max_penalty_years": 20,
                "category": "fraud",
            }
        ],
        "summary": "Online fraud ring (synthetic benchmark)",
        "purpose": "Identify the suspects",
        "urgency": "standard",
        "signer": "Zhang Wei",
        "details": {"information": "Botnet C2 at 198.51.100.9", "conditions": []},
    }
    with signed_in(node, "investigator") as api:
        created = api.post("/api/v1/assistance/requests", json=body)
        if created.status_code != 201:
            raise AssertionError(f"drafting failed: {created.status_code} {created.text}")
        request_id = created.json()["id"]
        reference = api.get(f"/api/v1/assistance/requests/{request_id}").json()["reference"]
    return request_id, reference


class Reader(threading.Thread):
    """One signed-in browser session reading the request page until told to stop."""

    def __init__(self, node: LiveNode, path: str, reference: str, go: threading.Event) -> None:
        super().__init__(daemon=True)
        self.client = _sign_in(node.client(), node, "investigator", _password())
        self.path, self.reference, self.go = path, reference, go
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors = 0

    def read(self) -> bool:
        started = time.perf_counter()
        try:
            page = self.client.get(self.path)
        except httpx.HTTPError:
            return False
        ok = page.status_code == 200 and self.reference in page.text
        if ok:
            self.latencies.append(time.perf_counter() - started)
        return ok

    def run(self) -> None:
        self.go.wait(JOIN_SECONDS)
        while not self.stop.is_set():
            if not self.read():
                self.errors += 1


def _password() -> str:
    from tests.live import TEST_PASSWORD

    return TEST_PASSWORD


def audited_reads(node: LiveNode) -> int:
    with signed_in(node, "auditor") as api:
        listed = api.get("/api/v1/audit/events", params={"action": READ, "limit": 1})
        listed.raise_for_status()
        return int(listed.json()["count"])


class HeadHolder(threading.Thread):
    """A writer in a long transaction (an inbox batch applying, say): holds the
    audit log's head row `hold` seconds of every `period`, on its own connection."""

    def __init__(self, database_url: str, hold: float, period: float) -> None:
        super().__init__(daemon=True)
        self.database_url, self.hold, self.period = database_url, hold, period
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self.stop.is_set():
                with conn.transaction():
                    conn.execute("SELECT seq FROM core_audithead WHERE id = 1 FOR UPDATE")
                    time.sleep(self.hold)
                self.stop.wait(self.period - self.hold)


def measure(
    node: LiveNode, request_id: str, reference: str, readers: int, seconds: float, holder: bool
) -> dict:
    audited_before = audited_reads(node)
    path = f"/requests/{request_id}/"  # assistance:detail
    go = threading.Event()
    crew = [Reader(node, path, reference, go) for _ in range(readers)]
    warm_up = sum(reader.read() for reader in crew for _ in range(3))
    writer = HeadHolder(node.database_url, HOLD_SECONDS, HOLD_PERIOD_SECONDS) if holder else None
    for thread in [*crew, writer] if writer else crew:
        thread.start()
    for reader in crew:
        reader.latencies.clear()
    started = time.perf_counter()
    go.set()
    time.sleep(seconds)
    for thread in [*crew, writer] if writer else crew:
        thread.stop.set()
    for thread in [*crew, writer] if writer else crew:
        thread.join(JOIN_SECONDS)
    elapsed = time.perf_counter() - started
    if any(thread.is_alive() for thread in [*crew, writer] if thread):
        raise AssertionError("a reader or the writer never finished")
    for reader in crew:
        reader.client.close()
    latencies = [t for reader in crew for t in reader.latencies]
    served = len(latencies)
    if served < 20:
        raise AssertionError(f"only {served} pages served: see {node.log_path}")
    verified = node.accord("audit", "verify", check=False)
    return {
        "writer": (
            f"holds the head {HOLD_SECONDS * 1000:.0f} ms of every "
            f"{HOLD_PERIOD_SECONDS * 1000:.0f} ms"
            if holder
            else "none"
        ),
        "readers": readers,
        "seconds": round(elapsed, 2),
        "reads": served,
        "errors": sum(reader.errors for reader in crew),
        "reads_per_second": round(served / elapsed, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p95_ms": round(statistics.quantiles(latencies, n=20)[-1] * 1000, 1),
        "audited_reads": audited_reads(node) - audited_before,
        "expected_audited_reads": served + warm_up,
        "verify": (verified.stdout or verified.stderr).strip().splitlines()[-1][:120],
    }


def run(label: str, readers: int, seconds: float, workers: int, threads: int) -> list[dict]:
    """One fresh node: readers alone, then readers beside a writer holding the head."""
    os.environ["ACCORD_DATABASE_URL"] = PG_URL
    root = Path(tempfile.mkdtemp(prefix="accord-bench-reads-"))
    node = make_node(root, "cn.reads", "China", "Ministry of Public Security")
    try:
        node.init()
        for role in ("investigator", "auditor"):
            node.create_user(role, role)
        pin_partner(node)
        start(node, workers, threads)
        request_id, reference = draft(node)
        rows = [
            measure(node, request_id, reference, readers, seconds, holder)
            for holder in (False, True)
        ]
    finally:
        discard_node(node)
    shape = {"label": label, "web_workers": workers, "threads_per_worker": threads}
    return [{**shape, **row} for row in rows]


def report(results: dict) -> str:
    lines = [
        "# Audited reads benchmark",
        "",
        f"Run {results['when']} on {results['machine']}; one node on PostgreSQL, "
        "each reader a signed-in session fetching the request page "
        "(every read audited as assistance:request:read).",
        "",
        "| run | another writer | readers | web processes x threads | reads/s | p50 ms "
        "| p95 ms | errors | audited / served | verify |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["runs"]:
        lines.append(
            f"| {row['label']} | {row['writer']} | {row['readers']} | {row['web_workers']} x "
            f"{row['threads_per_worker']} | **{row['reads_per_second']:.1f}** | "
            f"{row['latency_p50_ms']} | {row['latency_p95_ms']} | {row['errors']} | "
            f"{row['audited_reads']} / {row['expected_audited_reads']} | {row['verify'][:40]} |"
        )
    lines += [
        "",
        "Another writer: none, or a transaction on its own connection that holds the "
        "audit head row as a long state change would (an inbox batch applying, say). "
        "Audited / served: the read's audit events the auditor sees after the run, "
        "against the pages served (with the warm-up reads); they must be equal.",
    ]
    return "\n".join(lines) + "\n"


def write(output: str, results: dict, text: str) -> None:
    """The results as OUTPUT.json and the report as OUTPUT.md; the report printed."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    path.with_suffix(".md").write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="web processes of the node")
    parser.add_argument("--threads", type=int, default=4, help="threads per web process")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--label", default="this tree")
    parser.add_argument("--output", default=str(RESULTS / "reads"), help="path without suffix")
    parser.add_argument(
        "--baseline", help="a results .json from another tree (say, before a change): shown first"
    )
    args = parser.parse_args()
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "runs": json.loads(Path(args.baseline).read_text())["runs"] if args.baseline else [],
    }
    for n in range(args.repeat):
        label = args.label if args.repeat == 1 else f"{args.label} #{n + 1}"
        for row in run(label, args.readers, args.seconds, args.workers, args.threads):
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
    write(args.output, results, report(results))


if __name__ == "__main__":
    main()
