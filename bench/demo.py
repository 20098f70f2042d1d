"""The demo federation (`make run` = `accord demo`): how long three nodes (cn.mps,
us.doj, us.dhs) take to be created, peered and seeded on SQLite, how long a
second start with their data takes, and the memory of all their processes at
rest (issue 16: "well under two minutes"; "report the figure for three nodes").

Each node is `accord serve` with the demo's web workers (accord.core.demo
DEMO_WEB_WORKERS) and its one background process (deliverer, clock and task
worker). Memory: RSS and PSS (shared pages divided among their processes)
read from /proc, after the demo has been idle a few seconds.

Results: bench/results/demo.json and bench/results/demo.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.live import free_port  # noqa: E402

from federation import memory, session_processes  # noqa: E402

RESULTS = ROOT / "bench" / "results"
READY = "Press Ctrl-C"
TIMEOUT_SECONDS = 600


def start(root: Path, ports: list[int]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "accord.cli", "demo", "--root", str(root)),
            *("--ports", ",".join(str(port) for port in ports)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def until_ready(process: subprocess.Popen) -> tuple[float, str]:
    """Seconds from start until the demo prints that it runs, and its output."""
    began, seen = time.monotonic(), []
    while time.monotonic() - began < TIMEOUT_SECONDS:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            break
        seen.append(line)
        if READY in line:
            return time.monotonic() - began, "".join(seen)
    stop(process)
    raise SystemExit("the demo did not start:\n" + "".join(seen))


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def node_of(pid: int) -> str:
    """The node a process serves: the last part of its ACCORD_DATA_DIR."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(b"ACCORD_DATA_DIR="):
            return Path(entry.split(b"=", 1)[1].decode()).name
    return str(pid)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def at_rest(process: subprocess.Popen, rest: float) -> dict:
    """Every process of every node (each node's supervisor leads its own
    session), after `rest` idle seconds; the demo's own process apart."""
    time.sleep(rest)
    nodes = {}
    for supervisor in children(process.pid):
        rows = session_processes(supervisor)
        if rows:
            nodes[node_of(supervisor)] = memory(rows)
    demo_rows = [row for row in session_processes(process.pid) if row["pid"] == process.pid]
    return {
        "nodes": dict(sorted(nodes.items())),
        "total_rss_mib": round(sum(n["total_rss_mib"] for n in nodes.values()), 1),
        "total_pss_mib": round(sum(n["total_pss_mib"] for n in nodes.values()), 1),
        "demo_process": demo_rows,
    }


def report(results: dict) -> str:
    rest = results["at_rest"]
    lines = [
        "# Demo federation: start-up and memory of three nodes",
        "",
        f"Run {results['started']} on {results['machine']}, Python {results['python']}; "
        f"1-minute load average before / after: {results['load_before']} / "
        f"{results['load_after']}.",
        "",
        "| | seconds |",
        "|---|---|",
        f"| first start: create, peer (three pairs), seed the examples | "
        f"**{results['first_start_seconds']}** |",
        f"| second start, data kept | **{results['second_start_seconds']}** |",
        "",
        f"All processes of the three nodes at rest ({results['rest_seconds']} s idle): "
        f"**{rest['total_rss_mib']} MiB RSS**, {rest['total_pss_mib']} MiB PSS "
        "(shared pages divided among their processes). Per node:",
        "",
        "| node | RSS MiB | PSS MiB | processes (role RSS/PSS) |",
        "|---|---|---|---|",
    ]
    for name, node in rest["nodes"].items():
        parts = ", ".join(f"{p['role']} {p['rss_mib']}/{p['pss_mib']}" for p in node["processes"])
        lines.append(f"| {name} | {node['total_rss_mib']} | {node['total_pss_mib']} | {parts} |")
    lines += [
        "",
        "Each node runs one web worker in the demo (`accord serve --workers 1`; the "
        "default for production is two, about 100 MiB more each) and one background "
        "process for the deliverer, the clock and the task worker.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rest", type=float, default=10.0, help="idle seconds before measuring")
    parser.add_argument("--name", default="demo", help="results file name (no suffix)")
    args = parser.parse_args()
    ports = [free_port() for _ in range(3)]
    results: dict = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load_before": round(os.getloadavg()[0], 2),
        "rest_seconds": args.rest,
    }
    with tempfile.TemporaryDirectory(prefix="accord-bench-demo-") as root:
        demo = start(Path(root), ports)
        try:
            results["first_start_seconds"] = round(until_ready(demo)[0], 1)
            results["at_rest"] = at_rest(demo, args.rest)
        finally:
            stop(demo)
        again = start(Path(root), ports)
        try:
            results["second_start_seconds"] = round(until_ready(again)[0], 1)
        finally:
            stop(again)
    results["load_after"] = round(os.getloadavg()[0], 2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
