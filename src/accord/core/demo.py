"""The two-node demo federation that `make run` starts on loopback.

Each node is a real `accord serve` process with its own data directory and
SQLite database, so the demo behaves exactly like two agencies' nodes: each
works in its own time zone and keeps its own country's public holidays
(docs/assistance.md 6.6), so the deadlines show both calendars at work. Data is
synthetic and kept between runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import httpx

from accord.core.democlient import DEMO_CODES, DEMO_TOTP_SECRET, TOTP_STEP_SECONDS
from accord.core.processes import terminate
from accord.core.roles import SECOND_FACTOR_ROLES, Role

# A published demo credential over synthetic data, never a real account.
DEMO_PASSWORD = "accord-demo-2026"  # noqa: S105  # nosec B105
READY_TIMEOUT_SECONDS = 60
STOP_GRACE_SECONDS = 20


class DemoError(Exception):
    pass


@dataclass(frozen=True)
class DemoNode:
    node_id: str
    party: str
    agency: str
    port: int
    people: dict[Role, str]  # role -> full name (synthetic)
    time_zone: str = "UTC"  # ACCORD_TIME_ZONE
    holiday_country: str = ""  # ACCORD_HOLIDAY_COUNTRY
    central_authority: bool = True  # holds its party's central authority

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


USERNAMES = {
    Role.INVESTIGATOR: "investigator",
    Role.PROSECUTOR: "prosecutor",
    Role.CENTRAL_AUTHORITY: "central",
    Role.ANALYST: "analyst",
    Role.AUDITOR: "auditor",
    Role.NODE_ADMIN: "admin",
}

NODES: tuple[DemoNode, ...] = (
    DemoNode(
        "cn.mps",
        "China",
        "Ministry of Public Security",
        8001,
        {
            Role.INVESTIGATOR: "李明 Li Ming (demo)",
            Role.PROSECUTOR: "王芳 Wang Fang (demo)",
            Role.CENTRAL_AUTHORITY: "张伟 Zhang Wei (demo)",
            Role.ANALYST: "刘洋 Liu Yang (demo)",
            Role.AUDITOR: "陈静 Chen Jing (demo)",
            Role.NODE_ADMIN: "赵磊 Zhao Lei (demo)",
        },
        time_zone="Asia/Shanghai",
        holiday_country="CN",
    ),
    DemoNode(
        "us.doj",
        "United States",
        "Department of Justice",
        8002,
        {
            Role.INVESTIGATOR: "Alex Morgan (demo)",
            Role.PROSECUTOR: "Jordan Lee (demo)",
            Role.CENTRAL_AUTHORITY: "Sam Rivera (demo)",
            Role.ANALYST: "Casey Kim (demo)",
            Role.AUDITOR: "Taylor Brooks (demo)",
            Role.NODE_ADMIN: "Robin Hayes (demo)",
        },
        time_zone="America/New_York",
        holiday_country="US",
    ),
    # Another agency of the United States, not its central authority (issue 16):
    # it co-chairs the reference dialogue's round and executes what us.doj assigns.
    DemoNode(
        "us.dhs",
        "United States",
        "Department of Homeland Security",
        8003,
        {
            Role.INVESTIGATOR: "Morgan Diaz (demo)",
            Role.PROSECUTOR: "Riley Chen (demo)",
            Role.CENTRAL_AUTHORITY: "Avery Patel (demo)",
            Role.ANALYST: "Jamie Ortiz (demo)",
            Role.AUDITOR: "Drew Novak (demo)",
            Role.NODE_ADMIN: "Quinn Walsh (demo)",
        },
        time_zone="America/New_York",
        holiday_country="US",
        central_authority=False,
    ),
)
# The web worker processes each demo node runs: one is plenty for a demo, and
# each further worker costs about 100 MiB (bench/results/demo.md).
DEMO_WEB_WORKERS = 1


# The calendar settings an operator may give the demo (both nodes then keep it).
CALENDAR_SETTINGS = ("ACCORD_TIME_ZONE", "ACCORD_HOLIDAY_COUNTRY")


def node_env(root: Path, node: DemoNode) -> dict[str, str]:
    """The node's environment: none of the operator's ACCORD_* settings (the
    demo nodes keep their own data and database), but the node's own calendar,
    unless the operator set one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env["ACCORD_DATA_DIR"] = str(root / node.node_id)
    env["DJANGO_SETTINGS_MODULE"] = "accord.settings"
    own = dict(zip(CALENDAR_SETTINGS, (node.time_zone, node.holiday_country), strict=True))
    for name in CALENDAR_SETTINGS:
        env[name] = os.environ.get(name, own[name])
    return env


