"""TAXII 2.1 server benchmark (`make bench`): Accord's TAXII server beside the
OASIS reference server medallion 3.0.0 (memory backend), driven the same way by
the OASIS client (taxii2-client) on loopback.

Workload, the same for both servers, on a store that grows through the sizes
(default 1,000 then 10,000 indicators built with stix2, unique patterns):
  ingest     the objects that take the store to that size, envelopes of 500
  read-back  the whole store, pages of 100, following `next` until `more` is false
  filtered   match[type]=indicator + added_after at the store's midpoint, paged
  first page the first page of the read-back (no filter)
Each medallion phase is capped (--medallion-timeout, 60 s): medallion's memory
backend is quadratic, and a phase that runs out is reported as a bound
("medallion < x objects/s", "Accord/medallion >= y x"). After a timeout medallion
is restarted with the store preloaded from a data file, so its later phases
still run on a store of the right size.

Accord runs on SQLite and on PostgreSQL (nodes from tests/live.py, one web
worker), with a partner account on HTTP Basic as `accord intel account add`
makes it (--auth token uses a Bearer token instead); with Basic, the reads are
done again with a Bearer token, to show them without the password check.
Beside the throughput: the OASIS validator's own cost per object on the same
objects, one core, measured just before each node both as shipped and as
Accord runs it (accord.intel.validation: the fast path of
accord.intel.fast_validation, the library for what it is not sure of), the
server's CPU per object, the time to the
first page with Basic and with a token, and the serving processes' RSS (/proc)
as the store grows. The load average is recorded: on a shared machine the
CPU times are the steadier figures.

The default run stops at 10,000 objects. Longer runs: --large adds 100,000
objects for Accord alone (several minutes per database, mostly the validator
on ingest); --full adds 100,000 and 1,000,000 (hours); --sizes and --accord-sizes set
the sizes freely; --medallion-timeout 120 gives sharper bounds (+2 minutes).

For the largest sizes (`make bench-scale`): --bounded-from N reads only the
first --sample-pages pages of each read from N objects on (first page, the
filtered read from the midpoint, median page, memory per process and the store
on disk are still measured; the cursor is keyset, so a page's cost does not
grow with its depth); --template-from N builds the objects past index N from
one stix2-built indicator (own id, name, pattern) instead of stix2 each time.
The json and md are written after every size, so a run cut short keeps what it
measured (--report-only rewrites the md from the json).

Results: bench/results/taxii.json and bench/results/taxii.md (--out sets the stem)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import httpx  # noqa: E402
import requests  # noqa: E402
import stix2  # noqa: E402
from taxii2client.v21 import Collection, as_pages  # noqa: E402
from tests.live import LiveNode, discard_node, free_port, make_node  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/accord")
MEDALLION_VENV = ROOT / "bench" / ".venv-medallion"
MEDALLION_VERSION = "3.0.0"
ACCOUNT = "bench-partner"
PASSWORD = "bench-partner-password-9"  # noqa: S105 (a throw-away loopback account)
STIX = "application/stix+json;version=2.1"
REQUEST_TIMEOUT = 600.0  # any single request to Accord; medallion's follow the phase budget


# ---------------------------------------------------------------- workload


def _build(start: int, stop: int) -> list[str]:
    """Indicators start..stop-1 as compact JSON, each with its own pattern."""
    out = []
    for i in range(start, stop):
        indicator = stix2.Indicator(
            name=f"bench indicator {i}",
            pattern=f"[ipv4-addr:value = '10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}']",
            pattern_type="stix",
            valid_from="2024-01-01T00:00:00Z",
            labels=["malicious-activity"],
        )
        out.append(indicator.serialize(separators=(",", ":")))
    return out


def _build_from_template(start: int, stop: int) -> list[str]:
    """Indicators start..stop-1 as _build makes them, but only the first is built
    by stix2: the others are its text with their own id, name and pattern (the
    same fields and sizes; stix2 takes ~1 ms per object, 15+ minutes for 1M on
    a shared machine)."""
    template = _build(start, start + 1)[0]
    first = json.loads(template)
    out = [template]
    for i in range(start + 1, stop):
        out.append(
            template.replace(first["id"], f"indicator--{uuid.uuid4()}")
            .replace(first["name"], f"bench indicator {i}")
            .replace(
                first["pattern"],
                f"[ipv4-addr:value = '10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}']",
            )
        )
    return out


def build_objects(count: int, template_from: int = 0) -> list[str]:
    """The workload's objects as JSON texts, built on every core before any server
    runs; from the index template_from on (if set), by _build_from_template."""
    step = 5000
    starts = range(0, count, step)
    builders = [
        _build_from_template if template_from and s >= template_from else _build for s in starts
    ]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        chunks = pool.map(_call, builders, starts, [min(s + step, count) for s in starts])
        return [text for chunk in chunks for text in chunk]


def _call(builder, start: int, stop: int) -> list[str]:
    return builder(start, stop)


def envelopes_of(objects: list[str], size: int) -> list[bytes]:
    return [
        ('{"objects":[' + ",".join(objects[s : s + size]) + "]}").encode()
        for s in range(0, len(objects), size)
    ]


VALIDATOR_PROBE = """
import json, os, sys, time
chosen = [json.loads(line) for line in open(sys.argv[2])]
if sys.argv[1] == "stock":
    from stix2validator import ValidationOptions, validate_instance
    options = ValidationOptions(version="2.1")
    def problems(obj):
        return [] if validate_instance(obj, options).is_valid else ["invalid"]
