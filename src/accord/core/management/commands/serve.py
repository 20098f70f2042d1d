from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accord.core import identity
from accord.core.supervise import HELPER_ROLES, SEPARATE_ROLES


class Command(BaseCommand):
    help = (
        "Run the node: gunicorn serving the web UI, API and federation endpoints, "
        "plus the task worker, the federation deliverer and the clock (one background "
        "process). SIGTERM or Ctrl-C stops them all cleanly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        # One web process by default (docs/operations.md, "Processes"): a node
        # serves its officers and its peers, far below one core of Python, and
        # each more process costs ~100 MiB for nothing.
        parser.add_argument("--workers", type=int, default=1, help="web worker processes")
        parser.add_argument("--threads", type=int, default=8, help="threads per web worker")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start the task worker, the federation deliverer and the clock",
        )
        parser.add_argument(
            "--separate-processes",
            action="store_true",
            help="run the task worker, the deliverer and the clock each in its own process "
            "(more memory; by default they share one `accord background` process)",
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
            # An idle connection is kept 75 s (gunicorn's default is 2): a client
            # reusing it after a short pause otherwise races the close and
            # gets "connection reset" (seen by the demo client and bench/load.py).
            "--keep-alive",
            "75",
            # Several nodes may run on one machine; a shared control socket would clash.
            "--no-control-socket",
        ]
        if settings.LOG_FORMAT != "json":
            # JSON logs already hold one event per request (accord.ops.logs).
            web += ["--access-logfile", "-"]
        node = identity.this_node()
        self.stdout.write(f"Node {node.node_id} serving on http://{bind}/", ending="\n")
        self.stdout.flush()
        sys.stderr.flush()
        # The supervisor needs none of Django: this process becomes a lean
        # one (same pid, signals and session) instead of keeping ~90 MiB
        # of loaded code for the node's whole life.
        helpers = SEPARATE_ROLES if options["separate_processes"] else HELPER_ROLES
        spec = json.dumps({"web": web, "helpers": [] if options["no_worker"] else helpers})
        supervisor = [sys.executable, "-m", "accord.core.supervise", spec]
        os.execv(sys.executable, supervisor)  # noqa: S606  # nosec B606 (this Python, a fixed module)

    def _check_ready(self) -> None:
        try:
            identity.this_node()
        except identity.IdentityError as exc:
            raise CommandError(str(exc)) from None
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("the database has unapplied migrations: run `accord migrate`")
        connection.close()
