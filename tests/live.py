"""Live nodes for tests: real `accord serve` processes on free loopback ports,
each with its own data directory and its own database (SQLite file, or a fresh
PostgreSQL database when the suite runs on PostgreSQL). Started and stopped by
fixtures; every wait is bounded."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from accord.core.roles import SECOND_FACTOR_ROLES, Role
from tests.second_factor import LIVE_CODES, LIVE_TOTP_SECRET

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
# A hang guard for one `accord` command, not a speed bar: `make ci` runs its
# legs side by side, and on a loaded machine `accord migrate` of a whole
# release took over 120 s.
COMMAND_TIMEOUT_SECONDS = 300
TEST_PASSWORD = "correct-horse-battery-9"
# A failing test's report carries the end of every running node's log (the
# server side of a 500 is there, and CI keeps nothing else of a node).
LOG_TAIL_LINES = 150
_RUNNING: dict[int, LiveNode] = {}


def running_nodes() -> list[LiveNode]:
    return list(_RUNNING.values())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def suite_database_url() -> str:
    return os.environ.get("ACCORD_DATABASE_URL", "")


def _postgres_admin_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def create_postgres_database(url: str, template: str = "") -> str:
    """A fresh database on the suite's PostgreSQL server (a copy of the
    database `template` names, if given); returns its URL."""
    import psycopg

    name = f"accord_live_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{urlsplit(template).path.lstrip("/")}"' if template else ""
    with psycopg.connect(_postgres_admin_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return _postgres_admin_url(url, name)


def drop_postgres_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_postgres_admin_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_CREATE_USERS = """
import json, sys
from accord.core import services, twofactor
from accord.core.audit import Actor
wanted, password = json.load(sys.stdin)
for name, role, secret in wanted:
    user = services.create_user(Actor.system("cli"), name, role, password)
    if secret:
        twofactor.enrol_with_secret(Actor.system("cli"), user, secret)
"""


@dataclass
class LiveNode:
    node_id: str
    party: str
    agency: str
    data_dir: Path
    port: int
    database_url: str = ""
    # ACCORD_* settings for this node's processes (everything else is inherited).
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_path: Path = field(init=False)
    # Users enrolled with LIVE_TOTP_SECRET: sign-ins as them give a code too.
    second_factor_users: set[str] = field(default_factory=set)
    # False: another agency of its party (`accord init --no-central-authority`).
    central_authority: bool = True

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"{self.node_id}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        env["ACCORD_DATA_DIR"] = str(self.data_dir)
        env["DJANGO_SETTINGS_MODULE"] = "accord.settings"
        if self.database_url:
            env["ACCORD_DATABASE_URL"] = self.database_url
            # Every web and background thread would keep a connection for a
            # minute: with a suite's worth of nodes on one PostgreSQL server,
            # more than its max_connections (100). Close each when done.
            env["ACCORD_DB_CONN_MAX_AGE"] = "0"
        env.update(self.extra_env)
        return env

    def accord(self, *args: str, stdin: str | None = None, check: bool = True):
        """Run the `accord` command against this node; returns the CompletedProcess."""
        result = subprocess.run(
            [sys.executable, "-m", "accord.cli", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"accord {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def init(self) -> None:
        role = [] if self.central_authority else ["--no-central-authority"]
        self.accord(
            "init", "--node-id", self.node_id, "--party", self.party, "--agency", self.agency, *role
        )

    def create_user(self, username: str, role: str, password: str = TEST_PASSWORD) -> None:
        """Users whose role requires a second factor get an authenticator with
        LIVE_TOTP_SECRET (tests.second_factor), as `accord createuser --totp` gives."""
        second_factor = Role(role) in SECOND_FACTOR_ROLES
        totp = ["--totp-secret", LIVE_TOTP_SECRET] if second_factor else []
        self.accord(
            "createuser",
            username,
            "--role",
            role,
            "--password-stdin",
            *totp,
            stdin=password + "\n",
        )
        if second_factor:
            self.second_factor_users.add(username)

    def create_users(self, users: dict[str, str], password: str = TEST_PASSWORD) -> None:
        """Several users (username -> role) in one process, through the service
        functions `accord createuser` calls: each CLI run costs a Django start-up."""
        wanted = [
            (name, role, LIVE_TOTP_SECRET if Role(role) in SECOND_FACTOR_ROLES else "")
            for name, role in users.items()
        ]
        _django_in(self.data_dir, self.database_url, _CREATE_USERS, json.dumps([wanted, password]))
        self.second_factor_users.update(name for name, _, secret in wanted if secret)

    def second_factor_code(self, username: str) -> str | None:
        """A fresh code for `username`'s sign-in, or None if they have no second factor."""
        if username not in self.second_factor_users:
            return None
        return LIVE_CODES.next(self.url, username)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "accord.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _RUNNING[id(self)] = self
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.node_id} exited on start:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"{self.node_id} did not start in {START_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        _RUNNING.pop(id(self), None)
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def another_process(self) -> LiveNode:
        """A second `accord serve` of this node, not started: the same data
        directory (keys, secret key, stored files) and database, its own port
        and log, as a second host of one node would run (docs/operations.md)."""
        other = replace(self, port=free_port(), process=None)
        other.log_path = self.data_dir.parent / f"{self.node_id}.{other.port}.log"
        other.second_factor_users = self.second_factor_users  # one node, one set of users
        return other

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False)


