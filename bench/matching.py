"""Hit/no-hit and correlation between live nodes (`make bench`), the part of
issue 12's benchmark that bench/psi.py (the PSI core alone) does not cover.

Every node is a real `accord serve` on 127.0.0.1 with its own data directory
and its own database (a SQLite file, or a fresh PostgreSQL database created
for it and dropped after). Observables enter through `accord cases import`
(the CSV import: parsing, normalisation and the bulk insert a user's import
goes through). Queries are asked through the JSON API and travel over the
federation channel (signed, sealed, receipted HTTP); the clock runs from the
API call until the asker's API shows the query answered.

Workloads:
  balanced    a case of n phone numbers asked of a peer holding n, 10 % of them
              shared (default n = 100,000), on SQLite and on PostgreSQL
  unbalanced  a case of 100 IPv4 addresses asked of a peer holding 1,000,000
              (10 shared): the first query, which includes the peer building its
              blinded set and sending it, then repeats, where the peer keeps its
              set and the asker its copy (PostgreSQL)
  correlation the peer's 1,000,000 values imported as 10 cases of 100,000 (time
              per 100,000 as the store grows), then the page of a case of 1,000
              values, most of them shared with other cases: the time of a GET
              (median of several), on the same PostgreSQL node

Both nodes raise ACCORD_FEDERATION_HTTP_TIMEOUT (see TIMEOUT below): the
asker's final step runs inside the inbox request that carries the last answer,
and a loaded machine can stretch it past the default 30 s. The correctness of
every answer is checked: the hits must be exactly the shared values.

Results: bench/results/matching.json and bench/results/matching.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The nodes (subprocesses) run this checkout's code, whatever the venv installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)

from tests.live import (  # noqa: E402
    LiveNode,
    discard_node,
    make_node,
    peer_nodes,
    signed_in,
    wait_until,
)

RESULTS = ROOT / "bench" / "results"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/accord")
TIMEOUT = "900"
IMPORT_TIMEOUT = 1800
USER = "inv"
AUTHORITY = "ca"
PURPOSE = "benchmark"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def phones(start: int, count: int) -> list[str]:
    return [f"+86138{i:08}" for i in range(start, start + count)]


def ipv4s(start: int, count: int) -> list[str]:
    return [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(start, start + count)]


# ---------------------------------------------------------------- nodes


@dataclass
class WebAndDeliverer(LiveNode):
    """A node serving the web and running its deliverer, without the task
    worker and the clock: hit/no-hit needs only these two. Used on SQLite
    when the whole node stops during a large query (see the notes)."""

    deliverer: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "accord.cli", *serve, "--no-worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.deliverer = subprocess.Popen(
            [sys.executable, "-m", "accord.cli", "deliver"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def up() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 60, interval=0.2, what=f"{self.node_id} to start")

    def stop(self) -> None:
        super().stop()
        if self.deliverer is not None and self.deliverer.poll() is None:
            self.deliverer.terminate()
            self.deliverer.wait(timeout=30)


@contextmanager
def pair(database: str, root: Path, whole: bool = True) -> Iterator[tuple[LiveNode, LiveNode]]:
    """cn (the asker) and us (the answerer), peered, users made; us answers
    cn's phone and IPv4 queries of any size, without approval. `whole`:
    every process of `accord serve`; else the web and the deliverer only."""
    if database == "postgres":
        os.environ["ACCORD_DATABASE_URL"] = PG_URL  # tests.live makes a database per node
    else:
        os.environ.pop("ACCORD_DATABASE_URL", None)
    env = {"ACCORD_FEDERATION_HTTP_TIMEOUT": TIMEOUT}
    suffix = f"{database[:2]}bench"
    nodes = []
    try:
        for node_id, party, agency in (
            (f"cn.{suffix}", "China", "Ministry of Public Security"),
            (f"us.{suffix}", "United States", "Department of Justice"),
        ):
            node = make_node(root, node_id, party, agency, **env)
            if not whole:
                node = WebAndDeliverer(
                    **{f.name: getattr(node, f.name) for f in fields(node) if f.init}
                )
            nodes.append(node)
            node.init()
            node.start()
        cn, us = nodes
        peer_nodes(cn, us)
        for node in (cn, us):
            node.create_user(USER, "investigator")
        us.create_user(AUTHORITY, "central_authority")
        limit = "1000000"
        us.accord(
            "hits",
            "policy",
            cn.node_id,
            "--types",
            "phone",
            "ipv4",
            "--max",
            limit,
            "--per-day",
            limit,
            "--as",
            AUTHORITY,
        )
        yield cn, us
    finally:
        for node in nodes:
            discard_node(node)


def create_case(node: LiveNode, title: str) -> tuple[str, str]:
    """A new case on `node`, by the investigator: its reference and id."""
    words = node.accord("cases", "create", title, "--as", USER).stdout.split()
    return words[0], words[1]


def import_values(node: LiveNode, reference: str, code: str, values: list[str]) -> float:
    """The values into the case through the CSV import; returns its seconds."""
    path = node.data_dir.parent / f"import-{reference}.csv"
    path.write_text("type,value\n" + "".join(f"{code},{v}\n" for v in values))
    command = ["cases", "import", reference, str(path), "--as", USER]
    # On SQLite a large import holds the write lock longer than the node's
    # other processes wait for it (20 s): they stop with "database is locked",
    # and the node with them. So the node is stopped while it imports.
    offline = not node.database_url
    if offline:
        node.stop()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "accord.cli", *command],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - started
    path.unlink()
    if offline:
        node.start()
    expected = f"{len(values)} imported, 0 already held, 0 not imported"
    if result.returncode != 0 or expected not in result.stdout:
        raise AssertionError(f"import into {reference}: {result.stdout}{result.stderr}")
    return seconds


def case_with(node: LiveNode, title: str, code: str, values: list[str]) -> tuple[str, str]:
    reference, case_id = create_case(node, title)
    import_values(node, reference, code, values)
    return reference, case_id


class NodeStopped(AssertionError):
    """A node of the pair stopped while a query was under way."""


def ask(api: httpx.Client, case_id: str, nodes: tuple[LiveNode, LiveNode], timeout: float) -> dict:
    """One query, asked through the API and polled until answered: the
    seconds from the call to the answer, and the query as the API shows it."""
    started = time.perf_counter()
    response = api.post(
        f"/api/v1/matching/cases/{case_id}/queries",
        json={"peers": [nodes[1].node_id], "purpose": PURPOSE},
        timeout=timeout,
    )
    if response.status_code != 201:
        raise AssertionError(f"ask: {response.status_code} {response.text}")
    query_id = response.json()[0]["id"]
    asked = time.perf_counter() - started

    def answered() -> dict | None:
        for node in nodes:
            if node.process is None or node.process.poll() is not None:
                last = [line for line in node.log().splitlines() if "error" in line.lower()]
                raise NodeStopped(f"{node.node_id} stopped: {'; '.join(last[-2:]) or '?'}")
        rows = api.get(
            "/api/v1/matching/queries", params={"direction": "out", "limit": 5}, timeout=timeout
        ).json()["items"]
        row = next(r for r in rows if r["id"] == query_id)
        if row["status"] == "asked":
            return None
        if row["status"] != "answered":
            raise AssertionError(f"query {query_id}: {row['status']} {row['refusal']}")
        return row

    row = wait_until(answered, timeout, interval=0.02, what="the answer")
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "ask_call_seconds": round(asked, 3), "query": row}


# ---------------------------------------------------------------- workloads


def balanced(database: str, size: int, whole: bool = True) -> dict:
    overlap = size // 10
    nodes = "whole" if whole else "web + deliverer"
    print(f"balanced {size:,} x {size:,} on {database} ({nodes})", flush=True)
    root = Path(tempfile.mkdtemp(prefix=f"accord-bench-matching-{database}-"))
    with pair(database, root, whole) as (cn, us):
        started = time.perf_counter()
        _ref, case_id = case_with(cn, "Asked", "phone", phones(0, size))
        case_with(us, "Held", "phone", phones(size - overlap, size))
        seeding = time.perf_counter() - started
        before = load()
        try:
            with signed_in(cn, USER) as api:
                run = ask(api, case_id, (cn, us), 1800)
        except NodeStopped as stopped:
            return {
                "database": database,
                "nodes": nodes,
                "asked": size,
                "held": size,
                "error": str(stopped),
            }
        hits = run["query"]["hits"]
        if hits != overlap:
            raise AssertionError(f"{hits} hits, {overlap} expected")
        return {
            "database": database,
            "nodes": nodes,
            "asked": size,
            "held": size,
            "overlap": overlap,
            "hits": hits,
            "seconds": run["seconds"],
            "ask_call_seconds": run["ask_call_seconds"],
            "values_per_second": round(2 * size / run["seconds"]),
            "seeding_seconds": round(seeding, 1),
            "load_1min": [before, load()],
        }


def unbalanced_and_correlation(
    database: str, asked: int, held: int, batch: int, repeats: int, page_size: int, gets: int
) -> tuple[dict, dict]:
    overlap = max(1, asked // 10)
    print(f"unbalanced {asked} x {held:,} on {database}", flush=True)
    root = Path(tempfile.mkdtemp(prefix=f"accord-bench-matching-{database}-"))
    with pair(database, root) as (cn, us):
        # The held values: `held` IPv4 addresses in cases of `batch`, timed per case.
        growth = []
        for number, start in enumerate(range(0, held, batch)):
            reference, _case = create_case(us, f"Held {number}")
            seconds = import_values(us, reference, "ipv4", ipv4s(start, min(batch, held - start)))
            growth.append(
                {
                    "held_before": start,
                    "values": min(batch, held - start),
                    "seconds": round(seconds, 2),
                    "load_1min": load(),
                }
            )
            print(f"  imported {start + batch:,}: {seconds:.1f} s", flush=True)
        # The asker's case: `overlap` of the held values and the rest new.
        _ref, case_id = case_with(
            cn, "Asked", "ipv4", ipv4s(held - overlap, overlap) + ipv4s(held + 1, asked - overlap)
        )
        runs = []
        with signed_in(cn, USER) as api:
            for number in range(repeats + 1):
                before = load()
                run = ask(api, case_id, (cn, us), 1800)
                if run["query"]["hits"] != overlap:
                    raise AssertionError(f"{run['query']['hits']} hits, {overlap} expected")
                runs.append(
                    {
                        "seconds": run["seconds"],
                        "ask_call_seconds": run["ask_call_seconds"],
                        "load_1min": [before, load()],
                    }
                )
                print(f"  query {number}: {run['seconds']:.3f} s", flush=True)
        unbalanced = {
            "database": database,
            "asked": asked,
            "held": held,
            "overlap": overlap,
            "first": runs[0],
            "repeats": runs[1:],
            "repeat_median_seconds": round(statistics.median(r["seconds"] for r in runs[1:]), 3),
        }
        correlation = case_page(us, held, batch, growth, page_size, gets)
        correlation["database"] = database
        return unbalanced, correlation


def case_page(us: LiveNode, held: int, batch: int, growth: list, size: int, gets: int) -> dict:
    """A case of `size` values: 60 % held by one of the big cases each, the
    rest new; three small cases share the first half of them again, so most
    values link to one to four other cases."""
    print(f"case page with {size:,} values", flush=True)
    count = size * 6 // 10
    shared = [i * max(1, held // count) for i in range(count)]
    values = [ipv4s(i, 1)[0] for i in shared] + ipv4s(held + 1000, size - len(shared))
    _ref, case_id = case_with(us, "Page", "ipv4", values)
    for number in range(3):
        case_with(us, f"Sharing {number}", "ipv4", values[: size // 2])
    times = []
    with signed_in(us, USER) as web:
        for _ in range(gets + 1):  # the first warms the worker's caches
            started = time.perf_counter()
            response = web.get(f"/cases/{case_id}/", timeout=120)
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise AssertionError(f"case page: {response.status_code}")
    seconds = [round(s, 4) for s in times[1:]]
    per_100k = [round(g["seconds"] * 100_000 / g["values"], 2) for g in growth]
    return {
        "import": growth,
        "import_seconds_per_100k": per_100k,
        "import_last_over_first": round(per_100k[-1] / per_100k[0], 2),
        "page_values": size,
        "page_shared": len(shared),
        "page_get_seconds": seconds,
        "page_median_ms": round(statistics.median(seconds) * 1000, 1),
        "page_first_ms": round(times[0] * 1000, 1),
    }


# ---------------------------------------------------------------- report

NOTES = [
    f"ACCORD_FEDERATION_HTTP_TIMEOUT={TIMEOUT} on both nodes: the asker computes its "
    "hits inside the inbox request that carries the last answer message (about 6 s "
    "for 100,000 values on a quiet machine), which a loaded machine can stretch past "
    "the default 30 s. The answerer builds a large blinded set in its task worker, "
    "outside the request (docs/matching.md 5.2).",
    "SQLite: a 100,000-row import into a running node is avoided (the nodes are "
    "stopped while they import). A SQLite run that fails is repeated with nodes "
    "running the web and the deliverer only; since the answerer builds large sets "
    "outside any transaction and `accord serve` restarts a stopped worker, the "
    "whole nodes complete (2026-12-05: 100k x 100k on SQLite, whole nodes, exact, "
    "at a 1-minute load of 22 to 29).",
]


def report(results: dict) -> str:
    lines = [
        "# Hit/no-hit and correlation between live nodes",
        "",
        f"Run {results['when']} on {results['machine']}, {results['seconds']} s in all; "
        f"1-minute load average {results['load_1min_at_start']} at the start. Two `accord "
        "serve` nodes on 127.0.0.1 (gunicorn, 1 worker, 4 threads; deliverer, worker), each "
        "with its own data directory and database; values imported with `accord cases "
        "import` (CSV); queries asked through the JSON API and carried by the federation "
        "channel; time from the API call until the asker's API shows the query answered. "
        f"Both nodes run with ACCORD_FEDERATION_HTTP_TIMEOUT={TIMEOUT} (see the notes).",
        "",
    ]
    for part, key in (("balanced", "balanced_when"), ("unbalanced and correlation", "large_when")):
        if key in results:
            lines += [f"The {part} rows are from the run of {results[key]}.", ""]
    if results.get("balanced"):
        lines += [
            "## Balanced: a case of n phone numbers asked of a peer holding n, 10 % shared",
            "",
            "Nodes: `whole`, every process of `accord serve`; `web + deliverer`, "
            "without the task worker and the clock (see the notes).",
            "",
            "| database | nodes | n | hits (= shared) | seconds | values/s (asked + held) "
            "| API call s | PostgreSQL / SQLite | load 1 min |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        done = [r for r in results["balanced"] if "error" not in r]
        base = {r["asked"]: r["seconds"] for r in done if r["database"] == "sqlite"}
        for row in results["balanced"]:
            if "error" in row:
                lines.append(
                    f"| {row['database']} | {row.get('nodes', 'whole')} | {row['asked']:,} | - "
                    f"| **failed**: {row['error']} "
                    "| - | - | - | - |"
                )
                continue
            ratio = row["seconds"] / base[row["asked"]] if row["asked"] in base else None
            lines.append(
                f"| {row['database']} | {row.get('nodes', 'whole')} | {row['asked']:,} "
                f"| {row['hits']:,} | "
                f"{row['seconds']:.1f} | {row['values_per_second']:,} | "
                f"{row['ask_call_seconds']:.1f} | {f'{ratio:.2f}×' if ratio else '-'} | "
                f"{row['load_1min']} |"
            )
        lines.append("")
    if results.get("unbalanced"):
        row = results["unbalanced"]
        first, repeats = row["first"], row["repeats"]
        lines += [
            f"## Unbalanced: {row['asked']} IPv4 addresses asked of a peer holding "
            f"{row['held']:,} ({row['overlap']} shared), {row['database']}",
            "",
            "| query | seconds | first / this | load 1 min |",
            "|---|---|---|---|",
            f"| first (the peer builds its blinded set and sends it) | {first['seconds']:.3f} "
            f"| 1 | {first['load_1min']} |",
        ]
        for number, run in enumerate(repeats, start=1):
            lines.append(
                f"| repeat {number} (the peer's set and the asker's copy kept) | "
                f"{run['seconds']:.3f} | {first['seconds'] / run['seconds']:.0f}× "
                f"| {run['load_1min']} |"
            )
        goal = "met" if row["repeat_median_seconds"] < 1 else "NOT met"
        lines += [
            "",
            f"Repeat, median: {row['repeat_median_seconds']:.3f} s (goal under 1 s: {goal}).",
            "",
        ]
    if results.get("correlation"):
        row = results["correlation"]
        lines += [
            f"## Correlation, {row['database']}",
            "",
            "Import: the values of one case per row, through `accord cases import`, "
            "into a node already holding the values of the rows above.",
            "",
            "| held before | imported | seconds | s per 100k | vs first | load 1 min |",
            "|---|---|---|---|---|---|",
        ]
        first = row["import_seconds_per_100k"][0]
        for growth, per in zip(row["import"], row["import_seconds_per_100k"], strict=True):
            lines.append(
                f"| {growth['held_before']:,} | {growth['values']:,} | {growth['seconds']:.1f} "
                f"| {per:.1f} | {per / first:.2f}× | {growth['load_1min']} |"
            )
        goal = "met" if row["page_median_ms"] < 200 else "NOT met"
        lines += [
            "",
            f"Case page with {row['page_values']:,} values ({row['page_shared']} held by one "
            "of the big cases, the first half also by three small cases): GET "
            f"/cases/<id>/ as a team member, median of {len(row['page_get_seconds'])} after "
            f"one warm-up: **{row['page_median_ms']} ms** (goal under 200 ms: {goal}); "
            f"all: {[round(s * 1000) for s in row['page_get_seconds']]} ms; "
            f"warm-up {row['page_first_ms']} ms.",
            "",
        ]
    lines += [f"- {note}" for note in results.get("notes", [])]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="balanced: n (asked and held)")
    parser.add_argument("--databases", default="sqlite,postgres", help="balanced: databases")
    parser.add_argument("--asked", type=int, default=100, help="unbalanced: values asked")
    parser.add_argument("--held", type=int, default=1_000_000, help="unbalanced: values held")
    parser.add_argument("--batch", type=int, default=100_000, help="values per held case")
    parser.add_argument("--repeats", type=int, default=5, help="unbalanced: repeat queries")
    parser.add_argument("--page", type=int, default=1000, help="values in the case page's case")
    parser.add_argument("--gets", type=int, default=7, help="timed GETs of the case page")
    parser.add_argument("--large-database", default="postgres", help="unbalanced, correlation")
    parser.add_argument("--skip-balanced", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument(
        "--keep-balanced", action="store_true", help="take the balanced rows from the last results"
    )
    parser.add_argument(
        "--keep-large", action="store_true", help="take the large workloads from the last results"
    )
    parser.add_argument("--out", default="matching", help="results file stem in bench/results")
    args = parser.parse_args()

    began = time.monotonic()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "load_1min_at_start": load(),
        "balanced": [],
    }
    if args.keep_balanced:
        kept = json.loads((RESULTS / f"{args.out}.json").read_text())
        results["balanced"] = kept["balanced"]
        results["balanced_when"] = kept.get("balanced_when", kept["when"])
    elif not args.skip_balanced:
        for database in args.databases.split(","):
            for size in (int(n) for n in args.sizes.split(",") if n):
                results["balanced"].append(balanced(database, size))
                if "error" in results["balanced"][-1] and database == "sqlite":
                    results["balanced"].append(balanced(database, size, whole=False))
            print(json.dumps(results["balanced"][-1]), flush=True)
    if args.keep_large:
        kept = json.loads((RESULTS / f"{args.out}.json").read_text())
        results["unbalanced"], results["correlation"] = kept["unbalanced"], kept["correlation"]
        results["large_when"] = kept.get("large_when", kept["when"])
    elif not args.skip_large:
        results["unbalanced"], results["correlation"] = unbalanced_and_correlation(
            args.large_database,
            args.asked,
            args.held,
            args.batch,
            args.repeats,
            args.page,
            args.gets,
        )
    results["seconds"] = round(time.monotonic() - began)
    results["notes"] = NOTES
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
