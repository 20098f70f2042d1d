from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accord.core import identity
from accord.core.processes import terminate

STOP_GRACE_SECONDS = 15
HELPER_ROLES = ("worker", "deliver", "clock")
RESTARTS = 5  # stops of one helper within RESTART_WINDOW that it survives
RESTART_WINDOW = 600.0
RESTART_PAUSE_MAX = 30


class Command(BaseCommand):
    help = (
        "Run the node: gunicorn serving the web UI, API and federation endpoints, "
        "plus the task worker, the federation deliverer and the clock. "
        "SIGTERM or Ctrl-C stops them all cleanly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2, help="web worker processes")
        parser.add_argument("--threads", type=int, default=4, help="threads per web worker")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start the task worker, the federation deliverer and the clock",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._check_ready()
        if not 0 < options["port"] < 65536:
            raise CommandError("--port must be between 1 and 65535")
        if options["workers"] < 1 or options["threads"] < 1:
            raise CommandError("--workers and --threads must be at least 1")
        bind = f"{options['host']}:{options['port']}"
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "accord.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(options["workers"]),
            "--worker-class",
            "gthread",
            "--threads",
            str(options["threads"]),
            "--graceful-timeout",
            "10",
            "--timeout",
            "60",
            "--access-logfile",
            "-",
            # Several nodes may run on one machine; a shared control socket would clash.
            "--no-control-socket",
        ]
        web_process = subprocess.Popen(web, env=os.environ.copy())
        helpers = [] if options["no_worker"] else [Helper(role) for role in HELPER_ROLES]
        node = identity.this_node()
        self.stdout.write(f"Node {node.node_id} serving on http://{bind}/", ending="\n")
        self.stdout.flush()
        code = self._supervise(web_process, helpers)
        if code:
            raise CommandError("a node process stopped unexpectedly", returncode=code)

    def _check_ready(self) -> None:
        try:
            identity.this_node()
        except identity.IdentityError as exc:
            raise CommandError(str(exc)) from None
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("the database has unapplied migrations: run `accord migrate`")
        connection.close()

    def _supervise(self, web: subprocess.Popen, helpers: list[Helper]) -> int:
        """Wait until a signal or the web server exits, restarting a helper
        process that stops (within its budget); then stop all children."""
        stopping = {"signal": False}

        def on_signal(signum: int, frame: Any) -> None:
            stopping["signal"] = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        code = None
        while not stopping["signal"] and code is None:
            code = web.poll()
            for helper in helpers:
                if code is None and not helper.keep_running(self.stderr):
                    code = helper.process.returncode or 1
            time.sleep(0.2)
        terminate([web, *(h.process for h in helpers)], STOP_GRACE_SECONDS)
        if stopping["signal"]:
            return 0
        return code or 1 if code is not None else 0


class Helper:
    """One of the node's background processes (the task worker, the
    deliverer, the clock). One that stops (a bug, the database gone for a
    moment, SQLite's "database is locked" past its timeout) is started again
    after a pause that doubles each time; more than RESTARTS stops within
    RESTART_WINDOW seconds stop the node instead of looping."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.command = [sys.executable, "-m", "accord.cli", role]
        self.process = subprocess.Popen(self.command, env=os.environ.copy())
        self.stops: list[float] = []
        self.restart_at: float | None = None

    def keep_running(self, log: Any) -> bool:
        """Restart the process when it is due; False when its budget is spent."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.process = subprocess.Popen(self.command, env=os.environ.copy())
                self.restart_at = None
            return True
        if self.process.poll() is None:
            return True
        self.stops = [t for t in self.stops if now - t < RESTART_WINDOW] + [now]
        if len(self.stops) > RESTARTS:
            log.write(f"accord {self.role} stopped {len(self.stops)} times; stopping the node")
            return False
        pause = min(RESTART_PAUSE_MAX, 2 ** (len(self.stops) - 1))
        log.write(
            f"accord {self.role} stopped (exit {self.process.returncode}); "
            f"starting it again in {pause} s"
        )
        self.restart_at = now + pause
        return True
