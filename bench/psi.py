"""Private set intersection benchmark (`make bench`): Accord's PSI core
(accord.matching.psi: DH over ristretto255, libsodium through pysodium) beside
OpenMined's PSI 2.0.6 (C++, ECDH over P-256; its client/server API revealing the
intersection, GCS filter at fpr 1e-9), in the same run, on the same values.

Workloads:
  balanced    n asked against n held with 10 % overlap (default 10,000 and 100,000)
  unbalanced  100 asked against 1,000,000 held: the first query, including the
              answerer's set-up, and a repeat with a fresh asker key, where the
              answerer keeps its blinded set and the asker its cached copy (Accord)
              or the server keeps its setup message (OpenMined).

Both run end to end in one process, messages serialised and parsed as they
would cross the wire (Accord: base64 points and the tag set, strictly decoded;
OpenMined: its protobufs). Values/s = (values asked + values held) / seconds.
Accord runs on every core (worker processes); OpenMined is single-threaded.
At 10,000 Accord also runs in one thread ("serial") and on threads, to show
what the cores add and which pool is faster here. The 1-minute load average is
recorded: on a shared machine the wall times vary with it.

Not measured here: queries between two live nodes, over the federation channel,
on SQLite and PostgreSQL (bench/matching.py).

Results: bench/results/psi.json and bench/results/psi.md."""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pysodium  # noqa: E402
from private_set_intersection import python as openmined  # noqa: E402

from accord.matching import psi  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FPR = 1e-9


def workload(asked: int, held: int, overlap: int) -> tuple[list[str], list[str]]:
    """Phone-number-like values; the last `overlap` asked are the first held."""
    first_held = asked - overlap
    asker = [f"phone:+86138{i:08}" for i in range(asked)]
    answerer = [f"phone:+86138{i:08}" for i in range(first_held, first_held + held)]
    return asker, answerer


def load() -> float:
    return round(os.getloadavg()[0], 2)


