"""`accord background`: the node's background work in one process, what
`accord serve` runs beside the web server: the task worker, the federation
deliverer and the clock, each a thread (accord.core.background). `accord
worker`, `accord deliver` and `accord clock` still run each on its own."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from accord.core import tasks
from accord.core.background import Loop, run_loops


class Command(BaseCommand):
    help = (
        "Run the task worker, the federation deliverer and the clock in one process "
        "until SIGTERM or Ctrl-C; a loop that fails is started again on its own."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        from accord.federation.delivery import POLL_SECONDS

        parser.add_argument(
            "--poll",
            type=float,
            default=POLL_SECONDS,
            help="seconds between the deliverer's looks at an idle outbox when no wake-up comes",
        )

    def handle(self, *args: Any, poll: float, **options: Any) -> None:
        from accord.core.management.commands.clock import run as clock
        from accord.federation.delivery import lease_owner

        owner = lease_owner()  # kept across restarts of the deliverer: it resumes its leases
        loops = [
            Loop("worker", closing(run_worker)),
            Loop("deliver", closing(lambda stop: run_deliverer(stop, owner, poll))),
            Loop("clock", closing(clock)),
        ]
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        code = run_loops(loops, stop)
        # Every loop has stopped and closed its connections. Tearing down the
        # interpreter (collecting Django's and the libraries' objects) would
        # take seconds on a busy machine and do nothing useful: leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def closing(run: Any) -> Any:
    """The loop, closing its thread's database connections when it ends."""

    def loop(stop: threading.Event) -> None:
        try:
            run(stop)
        finally:
            connections.close_all()

    return loop


def run_deliverer(stop: threading.Event, owner: str, poll: float) -> None:
    from accord.federation.delivery import Deliverer

    Deliverer(owner=owner, stopping=stop).run(poll_seconds=poll)


def run_worker(stop: threading.Event) -> None:
    """django-tasks' database worker (what `accord worker` runs), stopping with `stop`."""
    from django_tasks_db.compat import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME
    from django_tasks_db.management.commands.db_worker import Worker

    class StoppableWorker(Worker):
        @property
        def running(self) -> bool:
            return not stop.is_set()

        @running.setter
        def running(self, value: bool) -> None:
            pass  # set only by its own signal handling, which this process does not use

    StoppableWorker(
        queue_names=[DEFAULT_TASK_QUEUE_NAME],
        interval=1.0,
        batch=False,
        backend_name=DEFAULT_TASK_BACKEND_ALIAS,
        startup_delay=False,
        max_tasks=None,
        worker_id=tasks.worker_id(),  # named after this process: core/tasks.py
        excluded_queue_names=[],
    ).run()