def accord(root: Path, node: DemoNode, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "accord.cli", *args],
        env=node_env(root, node),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise DemoError(f"{node.node_id}: accord {args[0]} failed: {' '.join(message[-1:])}")
    return result.stdout


def peer_demo_nodes(root: Path, out: TextIO) -> None:
    """Each demo node pins every other, as administrators would after reading
    their fingerprints to each other; skipped when already done. One process
    per node, the nodes side by side."""
    fingerprints = {
        node.node_id: httpx.get(node.url + ".well-known/accord", timeout=5).json()["fingerprint"]
        for node in NODES
    }

    def pin(node: DemoNode) -> list[str]:
        others = [
            {"node_id": other.node_id, "url": other.url, "fingerprint": fingerprints[other.node_id]}
            for other in NODES
            if other is not node
        ]
        return in_one_process(root, node, {"peers": others})

    with ThreadPoolExecutor(len(NODES)) as pool:
        for node, added in zip(NODES, pool.map(pin, NODES), strict=True):
            for line in added:
                out.write(f"{node.node_id} now peers with {line.removeprefix('added ')}\n")


def in_one_process(root: Path, node: DemoNode, spec: dict) -> list[str]:
    """Run accord.core.demoprep for the node; the lines it prints."""
    result = subprocess.run(
        [sys.executable, "-m", "accord.core.demoprep"],
        env=node_env(root, node),
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise DemoError(f"{node.node_id}: preparing failed: {' '.join(message[-1:])}")
    return result.stdout.splitlines()


def seed_examples(root: Path, out: TextIO) -> None:
    """Example requests, cases, the reference dialogue and an evidence item sent
    between the nodes, once (the nodes keep them)."""
    from accord.assistance.demo import seed as seed_requests
    from accord.cases.demo import seed as seed_cases
    from accord.core.democlient import SeedError
    from accord.dialogue.demo import seed as seed_dialogue
    from accord.evidence.demo import seed as seed_evidence

    steps: list[Callable[..., object]] = []
    listed = json.loads(accord(root, NODES[0], "requests", "list", "--json"))
    if not any(row["reference"].startswith("SYN-") for row in listed):
        try:
            load_history(root, out)
        except DemoError as exc:
            out.write(f"warning: no synthetic history: {exc}\n")
    if not [row for row in listed if not row["reference"].startswith("SYN-")]:
        out.write("Creating example requests (synthetic data) …\n")
        steps.append(seed_requests)
    if not json.loads(accord(root, NODES[0], "cases", "list", "--json")):
        out.write("Creating example cases (synthetic data) …\n")
        steps.append(seed_cases)
    if "No dialogues." in accord(root, NODES[0], "dialogue", "list"):
        out.write("Loading the reference dialogue …\n")
        steps.append(seed_dialogue)
    if not json.loads(accord(root, NODES[0], "evidence", "list", "--json")):
        out.write("Adding an example evidence item and sending it (synthetic data) …\n")
        steps.append(seed_evidence)
    for step in steps:
        # The reference dialogue's 2017 round is co-chaired by all three agencies.
        extra = {"dhs_url": NODES[2].url} if step is seed_dialogue else {}
        try:
            step(NODES[0].url, NODES[1].url, DEMO_PASSWORD, out, **extra)
        except (SeedError, httpx.HTTPError) as exc:
            out.write(f"warning: the examples are incomplete: {exc}\n")


def load_history(root: Path, out: TextIO, months: int = 6) -> None:
    """Months of synthetic past requests between the two nodes, so the
    dashboard's charts have a history (accord.assistance.history): each node
    loads its replicas of the same past, which ends yesterday."""
    out.write(f"Loading {months} months of synthetic request history …\n")
    until = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    # Between the two central authorities, which exchange the requests.
    pair = NODES[:2]
    for node in pair:
        other = next(n for n in pair if n is not node)
        accord(
            root,
            node,
            "requests",
            "history",
            other.node_id,
            "--until",
            until,
            "--months",
            f"{months}",
        )


def prepare(root: Path, node: DemoNode, out: TextIO) -> None:
    """Initialise once; later runs reuse the node and only apply new migrations."""
    if (root / node.node_id / "node.json").exists():
        accord(root, node, "migrate", "--no-input", "-v", "0")
        return
    out.write(f"Creating demo node {node.node_id} …\n")
    users = [
        {
            "username": username,
            "role": role.value,
            "full_name": node.people[role],
            "password": DEMO_PASSWORD,
            # Roles that must verify a second factor get the published demo secret.
            "totp_secret": DEMO_TOTP_SECRET if role in SECOND_FACTOR_ROLES else "",
        }
        for role, username in USERNAMES.items()
    ]
    init = {
        "node_id": node.node_id,
        "party": node.party,
        "agency": node.agency,
        "central_authority": node.central_authority,
    }
    in_one_process(root, node, {"init": init, "users": users})


def prepare_all(root: Path, out: TextIO) -> None:
    """The nodes are prepared side by side (each in its own process)."""
    with ThreadPoolExecutor(len(NODES)) as pool:
        list(pool.map(lambda node: prepare(root, node, out), NODES))


def wait_ready(node: DemoNode, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{node.node_id} exited while starting (code {process.returncode})")
        try:
            if httpx.get(node.url + ".well-known/accord", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise DemoError(f"{node.node_id} did not answer within {READY_TIMEOUT_SECONDS} s")


def current_code() -> str:
    """The demo authenticator's code now (`accord demo --code`)."""
    return DEMO_CODES.at(int(time.time()) // TOTP_STEP_SECONDS)


def banner(out: TextIO) -> None:
    out.write("\nAccord demo federation is running (synthetic data):\n")
    for node in NODES:
        role = "central authority" if node.central_authority else "agency"
        out.write(f"  {node.node_id:<8} {node.agency}, {node.party} ({role}): {node.url}\n")
    out.write("\nSign in on any node as any of these users, password " + DEMO_PASSWORD + ":\n")
    for role, username in USERNAMES.items():
        out.write(f"  {username:<13} {role.label}\n")
    second = ", ".join(USERNAMES[role] for role in Role if role in SECOND_FACTOR_ROLES)
    out.write(f"\n{second} also give a one-time code after the password (second factor).\n")
    out.write(f"Add the demo secret {DEMO_TOTP_SECRET} to an authenticator app (time-based,\n")
    out.write("6 digits, 30 s), or print the current code with: .venv/bin/accord demo --code\n")
    out.write("\nEvery pair of nodes is peered: send a note from one (Notes) and read it on\n")
    out.write("another. The United States has two agencies: us.doj holds its central\n")
    out.write("authority, us.dhs co-chairs the dialogue's round beside it.\n")
    out.write("Assistance requests hold synthetic examples in several states, and six months\n")
    out.write("of synthetic history (SYN-…) for the dashboard's charts; Dialogue holds\n")
    out.write("the reference dialogue's first round, its signed outcomes and commitments.\n")
    out.write("Evidence: cn.mps sent us.doj a synthetic shipping record on the fentanyl\n")
    out.write("precursor request; both nodes show it with its custody chain.\n")
    out.write("\nPress Ctrl-C to stop the three nodes.\n")
    out.flush()


def run_demo(root_name: str, out: TextIO, ports: tuple[int, int, int] = (8001, 8002, 8003)) -> int:
    global NODES
    NODES = tuple(replace(node, port=port) for node, port in zip(NODES, ports, strict=True))
    root = Path(root_name).resolve()
    root.mkdir(parents=True, exist_ok=True)
    prepare_all(root, out)
    interrupted = {"flag": False, "at_once": True}

    def on_signal(signum: int, frame: object) -> None:
        interrupted["flag"] = True
        if interrupted["at_once"]:
            # Still starting or seeding: stop now, not after the seeding ends
            # (the `finally` below stops the nodes started so far).
            interrupted["at_once"] = False
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    processes: list[subprocess.Popen] = []
    try:
        for node in NODES:
            command = [
                sys.executable,
                "-m",
                "accord.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(node.port),
                "--workers",
                str(DEMO_WEB_WORKERS),
            ]
            # Own session: Ctrl-C reaches only this supervisor, which then stops
            # each node in order instead of every process dying at once.
            processes.append(
                subprocess.Popen(command, env=node_env(root, node), start_new_session=True)
            )
        for node, process in zip(NODES, processes, strict=True):
            wait_ready(node, process)
        peer_demo_nodes(root, out)
        seed_examples(root, out)
        banner(out)
        interrupted["at_once"] = False
        while not interrupted["flag"]:
            if any(p.poll() is not None for p in processes):
                return 1
            time.sleep(0.3)
        out.write("\nStopping the demo nodes …\n")
        return 0
    finally:
        interrupted["at_once"] = False
        terminate(processes, STOP_GRACE_SECONDS)
        out.write("Demo nodes stopped.\n")