class Clock:
    """Wall seconds per named phase, in order, and this process's CPU seconds (all
    its threads; not the worker processes of a process pool)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.cpu = 0.0

    def time(self, name: str, work: Callable[[], object]) -> object:
        started, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.phases[name] = round(self.phases.get(name, 0) + time.perf_counter() - started, 4)
        self.cpu += time.process_time() - cpu
        return result

    @property
    def total(self) -> float:
        return round(sum(self.phases.values()), 4)


# ---------------------------------------------------------------- Accord


def accord_setup(clock: Clock, held: list[str]) -> tuple[psi.Answerer, bytes]:
    answerer = clock.time("answerer set-up", lambda: psi.Answerer.setup(v.encode() for v in held))
    assert isinstance(answerer, psi.Answerer)
    return answerer, answerer.blinded_set.to_bytes()


def accord_query(
    clock: Clock, asked: list[str], answerer: psi.Answerer, asker_set: psi.BlindedSet
) -> tuple[list[int], int]:
    """One query, wire encoding included; returns the hits and the bytes exchanged."""
    query = clock.time("asker blinds", lambda: psi.Query([v.encode() for v in asked]))
    assert isinstance(query, psi.Query)
    sent = psi.points_to_wire(query.points)

    def answer() -> list[str]:
        return psi.points_to_wire(answerer.reblind(psi.points_from_wire(sent)))

    answered = clock.time("answerer reblinds", answer)
    assert isinstance(answered, list)
    hits = clock.time(
        "asker's final step",
        lambda: query.intersect(psi.points_from_wire(answered), asker_set),
    )
    assert isinstance(hits, list)
    return hits, 47 * (len(sent) + len(answered))


def ship_set(clock: Clock, data: bytes) -> psi.BlindedSet:
    """The set as it crosses the wire: base64 parts, parsed strictly, digest checked."""
    step = psi.MAX_TAGS_PER_MESSAGE * psi.TAG_BYTES

    def across() -> psi.BlindedSet:
        parts = [base64.b64encode(data[s : s + step]).decode() for s in range(0, len(data), step)]
        return psi.BlindedSet.from_bytes(b"".join(base64.b64decode(p) for p in parts))

    received = clock.time("set to the asker", across)
    assert isinstance(received, psi.BlindedSet)
    return received


def accord_balanced(asked: list[str], held: list[str], kind: str) -> dict:
    psi.PARALLEL = psi.Parallel(kind=kind)  # type: ignore[arg-type]
    before = load()
    clock = Clock()
    answerer, data = accord_setup(clock, held)
    asker_set = ship_set(clock, data)
    hits, exchanged = accord_query(clock, asked, answerer, asker_set)
    result = finish(clock, hits, asked, held, exchanged + len(data) * 4 // 3, before)
    if kind == "process":  # the workers' CPU is not this process's
        del result["cpu_seconds"], result["cpu_us_per_value"]
    return result


def finish(
    clock: Clock, hits: list[int], asked: list[str], held: list[str], wire: int, before: float
) -> dict:
    expected = len(set(asked) & set(held))
    if len(hits) != expected:
        raise AssertionError(f"{len(hits)} hits, {expected} expected")
    return {
        "seconds": clock.total,
        "values_per_second": round((len(asked) + len(held)) / clock.total),
        "cpu_seconds": round(clock.cpu, 3),
        "cpu_us_per_value": round(clock.cpu / (len(asked) + len(held)) * 1e6, 1),
        "phases": clock.phases,
        "hits": len(hits),
        "wire_bytes": wire,
        "load_1min": [before, load()],
    }


# ---------------------------------------------------------------- OpenMined


def openmined_setup(clock: Clock, held: list[str], asked_count: int) -> tuple[object, bytes]:
    server = openmined.server.CreateWithNewKey(True)

    def setup() -> bytes:
        message = server.CreateSetupMessage(FPR, asked_count, held)
        return message.SerializeToString()

    setup_bytes = clock.time("answerer set-up", setup)
    assert isinstance(setup_bytes, bytes)
    return server, setup_bytes


def openmined_query(
    clock: Clock, asked: list[str], server: object, setup_bytes: bytes
) -> tuple[list[int], int]:
    client = openmined.client.CreateWithNewKey(True)
    request = clock.time("asker blinds", lambda: client.CreateRequest(asked).SerializeToString())
    assert isinstance(request, bytes)

    def answer() -> bytes:
        parsed = openmined.Request()
        parsed.ParseFromString(request)
        return server.ProcessRequest(parsed).SerializeToString()  # type: ignore[attr-defined]

    response = clock.time("answerer reblinds", answer)
    assert isinstance(response, bytes)

    def final() -> list[int]:
        setup, reply = openmined.ServerSetup(), openmined.Response()
        setup.ParseFromString(setup_bytes)
        reply.ParseFromString(response)
        return sorted(client.GetIntersection(setup, reply))

    hits = clock.time("asker's final step", final)
    assert isinstance(hits, list)
    return hits, len(request) + len(response)


def openmined_balanced(asked: list[str], held: list[str]) -> dict:
    before = load()
    clock = Clock()
    server, setup_bytes = openmined_setup(clock, held, len(asked))
    hits, exchanged = openmined_query(clock, asked, server, setup_bytes)
    return finish(clock, hits, asked, held, exchanged + len(setup_bytes), before)


# ---------------------------------------------------------------- runs


def balanced(size: int, kinds: list[str]) -> dict:
    asked, held = workload(size, size, size // 10)
    row: dict = {"asked": size, "held": size, "overlap": size // 10, "accord": {}}
    for kind in kinds:
        print(f"{size:,} x {size:,}: Accord ({kind})", flush=True)
        row["accord"][kind] = accord_balanced(asked, held, kind)
    print(f"{size:,} x {size:,}: OpenMined", flush=True)
    row["openmined"] = openmined_balanced(asked, held)
    best = min(row["accord"].values(), key=lambda r: r["seconds"])
    row["ratio"] = round(row["openmined"]["seconds"] / best["seconds"], 2)
    if "serial" in row["accord"]:
        row["ratio_one_core"] = round(
            row["openmined"]["seconds"] / row["accord"]["serial"]["seconds"], 2
        )
    return row


def unbalanced(asked_count: int, held_count: int, repeats: int) -> dict:
    asked, held = workload(asked_count, held_count, asked_count // 10)
    psi.PARALLEL = psi.Parallel()
    row: dict = {
        "asked": asked_count,
        "held": held_count,
        "overlap": asked_count // 10,
        "pool": psi.PARALLEL.kind,
    }

    print(f"{asked_count} x {held_count:,}: Accord, first query", flush=True)
    before, clock = load(), Clock()
    answerer, data = accord_setup(clock, held)
    asker_set = ship_set(clock, data)
    hits, exchanged = accord_query(clock, asked, answerer, asker_set)
    first = finish(clock, hits, asked, held, exchanged + len(data) * 4 // 3, before)
    first["set_bytes"] = len(data)
    repeat = []
    for _ in range(repeats):
        before, clock = load(), Clock()
        # The asker's copy as a node would keep it: bytes, loaded and checked again.
        cached = clock.time("asker loads its cached set", lambda: psi.BlindedSet.from_bytes(data))
        assert isinstance(cached, psi.BlindedSet)
        hits, exchanged = accord_query(clock, asked, answerer, cached)
        repeat.append(finish(clock, hits, asked, held, exchanged, before))
    row["accord"] = {"first": first, "repeat": min(repeat, key=lambda r: r["seconds"])}

    print(f"{asked_count} x {held_count:,}: OpenMined, first query", flush=True)
    before, clock = load(), Clock()
    server, setup_bytes = openmined_setup(clock, held, asked_count)
    hits, exchanged = openmined_query(clock, asked, server, setup_bytes)
    first = finish(clock, hits, asked, held, exchanged + len(setup_bytes), before)
    first["set_bytes"] = len(setup_bytes)
    repeat = []
    for _ in range(repeats):
        before, clock = load(), Clock()
        hits, exchanged = openmined_query(clock, asked, server, setup_bytes)
        repeat.append(finish(clock, hits, asked, held, exchanged, before))
    row["openmined"] = {"first": first, "repeat": min(repeat, key=lambda r: r["seconds"])}
    return row


def libsodium_version() -> str:
    function = pysodium.sodium.sodium_version_string
    function.restype = ctypes.c_char_p
    return function().decode()


def primitives(rounds: int) -> dict:
    """libsodium's ristretto255 from Python, one thread: microseconds per call."""
    values = [f"value {i}".encode() for i in range(rounds)]
    key = psi.Key.generate().scalar
    started = time.perf_counter()
    points = [psi.hash_to_group(v) for v in values]
    hashed = time.perf_counter() - started
    started = time.perf_counter()
    for point in points:
        pysodium.crypto_scalarmult_ristretto255(key, point)
    multiplied = time.perf_counter() - started
    return {
        "hash_to_group_us": round(hashed / rounds * 1e6, 1),
        "scalar_mult_us": round(multiplied / rounds * 1e6, 1),
    }


