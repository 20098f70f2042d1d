from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accord.federation.delivery import Deliverer


class Command(BaseCommand):
    help = "Deliver queued federation messages to peers until stopped (SIGTERM/Ctrl-C)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--poll", type=float, default=0.25, help="seconds between idle checks")
        parser.add_argument("--once", action="store_true", help="deliver what is due, then exit")

    def handle(self, *args: Any, poll: float, once: bool, **options: Any) -> None:
        deliverer = Deliverer()
        if once:
            deliverer.deliver_due()
            return

        def stop(signum: int, frame: Any) -> None:
            deliverer.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        deliverer.run(poll_seconds=poll)