else:  # as Accord runs it: the fast path, the library for the rest (accord.intel.validation)
    from accord.intel.validation import problems_of as problems
for obj in chosen[:20]:  # warm-up: schemas and the pattern grammar
    problems(obj)
wall, cpu = time.perf_counter(), time.process_time()
for obj in chosen:
    if problems(obj):
        raise SystemExit(f"the validator refuses a workload object: {obj['id']}")
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(json.dumps({
    "sample": len(chosen),
    "cpu_ms_per_object": round(cpu * 1000 / len(chosen), 3),
    "wall_ms_per_object": round(wall * 1000 / len(chosen), 3),
    "objects_per_cpu_second": round(len(chosen) / cpu, 1),
    "load_1min": round(os.getloadavg()[0], 2),
}))
"""


def validator_cost(objects: list[str], sample: int) -> dict:
    """The OASIS validator on the workload's first objects, one core, each way in
    a fresh interpreter: `stock` is stix2validator.validate_instance as shipped,
    `accord` is how the server calls it (accord.intel.validation: the fast path
    of accord.intel.fast_validation, the library for the rest). CPU and wall
    milliseconds per object (CPU time is what the server's own CPU time compares
    with; it holds when other processes share the machine)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        handle.write("\n".join(objects[:sample]))
    try:
        found = {}
        for mode in ("stock", "accord"):
            done = subprocess.run(
                [sys.executable, "-c", VALIDATOR_PROBE, mode, handle.name],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=ROOT,
                check=False,
            )
            if done.returncode:
                raise AssertionError(f"validator probe ({mode}): {done.stderr[-2000:]}")
            found[mode] = json.loads(done.stdout)
    finally:
        os.unlink(handle.name)
    return {**found["stock"], "accord": found["accord"]}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- processes


def _rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, or (0, 0) once it is gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def session_memory(sid: int) -> dict:
    """RSS of every process in a session (a server started with start_new_session)."""
    rows = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) != sid:  # state ppid pgrp session ...
            continue
        rss, hwm = _rss_kib(int(entry.name))
        rows.append(
            {"pid": int(entry.name), "rss_kib": rss, "hwm_kib": hwm, "cmd": cmdline.strip()[:120]}
        )
    largest = max(rows, key=lambda r: r["rss_kib"]) if rows else {"rss_kib": 0, "hwm_kib": 0}
    return {
        "total_mib": round(sum(r["rss_kib"] for r in rows) / 1024, 1),
        "largest_mib": round(largest["rss_kib"] / 1024, 1),
        "largest_peak_mib": round(largest["hwm_kib"] / 1024, 1),
        "largest_cmd": largest.get("cmd", ""),
        "processes": len(rows),
        "per_process": [
            {"cmd": r["cmd"][:80], "rss_mib": round(r["rss_kib"] / 1024, 1)}
            for r in sorted(rows, key=lambda r: -r["rss_kib"])
        ],
    }


def session_cpu(sid: int) -> float:
    """User + system CPU seconds of the processes now in a session."""
    return sum(session_cpu_by_pid(sid).values())


def session_cpu_by_pid(sid: int) -> dict[int, float]:
    """User + system CPU seconds of each process now in a session."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime, stime
    return {pid: tick / os.sysconf("SC_CLK_TCK") for pid, tick in ticks.items()}


def stop_process(process: subprocess.Popen, grace: float = 15) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


# ---------------------------------------------------------------- the client


class PhaseTimeout(Exception):
    pass


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@dataclass
class Budget:
    """A phase's time limit; every request gets the time left as its timeout."""

    seconds: float | None
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        if self.seconds is None:
            return REQUEST_TIMEOUT
        left = self.started + self.seconds - time.monotonic()
        if left <= 0:
            raise PhaseTimeout
        return left


class Client:
    """One taxii2-client Collection whose every request honours the current budget."""

    def __init__(self, url: str, **auth) -> None:
        self.collection = Collection(url, **auth)
        self.budget = Budget(None)
        session = self.collection._conn.session
        original = session.request

        def request(method, url, **kwargs):
            kwargs["timeout"] = self.budget.left()
            try:
                return original(method, url, **kwargs)
            except requests.exceptions.Timeout:
                raise PhaseTimeout from None

        session.request = request
        self.collection.refresh()  # collection information, outside any timing

    def close(self) -> None:
        self.collection.close()


