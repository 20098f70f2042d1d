"""The node's clock: timed work that no request triggers (preservation holds
that lapse, deadline reminders, partner intel sync). `accord serve` runs it beside the worker."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run timed work every ACCORD_CLOCK_SECONDS until SIGTERM or Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run once and exit")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        from accord.assistance import services as assistance
        from accord.intel import sync

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.is_set():
            close_old_connections()
            try:
                result = assistance.tick()
                if result.lapsed or result.reminders:
                    log.info("clock: %s holds lapsed, %s reminders", result.lapsed,
                             result.reminders)  # fmt: skip
            except DatabaseError:
                # Transient (the database restarting): the next round tries again.
                log.exception("clock: the database failed; retrying next round")
            try:
                moved = sync.sync_all()
                if moved["pushed"] or moved["pulled"]:
                    log.info("clock: intel pushed %s, pulled %s", moved["pushed"], moved["pulled"])
            except DatabaseError:
                log.exception("clock: intel sync failed on the database; retrying next round")
            if once:
                return
            stop.wait(settings.CLOCK_SECONDS)