# ---------------------------------------------------------------- report


def phases(run: dict) -> str:
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in run["phases"].items())


def report(results: dict) -> str:
    prim = results["primitives"]
    lines = [
        "# Private set intersection benchmark",
        "",
        f"Run {results['when']} on {results['machine']}, {results['seconds']} s in all. "
        f"Accord: accord.matching.psi with pysodium {results['versions']['pysodium']} "
        f"(libsodium {results['versions']['libsodium']}), ristretto255, on every core "
        "(worker processes) unless the row says otherwise. OpenMined PSI "
        f"{results['versions']['openmined_psi']}: P-256, one thread, its client/server API "
        f"revealing the intersection, GCS at fpr {FPR}. Both end to end in one process, "
        "messages serialised and parsed. Values/s = (asked + held) / seconds.",
        "",
        f"libsodium from Python, one thread: hash to group {prim['hash_to_group_us']} µs, "
        f"scalar multiplication {prim['scalar_mult_us']} µs.",
        "",
        "## Balanced: n × n, 10 % overlap",
        "",
        "Wall: seconds and values/s as measured, at the load shown (1-minute load "
        "average before and after the run; the machine has 2 cores, so a load above 2 "
        "means other processes took CPU from the run). CPU µs/value: this process's CPU "
        "time (every thread) per value, asked + held: the load-independent cost, one "
        "core's worth; not shown for the process pool, whose workers' CPU is elsewhere.",
        "",
        "| n | implementation | seconds | values/s | wall Accord/OpenMined "
        "| CPU µs/value | CPU OpenMined/Accord | wire MB | phases (s) | load 1 min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["balanced"]:
        om = row["openmined"]
        for kind, run in row["accord"].items():
            ratio = om["seconds"] / run["seconds"]
            cpu = run.get("cpu_us_per_value")
            cpu_ratio = f"{om['cpu_us_per_value'] / cpu:.2f}×" if cpu else "-"
            lines.append(
                f"| {row['asked']:,} | Accord ({kind}) | {run['seconds']:.2f} | "
                f"{run['values_per_second']:,} | **{ratio:.2f}×** | {cpu or '-'} | "
                f"{cpu_ratio} | {run['wire_bytes'] / 1e6:.1f} | {phases(run)} "
                f"| {run['load_1min']} |"
            )
        lines.append(
            f"| {row['asked']:,} | OpenMined | {om['seconds']:.2f} | {om['values_per_second']:,} "
            f"| 1 | {om['cpu_us_per_value']} | 1 | {om['wire_bytes'] / 1e6:.1f} | {phases(om)} "
            f"| {om['load_1min']} |"
        )
    if results.get("unbalanced"):
        row = results["unbalanced"]
        lines += [
            "",
            f"## Unbalanced: {row['asked']} asked against {row['held']:,} held",
            "",
            f"Accord's pool: {row['pool']}.",
            "",
            "First query: the answerer's set-up (its blinded set, or OpenMined's setup "
            "message), the set sent to the asker, and the query. Repeat: a fresh asker "
            "key, the answerer's set kept, the asker's cached copy loaded from bytes "
            "and checked (Accord) or the setup message kept (OpenMined); best of "
            f"{results['repeats']}.",
            "",
            "| implementation | query | seconds | set MB | phases (s) | load 1 min |",
            "|---|---|---|---|---|---|",
        ]
        for name in ("accord", "openmined"):
            for which in ("first", "repeat"):
                run = row[name][which]
                size = f"{run['set_bytes'] / 1e6:.1f}" if "set_bytes" in run else "-"
                lines.append(
                    f"| {'Accord' if name == 'accord' else 'OpenMined'} | {which} | "
                    f"{run['seconds']:.3f} | {size} | {phases(run)} | {run['load_1min']} |"
                )
    lines += ["", *[f"- {note}" for note in results.get("notes", [])]]
    return "\n".join(lines).rstrip() + "\n"


def observations(results: dict) -> list[str]:
    """Plain facts the numbers show, written into the report."""
    notes = []
    for row in results["balanced"]:
        om, runs = row["openmined"], row["accord"]
        best = min(runs, key=lambda kind: runs[kind]["seconds"])
        notes.append(
            f"{row['asked']:,} × {row['held']:,}: Accord ({best}) "
            f"{runs[best]['values_per_second']:,} values/s against OpenMined's "
            f"{om['values_per_second']:,}, {row['ratio']}× in wall time."
        )
        for kind in ("serial", "thread"):
            if kind in runs:
                cpu = runs[kind]["cpu_us_per_value"]
                notes.append(
                    f"{row['asked']:,} × {row['held']:,}, CPU: Accord ({kind}) {cpu} µs per "
                    f"value, OpenMined {om['cpu_us_per_value']} µs: "
                    f"{om['cpu_us_per_value'] / cpu:.2f}× less CPU per value for Accord."
                )
    if results.get("unbalanced"):
        row = results["unbalanced"]
        notes.append(
            f"{row['asked']} asked against {row['held']:,}: the first query takes "
            f"{row['accord']['first']['seconds']:.1f} s (Accord) and "
            f"{row['openmined']['first']['seconds']:.1f} s (OpenMined), nearly all of it the "
            f"answerer's set-up; a repeat takes {row['accord']['repeat']['seconds'] * 1000:.0f} "
            f"ms (Accord, the asker's cached set loaded from bytes included) and "
            f"{row['openmined']['repeat']['seconds'] * 1000:.0f} ms (OpenMined)."
        )
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="balanced n (default 10k, 100k)")
    parser.add_argument("--kinds", default="process,thread", help="Accord's pools at every n")
    parser.add_argument("--held", type=int, default=1_000_000, help="unbalanced: values held")
    parser.add_argument("--asked", type=int, default=100, help="unbalanced: values asked")
    parser.add_argument("--repeats", type=int, default=5, help="unbalanced: repeat queries")
    parser.add_argument("--skip-unbalanced", action="store_true")
    parser.add_argument("--out", default="psi", help="results file stem in bench/results")
    args = parser.parse_args()

    began = time.monotonic()
    results: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "versions": {
            "pysodium": version("pysodium"),
            "libsodium": libsodium_version(),
            "openmined_psi": version("openmined_psi"),
        },
        "load_1min_at_start": load(),
        "primitives": primitives(2000),
        "repeats": args.repeats,
        "balanced": [],
    }
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for n, size in enumerate(sizes):
        kinds = args.kinds.split(",") + (["serial"] if n == 0 else [])
        results["balanced"].append(balanced(size, kinds))
    if not args.skip_unbalanced:
        results["unbalanced"] = unbalanced(args.asked, args.held, args.repeats)
    results["seconds"] = round(time.monotonic() - began)
    results["notes"] = observations(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