def ingest(server, envelopes: list[bytes], per_envelope: int, budget: Budget) -> dict:
    """POST the envelopes one by one; the server answers each with a status."""
    client = server.client
    client.budget = budget
    done = 0
    started = time.perf_counter()
    try:
        for envelope in envelopes:
            status = client.collection.add_objects(envelope, wait_for_completion=False)
            expected = per_envelope
            if status.status != "complete" or status.success_count != expected:
                raise AssertionError(
                    f"{server.label}: status {status.status}, "
                    f"{status.success_count}/{expected} stored: "
                    f"{status.failures[:3]}"
                )
            done += expected
            server.marks.append(stamp(datetime.now(UTC)))
    except PhaseTimeout:
        return timed_out(budget, done)
    seconds = time.perf_counter() - started
    return {
        "objects": done,
        "seconds": round(seconds, 3),
        "per_second": round(done / seconds, 1),
        "timed_out": False,
    }


def read_back(
    client: Client, page: int, budget: Budget, max_pages: int | None = None, **filters
) -> dict:
    """Every page of a (filtered) Get Objects, following `next` until `more` is
    false; or only the first max_pages pages (a bounded sample, `bounded` true)."""
    client.budget = budget
    pages = as_pages(client.collection.get_objects, per_request=page, **filters)
    latencies: list[float] = []
    count = 0
    started = time.perf_counter()
    try:
        while max_pages is None or len(latencies) < max_pages:
            began = time.perf_counter()
            try:
                envelope = next(pages)
            except StopIteration:
                break
            latencies.append(time.perf_counter() - began)
            count += len(envelope.get("objects", []))
    except PhaseTimeout:
        result = timed_out(budget, count)
        if latencies:
            result["first_page_ms"] = round(latencies[0] * 1000, 1)
        return result
    seconds = time.perf_counter() - started
    return {
        "objects": count,
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1),
        "timed_out": False,
        "bounded": max_pages is not None,
        "pages": len(latencies),
        "first_page_ms": round(latencies[0] * 1000, 1),
        "page_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "last_page_ms": round(latencies[-1] * 1000, 1),
    }


def timed_out(budget: Budget, done: int) -> dict:
    return {"objects": done, "seconds": budget.seconds, "timed_out": True}


def first_page_ms(client: Client, page: int, rounds: int, **filters) -> float:
    """Median latency of the first page (`limit`=page, no filter unless given)."""
    client.budget = Budget(None)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        client.collection.get_objects(limit=page, **filters)
        times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 1)


# ---------------------------------------------------------------- the servers


class AccordServer:
    """A fresh Accord node (tests/live.py) with a partner account on `shared`."""

    def __init__(self, root: Path, database: str, auth: str) -> None:
        self.database = database
        self.label = f"accord-{database}"
        self.marks: list[str] = []
        if database == "postgres":
            os.environ["ACCORD_DATABASE_URL"] = PG_URL
        else:
            os.environ.pop("ACCORD_DATABASE_URL", None)
        self.node: LiveNode = make_node(root, f"taxii-{database}.bench", "Bench", "Bench agency")
        self.client: Client | None = None
        try:
            self.node.init()
            self.node.accord(
                "intel",
                "account",
                "add",
                ACCOUNT,
                "--read",
                "shared",
                "--write",
                "shared",
                "--password-stdin",
                stdin=PASSWORD + "\n",
            )
            self.token = self.node.accord("intel", "account", "token", ACCOUNT).stdout.strip()
            self.node.start()
            basic = httpx.BasicAuth(ACCOUNT, PASSWORD)
            listing = httpx.get(
                self.node.url + "/taxii2/api1/collections/",
                auth=basic,
                headers={"Accept": "application/taxii+json;version=2.1"},
                timeout=60,
            ).json()
            shared = next(c for c in listing["collections"] if c["alias"] == "shared")
            self.url = f"{self.node.url}/taxii2/api1/collections/{shared['id']}/"
            self.basic = Client(self.url, user=ACCOUNT, password=PASSWORD)
            self.bearer = Client(self.url, auth=BearerAuth(self.token))
            self.client = self.basic if auth == "basic" else self.bearer
            self.marks.append(stamp(datetime.now(UTC)))
        except BaseException:
            self.stop()
            raise

    def memory(self) -> dict:
        return session_memory(self.node.process.pid)

    def cpu(self) -> float:
        return session_cpu(self.node.process.pid)

    def store_mib(self) -> float:
        if self.node.database_url:
            import psycopg

            with psycopg.connect(self.node.database_url) as conn:
                size = conn.execute("select pg_database_size(current_database())").fetchone()[0]
        else:
            size = sum(p.stat().st_size for p in self.node.data_dir.glob("accord.sqlite3*"))
        return round(size / 1_048_576, 1)

    def stop(self) -> None:
        discard_node(self.node)


