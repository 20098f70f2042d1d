from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accord.federation.delivery import POLL_SECONDS, Deliverer


class Command(BaseCommand):
    help = (
        "Deliver queued federation messages to peers until stopped (SIGTERM/Ctrl-C). "
        "`accord serve` runs the deliverer in its background process; this runs one "
        "on its own (another host, or beside it: peers' leases keep deliverers apart)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=POLL_SECONDS,
            help="seconds between looks at an idle outbox when no wake-up comes",
        )
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
