"""The supervisor of a node's processes (`accord serve` becomes it once the
node is checked ready): the web server and the helpers, by default one
`accord background` process (the task worker, the deliverer and the clock as
threads of one process), or each in its own process. It imports nothing of
Django, so it stays small for the node's whole life.

    python -m accord.core.supervise '{"web": [...], "helpers": ["background"]}'
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from accord.core.processes import terminate

STOP_GRACE_SECONDS = 15
HELPER_ROLES = ("background",)
SEPARATE_ROLES = ("worker", "deliver", "clock")
RESTARTS = 5  # stops of one helper within RESTART_WINDOW that it survives
RESTART_WINDOW = 600.0
RESTART_PAUSE_MAX = 30
# The exit status of a helper that gave up on its own (`accord background`
# when one of its loops spent its restart budget): the node stops at once.
GAVE_UP = 3


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    web = subprocess.Popen(spec["web"], env=os.environ.copy())
    helpers = [Helper(role) for role in spec["helpers"]]
    code = supervise(web, helpers)
    if code:
        sys.stderr.write("accord serve: a node process stopped unexpectedly\n")
    return code


def supervise(web: subprocess.Popen, helpers: list[Helper]) -> int:
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
            if code is None and not helper.keep_running(sys.stderr):
                code = helper.process.returncode or 1
        time.sleep(0.2)
    terminate([web, *(h.process for h in helpers)], STOP_GRACE_SECONDS)
    if stopping["signal"]:
        return 0
    return code or 1 if code is not None else 0


class Restarts:
    """The restart budget of one thing that keeps stopping (a helper process,
    one loop of `accord background`): a pause of 1, 2, 4 … RESTART_PAUSE_MAX
    seconds before each new start; more than RESTARTS stops within
    RESTART_WINDOW seconds spend the budget."""

    def __init__(self) -> None:
        self.stops: list[float] = []

    def stopped(self, now: float) -> float | None:
        """Count a stop at `now` (monotonic seconds): the pause before the next
        start, or None when the budget is spent."""
        self.stops = [t for t in self.stops if now - t < RESTART_WINDOW] + [now]
        if len(self.stops) > RESTARTS:
            return None
        return float(min(RESTART_PAUSE_MAX, 2 ** (len(self.stops) - 1)))


class Helper:
    """One of the node's background processes (`accord background`, or the task
    worker, the deliverer and the clock each on its own). One that stops (a
    bug, the database gone for a moment, SQLite's "database is locked" past
    its timeout) is started again after a pause that doubles each time; more
    than RESTARTS stops within RESTART_WINDOW seconds, or an exit with
    GAVE_UP, stop the node instead of looping."""

    def __init__(self, role: str, command: list[str] | None = None) -> None:
        self.role = role
        self.command = command or [sys.executable, "-m", "accord.cli", role]
        self.process = subprocess.Popen(self.command, env=os.environ.copy())
        self.restarts = Restarts()
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
        if self.process.returncode == GAVE_UP:
            log.write(f"accord {self.role} gave up; stopping the node\n")
            return False
        pause = self.restarts.stopped(now)
        if pause is None:
            stops = len(self.restarts.stops)
            log.write(f"accord {self.role} stopped {stops} times; stopping the node\n")
            return False
        log.write(
            f"accord {self.role} stopped (exit {self.process.returncode}); "
            f"starting it again in {pause:g} s\n"
        )
        self.restart_at = now + pause
        return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