# One migrated database per test process, copied for every node it makes: a
# node's `accord init` then finds the schema in place (migrating from nothing
# costs ~6 s of CPU per node). The copy is what migrating gives; init still
# writes the node's own identity, keys and first audit event.
_MIGRATED: dict[str, str] = {}

_SETUP_DJANGO = "import django; django.setup()\n"


def _django_in(data_dir: Path, database_url: str, code: str, stdin: str = "") -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update(ACCORD_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="accord.settings")
    if database_url:
        env["ACCORD_DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-c", _SETUP_DJANGO + code],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"setting up {data_dir} failed:\n{result.stdout}{result.stderr}")


def migrated_database(suite_url: str) -> str:
    """The SQLite file or PostgreSQL database URL of this process's migrated copy."""
    if suite_url in _MIGRATED:
        return _MIGRATED[suite_url]
    root = Path(tempfile.mkdtemp(prefix="accord-migrated-"))
    atexit.register(shutil.rmtree, root, True)
    database_url = ""
    if suite_url.startswith(("postgres://", "postgresql://")):
        database_url = create_postgres_database(suite_url)
        atexit.register(drop_postgres_database, database_url)
    code = "from django.core.management import call_command; call_command('migrate', verbosity=0)"
    _django_in(root, database_url, code)
    _MIGRATED[suite_url] = database_url or str(root / "accord.sqlite3")
    return _MIGRATED[suite_url]


def make_node(
    root: Path,
    node_id: str,
    party: str,
    agency: str,
    *,
    empty: bool = False,
    central_authority: bool = True,
    **env: str,
) -> LiveNode:
    """A node's place: its data directory and database, migrated already
    unless `empty` (a test of migrations, or of restoring into nothing)."""
    data_dir = root / node_id
    database_url = ""
    suite_url = suite_database_url()
    migrated = "" if empty else migrated_database(suite_url)
    if suite_url.startswith(("postgres://", "postgresql://")):
        database_url = create_postgres_database(suite_url, template=migrated)
    elif migrated:
        data_dir.mkdir(parents=True, mode=0o700)
        shutil.copyfile(migrated, data_dir / "accord.sqlite3")
    return LiveNode(
        node_id,
        party,
        agency,
        data_dir,
        free_port(),
        database_url,
        extra_env=env,
        central_authority=central_authority,
    )


def discard_node(node: LiveNode) -> None:
    node.stop()
    if node.database_url:
        drop_postgres_database(node.database_url)


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.25, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; bounded in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def identity_of(node: LiveNode) -> dict:
    return httpx.get(node.url + "/.well-known/accord", timeout=10).json()


