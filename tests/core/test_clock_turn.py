"""Several processes of one node each run a clock (docs/operations.md, "One
node, several hosts"): a round runs only in the process that holds the clock,
so timed work is never done twice at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

from accord.core import clockwork
from accord.core.management.commands import clock


@contextmanager
def another_process(monkeypatch) -> Iterator[None]:
    """What another process of the node has: its own database connection (the
    lock on PostgreSQL) and its own open lock file (on SQLite: clock_turn
    opens the file anew each time)."""
    other = connections.create_connection("default")
    with monkeypatch.context() as patch:
        patch.setattr(clockwork, "connection", other)
        try:
            yield
        finally:
            other.close()


def test_a_round_runs_only_where_the_clock_is_held(db, monkeypatch):
    rounds: list[str] = []
    monkeypatch.setattr(clock, "JOBS", (lambda assistance, sync: rounds.append("ran"),))
    with clockwork.clock_turn() as first:
        assert first
        with another_process(monkeypatch):
            with clockwork.clock_turn() as second:
                assert not second
            clock.run(threading.Event(), once=True)
    assert rounds == []  # the other process's round was this one's

    with another_process(monkeypatch):
        clock.run(threading.Event(), once=True)  # the holder is done: the other's turn
        with clockwork.clock_turn() as after:
            assert after  # released when its round ended
    assert rounds == ["ran"]