class MedallionServer:
    """medallion 3.0.0, memory backend, in its own virtualenv, on a free loopback port."""

    def __init__(self, workdir: Path, objects: list[str], per_envelope: int) -> None:
        self.label = "medallion"
        self.per_envelope = per_envelope
        self.workdir = workdir
        self.objects = objects
        self.collection_id = str(uuid.uuid4())
        self.process: subprocess.Popen | None = None
        self.client: Client | None = None
        self.marks: list[str] = []
        self.preloaded = 0

    @staticmethod
    def ensure_installed() -> Path:
        program = MEDALLION_VENV / "bin" / "medallion"
        python = MEDALLION_VENV / "bin" / "python"
        if program.exists():
            installed = subprocess.run(
                [python, "-c", "import importlib.metadata as m; print(m.version('medallion'))"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if installed == MEDALLION_VERSION:
                return program
        print(f"installing medallion {MEDALLION_VERSION} into {MEDALLION_VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", MEDALLION_VENV], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", f"medallion=={MEDALLION_VERSION}"],
            check=True,
            timeout=600,
        )
        return program

    def _data(self, port: int, count: int) -> dict:
        """medallion's data file: discovery, one API root, one writable collection,
        and (after a timeout) the store's first `count` objects with their manifest,
        one date_added per envelope as an ingest would have made them."""
        root = f"http://127.0.0.1:{port}/api1/"
        start = datetime.now(UTC) - timedelta(days=1)
        objects, manifest = [], []
        for index, text in enumerate(self.objects[:count]):
            obj = json.loads(text)
            added = start + timedelta(seconds=1 + index // self.per_envelope)
            objects.append(obj)
            manifest.append(
                {
                    "id": obj["id"],
                    "date_added": stamp(added),
                    "version": obj["modified"],
                    "media_type": STIX,
                }
            )
        # marks[j]: a moment between envelope j-1 and envelope j (marks[0]: before all).
        self.marks = [
            stamp(start + timedelta(seconds=j + 0.5 if j else 0))
            for j in range(count // self.per_envelope + 1)
        ]
        return {
            "/discovery": {
                "title": "medallion (bench)",
                "description": "",
                "default": root,
                "api_roots": [root],
            },
            "api1": {
                "information": {
                    "title": "bench",
                    "description": "",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 100 * 1_048_576,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.collection_id,
                        "title": "bench",
                        "description": "",
                        "can_read": True,
                        "can_write": True,
                        "media_types": [STIX],
                        "objects": objects,
                        "manifest": manifest,
                    }
                ],
            },
        }

    def start(self, preload: int = 0) -> None:
        program = self.ensure_installed()
        port = free_port()
        data = self.workdir / "medallion-data.json"
        data.write_text(json.dumps(self._data(port, preload)))
        config = self.workdir / "medallion.json"
        config.write_text(
            json.dumps(
                {
                    "backend": {
                        "module": "medallion.backends.memory_backend",
                        "module_class": "MemoryBackend",
                        "filename": str(data),
                        # `next` tokens must outlive a slow read-back (default 30 s).
                        "session_timeout": 86400,
                    },
                    "users": {ACCOUNT: PASSWORD},
                    "taxii": {"max_page_size": 1000},
                }
            )
        )
        log = (self.workdir / "medallion.log").open("ab")
        self.process = subprocess.Popen(
            [program, "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARN", config],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise AssertionError("medallion exited on start: see " + str(log.name))
            try:
                answer = httpx.get(
                    url + "/taxii2/",
                    auth=(ACCOUNT, PASSWORD),
                    timeout=2,
                    headers={"Accept": "application/taxii+json;version=2.1"},
                )
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("medallion did not start in 60 s")
            time.sleep(0.2)
        self.preloaded = preload
        self.client = Client(
            f"{url}/api1/collections/{self.collection_id}/", user=ACCOUNT, password=PASSWORD
        )

    def restart(self, count: int) -> None:
        """After a timeout: a busy medallion cannot be interrupted, so start anew
        with the store's `count` objects preloaded."""
        self.stop()
        self.start(preload=count)

    def memory(self) -> dict:
        return session_memory(self.process.pid)

    def cpu(self) -> float:
        return session_cpu(self.process.pid)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.process is not None:
            stop_process(self.process)


# ---------------------------------------------------------------- the run


def midpoint(server, size: int, per_envelope: int) -> tuple[str, int]:
    """added_after at the envelope boundary nearest below the store's middle, and
    how many objects lie after it."""
    boundary = (size // 2) // per_envelope
    return server.marks[boundary], size - boundary * per_envelope


def finish(server, step: dict, phase: str, want: int | None, samples: list[float]) -> None:
    """Check a phase's count, sample memory, and after a timeout restart medallion."""
    result = step[phase]
    samples.append(server.memory()["total_mib"])
    if result["timed_out"]:
        server.restart(step["objects"])
    elif want is not None and result["objects"] != want:
        raise AssertionError(f"{server.label} {phase}: {result['objects']} of {want}")


def phase(server, run, *args, **kwargs) -> dict:
    """One phase, with the server's CPU seconds spent in it."""
    before = server.cpu()
    result = run(*args, **kwargs)
    result["server_cpu_s"] = round(server.cpu() - before, 3)
    return result


def run_steps(server, sizes: list[int], envelopes: list[bytes], args, budget_seconds, steps, save):
    """Grow the store through the sizes; at each, ingest, read back, filter.
    Each step is appended to `steps` and `save()` is called, so a run cut short
    keeps the sizes it measured. From --bounded-from on, the reads are bounded
    samples of --sample-pages pages instead of the whole store."""
    have = 0
    for size in sizes:
        step: dict = {"objects": size, "load_at_start": [round(x, 2) for x in os.getloadavg()]}
        samples = []
        bounded = args.sample_pages if args.bounded_from and size >= args.bounded_from else None

        batch = envelopes[have // args.envelope : size // args.envelope]
        step["ingest"] = phase(server, ingest, server, batch, args.envelope, Budget(budget_seconds))
        step["ingest"]["added"] = size - have
        finish(server, step, "ingest", None, samples)
        have = size
        step["read"] = phase(
            server, read_back, server.client, args.page, Budget(budget_seconds), bounded
        )
        finish(server, step, "read", None if bounded else size, samples)
        after, expected = midpoint(server, size, args.envelope)
        query = {"type": "indicator", "added_after": after}
        step["filtered"] = phase(
            server, read_back, server.client, args.page, Budget(budget_seconds), bounded, **query
        )
        step["filtered"]["expected"] = expected
        finish(server, step, "filtered", None if bounded else expected, samples)
        if isinstance(server, AccordServer):
            if server.client is server.basic:
                # The same reads without the per-request password check.
                step["read_bearer"] = phase(
                    server, read_back, server.bearer, args.page, Budget(None), bounded
                )
                finish(server, step, "read_bearer", None if bounded else size, samples)
                step["filtered_bearer"] = phase(
                    server, read_back, server.bearer, args.page, Budget(None), bounded, **query
                )
                finish(server, step, "filtered_bearer", None if bounded else expected, samples)
            step["first_page_basic_ms"] = first_page_ms(server.basic, args.page, args.probes)
            step["first_page_bearer_ms"] = first_page_ms(server.bearer, args.page, args.probes)
            step["filtered_first_page_ms"] = first_page_ms(
                server.basic, args.page, args.probes, **query
            )
            step["store_mib"] = server.store_mib()
        else:
            step["preloaded"] = server.preloaded
        step["memory"] = server.memory()
        step["memory"]["max_total_mib"] = max([*samples, step["memory"]["total_mib"]])
        step["load_1min"] = round(os.getloadavg()[0], 2)
        step["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
        step["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        steps.append(step)
        print(json.dumps({"server": server.label, **step}), flush=True)
        save()
    return steps


def run_accord(
    database: str, sizes: list[int], objects: list[str], envelopes: list[bytes], args, results, save
) -> dict:
    # Measured just before each node: the machine's speed drifts over a long run.
    validator = validator_cost(objects, args.validator_sample)
    print(json.dumps({"validator": validator}), flush=True)
    root = Path(tempfile.mkdtemp(prefix=f"accord-bench-taxii-{database}-"))
    server = AccordServer(root, database, args.auth)
    run = {"server": "accord", "database": database, "validator": validator, "steps": []}
    results["runs"].append(run)
    try:
        run_steps(server, sizes, envelopes, args, None, run["steps"], save)
        return run
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def run_medallion(
    sizes: list[int], objects: list[str], envelopes: list[bytes], args, results, save
) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="medallion-bench-"))
    server = MedallionServer(workdir, objects, args.envelope)
    run = {"server": "medallion", "version": MEDALLION_VERSION, "steps": []}
    results["runs"].append(run)
    try:
        server.start()
        run_steps(server, sizes, envelopes, args, args.medallion_timeout, run["steps"], save)
        return run
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- the report

# (Accord's phase, medallion's phase it is compared with, title)
ROWS = (
    ("ingest", "ingest", "ingest (envelopes of 500)"),
    ("read", "read", "read-back (pages of 100)"),
    ("filtered", "filtered", "filtered: type + added_after midpoint"),
    ("read_bearer", "read", "read-back, Accord with a Bearer token"),
    ("filtered_bearer", "filtered", "filtered, Accord with a Bearer token"),
)


def rate(phase: dict, size: int) -> str:
    if phase["timed_out"]:
        total = phase_total(phase, size)
        return f"< {total / phase['seconds']:.0f} (timed out at {phase['seconds']:.0f} s)"
    return f"{phase['per_second']:.0f}"


def phase_total(phase: dict, size: int) -> int:
    return phase.get("added") or phase.get("expected") or size


def ratio(accord: dict, medallion: dict, size: int) -> str:
    if accord["timed_out"]:
        return "-"
    if medallion["timed_out"]:
        bound = accord["per_second"] / (phase_total(medallion, size) / medallion["seconds"])
        return f"**≥ {times(bound)}**"
    return f"**{times(accord['per_second'] / medallion['per_second'])}**"


def times(value: float) -> str:
    return f"{value:.0f}×" if value >= 100 else f"{value:.1f}×" if value >= 1 else f"{value:.2f}×"


def load_note(results: dict) -> str:
    loads = [results["load_1min_at_start"]] + [
        s["load_1min"] for r in results["runs"] for s in r["steps"]
    ]
    cores = os.cpu_count() or 1
    text = (
        f"Load average (1 min) seen during the run: {min(loads):.1f} to {max(loads):.1f} "
        f"on {cores} cores."
    )
    if max(loads) > cores:
        text += (
            " **Other processes shared the machine**: wall-clock rates (objects/s, ms) are "
            "lower than on a quiet machine and the two servers, run one after the other, "
            "did not see the same load; CPU times per object are the steadier figures."
        )
    return text


def pages(phase: dict | None) -> str:
    if phase is None:
        return "-"
    if phase["timed_out"]:
        first = phase.get("first_page_ms")
        return f"{first} / - / -" if first else f"> {phase['seconds'] * 1000:.0f} / - / -"
    return f"{phase['first_page_ms']} / {phase['page_p50_ms']} / {phase['last_page_ms']}"


def report(results: dict) -> str:
    accord_runs = [r for r in results["runs"] if r["server"] == "accord"]
    medallion = next((r for r in results["runs"] if r["server"] == "medallion"), None)
    versions = results["versions"]
    lines = [
        "# TAXII 2.1 server benchmark",
        "",
        f"Run {results['when']} on {results['machine']}, {results['seconds']} s in all. "
        f"Client: taxii2-client {versions['taxii2-client']}, one request at a time, on "
        f"loopback. Objects: indicators built with stix2 {versions['stix2']} "
        f"(~{results['object_bytes']} B each, unique patterns). The store grows through "
        "the sizes; at each, *ingest* is the objects that took it there, then the whole "
        "store is read back and queried.",
        "",
        "Accord: one web worker (gunicorn gthread, 4 threads), partner account on "
        f"{'HTTP Basic' if results['auth'] == 'basic' else 'a Bearer token'} "
        "(`accord intel account add`). "
        f"medallion {MEDALLION_VERSION}: memory backend, Flask's own server, each phase "
        f"capped at {results['medallion_timeout']:.0f} s; a capped phase gives a bound "
        "(medallion < x objects/s, Accord/medallion ≥ y×) and medallion is restarted with "
        "the store preloaded for the next phase.",
        "",
        f"OASIS validator alone (stix2validator {versions['stix2-validator']}, in-process, "
        "one core, the workload's first objects, measured just before each Accord node): "
        + "; ".join(
            f"{r['validator']['cpu_ms_per_object']:.2f} ms CPU per object before the "
            f"{r['database']} node = **{r['validator']['objects_per_cpu_second']:.0f} "
            "objects/s**"
            for r in accord_runs
        )
        + ". As Accord runs it (`accord.intel.validation`: jsonschema-rs on the "
        "library's schemas, the library's checks with timestamps read by datetime and "
        "the pattern check asked once per pattern shape; the library itself for "
        "anything else, see docs/intel.md section 4): "
        + "; ".join(
            f"{r['validator']['accord']['cpu_ms_per_object']:.2f} ms CPU per object = "
            f"**{r['validator']['accord']['objects_per_cpu_second']:.0f} objects/s** per core "
            f"({r['database']})"
            for r in accord_runs
            if "accord" in r["validator"]
        )
        + ". That, times the cores (envelopes of 200 objects or more are validated by a "
        "pool of processes, one per core), is the ceiling for an ingest that validates "
        "every object (medallion validates nothing).",
        "",
        load_note(results),
        "",
        "## Objects per second",
        "",
    ]
    header, rule = "| phase | store | medallion |", "|---|---|---|"
    for run in accord_runs:
        header += f" Accord {run['database']} | Accord/medallion |"
        rule += "---|---|"
    lines += [header, rule]
    compared = [s["objects"] for s in medallion["steps"]] if medallion else []
    larger = sorted({s["objects"] for r in accord_runs for s in r["steps"]} - set(compared))
    for key, theirs, title in ROWS:
        if not any(key in s for r in accord_runs for s in r["steps"]):
            continue
        for size in compared:
            m = next(s for s in medallion["steps"] if s["objects"] == size)[theirs]
            row = f"| {title} | {size:,} | {rate(m, size)} |"
            for run in accord_runs:
                a = next((s for s in run["steps"] if s["objects"] == size), {}).get(key)
                row += f" {rate(a, size)} | {ratio(a, m, size)} |" if a else " - | - |"
            lines.append(row)
        for size in larger:
            row = f"| {title} | {size:,} | not run |"
            for run in accord_runs:
                a = next((s for s in run["steps"] if s["objects"] == size), {}).get(key)
                row += f" {rate(a, size)} | - |" if a else " - | - |"
            lines.append(row)
    lines += [
        "",
        "## Ingest against the validator",
        "",
        "Server CPU: user + system CPU of all the server's processes during the ingest "
        "(PostgreSQL's own processes not counted), per object stored. Validator share: "
        "the validator's CPU per object (as Accord runs it) over the server's, i.e. how "
        "much of the ingest's "
        "CPU the validation alone accounts for. CPU times hold when other processes share "
        "the machine; objects/s (wall) do not.",
        "",
        "| server | store | ingest objects/s | server CPU ms per object "
        "| validator CPU ms per object | validator share of server CPU |",
        "|---|---|---|---|---|---|",
    ]
    for run in ([medallion] if medallion else []) + accord_runs:
        name = "medallion" if run["server"] == "medallion" else f"Accord {run['database']}"
        for step in run["steps"]:
            ingested = step["ingest"]
            if ingested["timed_out"] or not ingested["objects"]:
                continue
            server_ms = ingested["server_cpu_s"] * 1000 / ingested["objects"]
            if "validator" in run:
                valid_ms = run["validator"].get("accord", run["validator"])["cpu_ms_per_object"]
                tail = f"{valid_ms:.2f} | {valid_ms / server_ms:.0%} |"
            else:
                tail = "- | - |"
            lines.append(
                f"| {name} | {step['objects']:,} | {ingested['per_second']:.0f} "
                f"| {server_ms:.2f} | {tail}"
            )
    lines += [
        "",
        "## Time to the first page and memory as the store grows",
        "",
        "Pages: first / median / last page of the read-back (pages of 100, no filter), in "
        "ms; *Bearer* is the same read-back with a token. First page Basic / Bearer: "
        f"median of {results['probes']} first pages with each credential. RSS: every "
        "process of the server at the end of the step (max over the step's phases in "
        "brackets); Accord's are `accord serve`, gunicorn master and worker, task worker, "
        "deliverer and clock (PostgreSQL's own processes are not counted). *Worker*: "
        "the largest process (Accord's web worker, medallion's only one), now / peak. "
        "*(preloaded)*: medallion was restarted after a timeout with the store loaded "
        "from a file, so its RSS at the end is a fresh process's.",
        "",
        "| server | store | pages ms | pages ms, Bearer | first page ms, Basic / Bearer "
        "| RSS MiB | worker MiB | store on disk MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in ([medallion] if medallion else []) + accord_runs:
        name = "medallion" if run["server"] == "medallion" else f"Accord {run['database']}"
        for step in run["steps"]:
            probes = (
                f"{step['first_page_basic_ms']} / {step['first_page_bearer_ms']}"
                if "first_page_basic_ms" in step
                else "-"
            )
            memory = step["memory"]
            note = " (preloaded)" if step.get("preloaded") else ""
            lines.append(
                f"| {name} | {step['objects']:,}{note} | {pages(step['read'])} "
                f"| {pages(step.get('read_bearer'))} | {probes} "
                f"| {memory['total_mib']} ({memory['max_total_mib']}) "
                f"| {memory['largest_mib']} / {memory['largest_peak_mib']} "
                f"| {step.get('store_mib', '-')} |"
            )
    lines += scale_section(results)
    lines += [""] + [f"- {note}" for note in results.get("notes", [])]
    if not results.get("complete", True):
        lines += ["", "**Partial results**: the run had not finished when this was written."]
    return "\n".join(lines).rstrip() + "\n"


def role(cmd: str) -> str:
    """A process's module (`python -m accord.cli background` -> background)."""
    words = cmd.split()
    module = words[words.index("-m") + 1] if "-m" in words[:-1] else words[0] if words else "?"
    if module == "accord.cli" and len(words) > words.index("-m") + 2:
        return words[words.index("-m") + 2]
    return module.rsplit(".", 1)[-1]


def scale_section(results: dict) -> list[str]:
    """Accord per size: ingest, first page, filtered first page, memory per
    process, disk; and the largest size over the smallest (goal: at most 2x)."""
    lines = [
        "",
        "## Accord as the store grows",
        "",
        f"First page / filtered first page: median of {results['probes']} requests "
        "(HTTP Basic; filtered = type=indicator + added_after at the store's midpoint). "
        "Page p50: median page of the read-back (pages of 100); *bounded*: from "
        f"{results.get('bounded_from') or '-'} objects on, only the first "
        f"{results.get('sample_pages')} pages of each read are fetched (the cursor is "
        "keyset, so a page's cost does not depend on its depth; the filtered read starts "
        "at the midpoint). RSS MiB per process, largest first.",
        "",
        "| database | store | ingest obj/s | first page ms | filtered first page ms "
        "| page p50 ms (read / filtered) | RSS MiB total | RSS MiB per process | disk MiB "
        "| load 1/5/15 at end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in (r for r in results["runs"] if r["server"] == "accord"):
        for step in run["steps"]:
            read, filtered = step["read"], step["filtered"]
            mark = " (bounded)" if read.get("bounded") else ""
            per = ", ".join(
                f"{role(p['cmd'])} {p['rss_mib']:.0f}"
                for p in step["memory"].get("per_process", [])
            )
            lines.append(
                f"| {run['database']} | {step['objects']:,} | {step['ingest']['per_second']:.0f} "
                f"| {step['first_page_basic_ms']} | {step.get('filtered_first_page_ms', '-')} "
                f"| {read.get('page_p50_ms', '-')} / {filtered.get('page_p50_ms', '-')}{mark} "
                f"| {step['memory']['total_mib']} | {per} | {step['store_mib']} "
                f"| {step.get('load_at_end', step['load_1min'])} |"
            )
        if len(run["steps"]) > 1:
            low, high = run["steps"][0], run["steps"][-1]
            pairs = (
                ("first page ms", "first_page_basic_ms"),
                ("filtered first page ms", "filtered_first_page_ms"),
            )
            parts = [
                f"{title} {high[key]} / {low[key]} = **{high[key] / low[key]:.2f}×**"
                for title, key in pairs
                if key in low and key in high
            ]
            parts.append(
                f"RSS total {high['memory']['total_mib']} / {low['memory']['total_mib']} MiB "
                f"= **{high['memory']['total_mib'] / low['memory']['total_mib']:.2f}×**, "
                f"largest process {high['memory']['largest_mib']} / "
                f"{low['memory']['largest_mib']} MiB = "
                f"**{high['memory']['largest_mib'] / low['memory']['largest_mib']:.2f}×**"
            )
            lines += [
                "",
                f"{run['database']}, {high['objects']:,} over {low['objects']:,} objects "
                "(goal ≤ 2×): " + "; ".join(parts) + ".",
            ]
    return lines


def observations(results: dict) -> list[str]:
    """Plain facts the numbers show, written into the report."""
    notes = []
    for run in (r for r in results["runs"] if r["server"] == "accord"):
        for step in run["steps"][-1:]:
            basic, bearer = step["first_page_basic_ms"], step["first_page_bearer_ms"]
            notes.append(
                f"Accord {run['database']}, {step['objects']:,} objects: a first page takes "
                f"{basic} ms with HTTP Basic and {bearer} ms with a Bearer token; the "
                f"difference ({basic - bearer:.0f} ms) is the password check, paid on every "
                "request."
            )
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,10000", help="store sizes for both servers (default 1000,10000)"
    )
    parser.add_argument(
        "--accord-sizes", default="", help="further sizes for Accord alone, e.g. 100000"
    )
    parser.add_argument("--large", action="store_true", help="Accord alone to 100,000 too")
    parser.add_argument(
        "--full", action="store_true", help="Accord alone to 100,000 and 1,000,000 (hours)"
    )
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--medallion-timeout",
        type=float,
        default=60.0,
        help="seconds per medallion phase (default 60; 120 gives sharper bounds, +2 min)",
    )
    parser.add_argument("--skip-medallion", action="store_true")
    parser.add_argument(
        "--auth",
        choices=("basic", "token"),
        default="basic",
        help="Accord's credential for the workload (default basic)",
    )
    parser.add_argument("--envelope", type=int, default=500, help="objects per POST")
    parser.add_argument("--page", type=int, default=100, help="objects per page")
    parser.add_argument("--probes", type=int, default=3, help="first pages per credential")
    parser.add_argument("--validator-sample", type=int, default=1000)
    parser.add_argument("--out", default="taxii", help="results file stem in bench/results")
    parser.add_argument(
        "--bounded-from",
        type=int,
        default=0,
        help="from this store size on, read only --sample-pages pages of each read "
        "instead of the whole store (default 0: always the whole store)",
    )
    parser.add_argument(
        "--sample-pages", type=int, default=50, help="pages per bounded read (default 50)"
    )
    parser.add_argument(
        "--template-from",
        type=int,
        default=0,
        help="objects from this index on are copies of a stix2-built indicator with "
        "their own id, name and pattern (default 0: every object built by stix2)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the md from the --out json"
    )
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads((RESULTS / f"{args.out}.json").read_text())
        (RESULTS / f"{args.out}.md").write_text(report(saved))
        return

    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    extra = {int(s) for s in args.accord_sizes.split(",") if s}
    if args.large or args.full:
        extra.add(100_000)
    if args.full:
        extra.add(1_000_000)
    accord_sizes = sorted(set(sizes) | extra)
    for size in accord_sizes:
        if size % args.envelope:
            parser.error(f"every size must be a multiple of --envelope ({args.envelope})")
    if not args.skip_medallion:
        MedallionServer.ensure_installed()

    began = time.monotonic()
    print(f"building {accord_sizes[-1]:,} indicators with stix2", flush=True)
    objects = build_objects(accord_sizes[-1], args.template_from)
    envelopes = envelopes_of(objects, args.envelope)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "versions": {
            name: version(name) for name in ("taxii2-client", "stix2", "stix2-validator", "Django")
        },
        "object_bytes": round(sum(len(t) for t in objects[:1000]) / min(1000, len(objects))),
        "envelope": args.envelope,
        "page": args.page,
        "auth": args.auth,
        "probes": args.probes,
        "medallion_timeout": args.medallion_timeout,
        "load_1min_at_start": round(os.getloadavg()[0], 2),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "bounded_from": args.bounded_from,
        "sample_pages": args.sample_pages,
        "template_from": args.template_from,
        "runs": [],
    }

    def save(final: bool = False) -> None:
        """Write the results so far (after every step, and at the end)."""
        results["seconds"] = round(time.monotonic() - began)
        results["complete"] = final
        results["notes"] = observations(results)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / f"{args.out}.md").write_text(report(results))

    if not args.skip_medallion:
        run_medallion(sizes, objects, envelopes, args, results, save)
    for database in args.databases.split(","):
        run_accord(database, accord_sizes, objects, envelopes, args, results, save)
    results["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    save(final=True)
    print(report(results))


if __name__ == "__main__":
    main()