def peer_nodes(
    a: LiveNode, b: LiveNode, *, b_url: str | None = None, a_url: str | None = None
) -> None:
    """Each pins the other's fingerprint, as two administrators would after a call."""
    a.accord("peer", "add", b_url or b.url, "--fingerprint", identity_of(b)["fingerprint"])
    b.accord("peer", "add", a_url or a.url, "--fingerprint", identity_of(a)["fingerprint"])


@contextmanager
def signed_in(node: LiveNode, username: str, password: str = TEST_PASSWORD):
    """An HTTP session on the node, with the CSRF header the API expects."""
    with node.client() as client:
        yield _sign_in(client, node, username, password)


def _sign_in(client: httpx.Client, node: LiveNode, username: str, password: str) -> httpx.Client:
    token = client.get("/login/").cookies["csrftoken"]
    response = client.post(
        "/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token}
    )
    if response.status_code != 302:
        raise AssertionError(f"sign-in as {username} on {node.node_id} failed")
    code = node.second_factor_code(username)
    if code is not None:
        response = client.post(
            "/account/second-factor/verify/",
            data={"code": code, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        )
        if response.status_code != 302:
            raise AssertionError(f"second factor of {username} on {node.node_id} refused")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    client.headers["Referer"] = node.url + "/"
    return client


def outbox_status(node: LiveNode) -> dict[str, dict]:
    import json

    rows = json.loads(node.accord("outbox", "status", "--json").stdout)
    return {row["node_id"]: row for row in rows}


def ensure_peered(a: LiveNode, b: LiveNode) -> None:
    """Peer two nodes unless an earlier test already did (shared fixtures)."""
    if b.node_id not in outbox_status(a):
        peer_nodes(a, b)


@contextmanager
def peered_pair(root: Path, suffix: str, cn_env: dict | None = None, us_env: dict | None = None):
    """Two fresh serving nodes, cn.SUFFIX and us.SUFFIX, that peer with each
    other; stopped (and their databases dropped) on exit."""
    cn = make_node(root, f"cn.{suffix}", "China", "Ministry of Public Security", **(cn_env or {}))
    us = make_node(root, f"us.{suffix}", "United States", "Department of Justice", **(us_env or {}))
    try:
        for node in (cn, us):
            node.init()
            node.start()
        peer_nodes(cn, us)
        yield cn, us
    finally:
        discard_node(cn)
        discard_node(us)


class InboxCounter:
    """Counts inbox messages on `receiver` from `sender` through the API. One
    signed-in session serves all calls: sessions live in the node's database,
    so they outlast a restart, and signing in (a password hash) is too slow to
    repeat per poll. A new session only if the node stops accepting this one."""

    def __init__(self, receiver: LiveNode, sender: LiveNode, username: str) -> None:
        self.receiver, self.sender, self.username = receiver, sender, username
        self.stack = ExitStack()
        self.client: httpx.Client | None = None

    def __call__(self) -> int | None:
        """The count, or None if the receiver does not answer."""
        try:
            if self.client is None:
                self.client = self.stack.enter_context(signed_in(self.receiver, self.username))
            response = self.client.get(
                "/api/v1/federation/inbox", params={"peer": self.sender.node_id, "limit": 1}
            )
        except (httpx.HTTPError, AssertionError, KeyError):
            return None  # down or restarting
        if response.status_code == 200:
            return response.json()["count"]
        if response.status_code in (301, 302, 401, 403):
            self.close()
        return None

    def close(self) -> None:
        self.stack.close()
        self.stack, self.client = ExitStack(), None


def current(counter: InboxCounter) -> int:
    """The count, waiting (bounded) for the receiver to answer."""

    def answer() -> tuple[int] | None:
        count = counter()
        return None if count is None else (count,)  # a tuple, so that 0 counts as an answer

    return wait_until(answer, timeout=60, what=f"{counter.receiver.node_id} to answer")[0]
