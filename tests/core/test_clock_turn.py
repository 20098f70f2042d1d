"""Several processes of one node each run a clock (docs/operations.md, "One
node, several hosts"): a round runs only in the process that holds the clock,
so timed work is never done twice at once."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from django.db import connections

from accord.core import clockwork
from accord.core.management.commands import clock


def test_a_round_runs_only_where_the_clock_is_held(db, monkeypatch):
    """Two processes of the node: each has its own database connection (the
    lock on PostgreSQL; the test's own connection is left alone, since a round
    closes old connections) and its own open lock file (on SQLite)."""
    rounds: list[str] = []
    monkeypatch.setattr(clock, "JOBS", (lambda assistance, sync: rounds.append("ran"),))
    first, second = (connections.create_connection("default") for _ in range(2))
    try:
        with ExitStack() as holding:
            monkeypatch.setattr(clockwork, "connection", first)
            assert holding.enter_context(clockwork.clock_turn())
            monkeypatch.setattr(clockwork, "connection", second)
            with clockwork.clock_turn() as held:
                assert not held
            clock.run(threading.Event(), once=True)
            assert rounds == []  # the other process's round was this one's
        # The holder's round is over: the other's turn.
        clock.run(threading.Event(), once=True)
        assert rounds == ["ran"]
        with clockwork.clock_turn() as held:
            assert held  # released when its round ended
    finally:
        first.close()
        second.close()
