"""Several long-running loops as threads of one process (`accord background`:
the task worker, the deliverer and the clock), so the node pays for one
Python process with Django loaded instead of three.

A loop that raises, or returns before the process is asked to stop, is
started again on its own after a pause, under the supervisor's rules
(supervise.Restarts: 1, 2, 4 … 30 s; more than 5 stops within 10 minutes
spend its budget). A loop that spends its budget stops every loop, and the
process exits with supervise.GAVE_UP, which stops the node: a loop that
keeps failing needs its operator, not more restarts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accord.core.supervise import GAVE_UP, Restarts

log = logging.getLogger(__name__)

# Seconds each loop is given to finish its round once asked to stop.
STOP_GRACE_SECONDS = 12


@dataclass(frozen=True)
class Loop:
    """One loop: `run(stop)` works until the event `stop` is set, then returns."""

    name: str
    run: Callable[[threading.Event], None]


def run_loops(
    loops: Sequence[Loop], stop: threading.Event, budget: type[Restarts] = Restarts
) -> int:
    """Run each loop in its own thread until `stop` is set (a signal handler
    sets it); 0 then, or GAVE_UP when a loop spent its restart budget."""
    gave_up = threading.Event()
    threads = [
        threading.Thread(
            target=_keep,
            args=(loop, stop, gave_up, budget()),
            name=f"accord-{loop.name}",
            daemon=True,  # one that does not stop in time must not keep the process
        )
        for loop in loops
    ]
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):  # short waits: the signal handler runs in this thread
        pass
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("background: %s did not stop in time", thread.name)
    return GAVE_UP if gave_up.is_set() else 0


def _keep(loop: Loop, stop: threading.Event, gave_up: threading.Event, restarts: Restarts) -> None:
    while not stop.is_set():
        try:
            loop.run(stop)
        except BaseException:  # a loop's bug must not end the others; log it loudly
            log.exception("background: %s failed", loop.name)
        if stop.is_set():
            return
        pause = restarts.stopped(time.monotonic())
        if pause is None:
            log.error(
                "accord background: %s stopped %s times; stopping the node",
                loop.name,
                len(restarts.stops),
            )
            gave_up.set()
            stop.set()
            return
        log.error("accord background: %s stopped; starting it again in %g s", loop.name, pause)
        stop.wait(pause)
