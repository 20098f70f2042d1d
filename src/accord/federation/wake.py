"""Waking the deliverer when outbox messages commit, instead of having it poll.

The transaction that queues messages calls `queued()`:

- on PostgreSQL it runs `NOTIFY accord_outbox` in that transaction, so the
  notification goes out exactly when the messages commit (never on a
  rollback), to every deliverer listening on the database (several
  `accord serve` on one PostgreSQL included);
- on SQLite, once the transaction commits, it writes one byte, without
  blocking, to a FIFO in the node's data directory (`outbox.wake`), which
  the deliverer reads. The web workers, the CLI and the background process
  are separate processes on one machine; the FIFO is all they share besides
  the database file. Nobody reading, a full pipe (a wake-up is already
  pending) or a missing FIFO is not an error: the commit never fails or waits
  for it.

The deliverer waits on a `Listener` with a timeout, so it still looks at the
outbox now and then (retries after a back-off, a lost wake-up): a wake-up
makes delivery prompt, its absence only makes it slower."""

from __future__ import annotations

import logging
import os
import select
import stat
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger(__name__)

CHANNEL = "accord_outbox"
FIFO_NAME = "outbox.wake"


def fifo_path() -> Path:
    return Path(settings.DATA_DIR) / FIFO_NAME


def queued() -> None:
    """Call inside the transaction that queued outbox messages."""
    current = transaction.get_connection()
    if current.vendor == "postgresql":
        with current.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")
    else:
        transaction.on_commit(poke)


def poke() -> None:
    """Wake a deliverer waiting on this node's FIFO, if any; never blocks or fails."""
    try:
        fd = os.open(fifo_path(), os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # no FIFO yet, or nobody reading it (ENXIO): no deliverer to wake
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b"!")
    except OSError:
        pass  # the pipe is full: a wake-up is pending already
    finally:
        os.close(fd)


class Listener(Protocol):
    def wait(self, timeout: float) -> bool:
        """Wait until woken (True) or `timeout` seconds pass (False)."""

    def close(self) -> None: ...


def listener() -> Listener:
    """The wake-up channel of this node's database, opened now so that no
    commit from here on is missed."""
    if connection.vendor == "postgresql":
        return NotifyListener()
    return FifoListener(fifo_path())


class FifoListener:
    """Reads wake-ups from the node's FIFO (SQLite)."""

    def __init__(self, path: Path) -> None:
        self.read_fd = self.keep_fd = -1
        try:
            try:
                os.mkfifo(path, 0o600)
            except FileExistsError:
                pass
            flags = os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
            self.read_fd = os.open(path, os.O_RDONLY | flags)
            if not stat.S_ISFIFO(os.fstat(self.read_fd).st_mode):
                raise OSError(f"{path} is not a FIFO")
            # A writer of its own: without one, the FIFO reads as at its end
            # (always ready) between two pokers.
            self.keep_fd = os.open(path, os.O_WRONLY | flags)
        except OSError as exc:
            log.warning("outbox wake-ups unavailable (%s); polling only", exc)
            self.close()

    def wait(self, timeout: float) -> bool:
        if self.read_fd < 0:
            select.select([], [], [], timeout)
            return False
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if not ready:
            return False
        try:
            while os.read(self.read_fd, 4096):
                pass
        except BlockingIOError:
            pass  # drained
        return True

    def close(self) -> None:
        for fd in (self.read_fd, self.keep_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.keep_fd = -1


class NotifyListener:
    """LISTENs on its own connection to the node's PostgreSQL; reconnects after
    the database went away (and then reports a wake-up, since notifications
    sent meanwhile are lost)."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = connection.get_connection_params()
        self.conn: Any = None
        self._connect()

    def _connect(self) -> bool:
        import psycopg

        try:
            self.conn = psycopg.connect(**self.params, autocommit=True)
            self.conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("outbox wake-ups unavailable (%s); polling only", exc)
            self.close()
            return False
        return True

    def wait(self, timeout: float) -> bool:
        import psycopg

        if self.conn is None:
            if not self._connect():
                select.select([], [], [], timeout)
                return False
            return True
        try:
            woken = any(True for _ in self.conn.notifies(timeout=timeout, stop_after=1))
            if woken:
                for _ in self.conn.notifies(timeout=0):
                    pass  # drain those that came together
        except psycopg.Error as exc:
            log.warning("outbox wake-ups lost (%s); reconnecting", exc)
            self.close()
            return True
        return woken

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: S110  # nosec B110 - closing a broken connection
                pass
        self.conn = None
