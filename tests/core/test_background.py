"""The node's background process (`accord background`): the task worker, the
deliverer and the clock as loops of one process. A loop that fails is started
again on its own, after the supervisor's pauses; one that keeps failing stops
the node (docs/operations.md, "Processes")."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from accord.core import supervise
from accord.core.background import Loop, run_loops
from accord.core.supervise import GAVE_UP, RESTART_WINDOW, Helper, Restarts


class NoPauses(Restarts):
    """The same budget without the waits, so a test need not sleep 31 s."""

    def stopped(self, now: float) -> float | None:
        pause = super().stopped(now)
        return None if pause is None else 0.0


def test_the_pauses_double_up_to_30_s_and_the_sixth_stop_in_10_minutes_spends_the_budget():
    budget = Restarts()
    assert [budget.stopped(t) for t in (0, 1, 2, 3, 4)] == [1, 2, 4, 8, 16]
    assert budget.stopped(5) is None
    later = Restarts()
    pauses = [later.stopped(n * 100.0) for n in range(5)]
    # Stops older than the window no longer count.
    assert later.stopped(4 * 100.0 + RESTART_WINDOW + 1) == 1
    assert pauses == [1, 2, 4, 8, 16]
    many = Restarts()
    assert [many.stopped(t * RESTART_WINDOW) for t in range(8)] == [1] * 8


def test_a_failing_loop_is_started_again_alone():
    stop = threading.Event()
    runs = {"flaky": 0, "steady": 0}

    def flaky(stop: threading.Event) -> None:
        runs["flaky"] += 1
        if runs["flaky"] <= 3:
            raise RuntimeError("a bug")
        stop.wait()

    def steady(stop: threading.Event) -> None:
        runs["steady"] += 1
        stop.wait()

    def stop_when_recovered(stop: threading.Event) -> None:
        while runs["flaky"] < 4 and not stop.wait(0.01):
            pass
        stop.set()

    loops = [Loop("flaky", flaky), Loop("steady", steady), Loop("watch", stop_when_recovered)]
    assert run_loops(loops, stop, budget=NoPauses) == 0
    assert runs == {"flaky": 4, "steady": 1}


def test_a_loop_that_keeps_failing_stops_the_process_and_the_other_loops():
    stop = threading.Event()
    started, stopped = threading.Event(), threading.Event()

    def broken(stop: threading.Event) -> None:
        started.wait(30)
        raise RuntimeError("always")

    def steady(stop: threading.Event) -> None:
        started.set()
        stop.wait()
        stopped.set()

    assert run_loops([Loop("broken", broken), Loop("steady", steady)], stop, NoPauses) == GAVE_UP
    assert stop.is_set() and stopped.is_set()


def test_a_loop_that_returns_unasked_counts_as_a_stop():
    stop = threading.Event()
    runs = []

    def returns(stop: threading.Event) -> None:
        runs.append(1)

    assert run_loops([Loop("returns", returns)], stop, NoPauses) == GAVE_UP
    assert len(runs) == 6  # the first run and five restarts


@pytest.fixture
def own_signals() -> Iterator[None]:
    """supervise() takes SIGTERM and SIGINT; give them back to pytest."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_helper_that_gave_up_stops_the_node_at_once(own_signals, capsys):
    web = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    gives_up = [sys.executable, "-c", f"raise SystemExit({GAVE_UP})"]
    code = supervise.supervise(web, [Helper("background", gives_up)])
    assert code == GAVE_UP
    assert web.poll() is not None  # the web server was stopped with it
    assert "accord background gave up; stopping the node" in capsys.readouterr().err


def test_a_helper_that_stops_otherwise_is_started_again(own_signals, capsys):
    web = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    helper = Helper("background", [sys.executable, "-c", "raise SystemExit(1)"])
    helper.process.wait(timeout=60)
    assert helper.keep_running(sys.stderr)
    assert helper.restart_at is not None  # due in 1 s
    web.terminate()
    web.wait(timeout=30)
    assert "accord background stopped (exit 1); starting it again in 1 s" in capsys.readouterr().err
