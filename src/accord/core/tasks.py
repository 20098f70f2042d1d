"""What the task worker (`accord worker`, django-tasks) is doing with a task
a job or a query enqueued: the clock asks before it enqueues one again.

A task the worker was running when its process was killed (SIGKILL, the
out-of-memory killer, the machine restarted) stays "running" in the
database for ever: nothing in django-tasks tells a dead worker from a busy
one. So each of this node's workers is named after its process
(`worker_id`: the machine's boot, the process id and the process's start
time), and a running task whose worker was a process of this machine that
no longer exists is not waited for: it is marked failed, with the reason,
and its job or query is enqueued again, resuming where it stopped. A worker
of another machine (or named otherwise) is taken at its word."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from django.utils import timezone
from django.utils.crypto import get_random_string

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
DEAD = "accord: the worker process running this task ended before it did"


def still_waiting(task_id: str) -> bool:
    """Whether the worker has yet to run this task, or is running it. A
    running task whose worker process has ended (`gone`) is marked failed
    here, with the reason, and is not waited for."""
    if not task_id:
        return False
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    waiting = (TaskResultStatus.READY, TaskResultStatus.RUNNING)
    row = DBTaskResult.objects.filter(id=task_id, status__in=waiting).first()
    if row is None:
        return False
    if row.status == TaskResultStatus.RUNNING and row.worker_ids and gone(row.worker_ids[-1]):
        DBTaskResult.objects.filter(id=task_id, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED, finished_at=timezone.now(), traceback=DEAD
        )
        return False
    return True


def worker_id() -> str:
    """This process's name as a task worker: `accord.BOOT.PID.START.RANDOM`."""
    pid = os.getpid()
    return f"accord.{_boot()[:12]}.{pid}.{_started(pid)}.{get_random_string(8)}"


def gone(worker: str) -> bool:
    """Whether `worker` (a worker_id) was a process of this machine, since its
    last start, that has ended; False where that cannot be told."""
    parts = worker.split(".")
    if len(parts) != 5 or parts[0] != "accord" or not parts[2].isdigit():
        return False
    boot = _boot()[:12]
    if not boot:
        return False
    if parts[1] != boot:
        # Another boot of this machine, or another machine: only a restart
        # of this one is known to have ended it, and that cannot be told
        # apart from another machine's worker here.
        return False
    return _started(int(parts[2])) != parts[3]


@cache
def _boot() -> str:
    try:
        return BOOT_ID.read_text().strip().replace("-", "")
    except OSError:
        return ""


def _started(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of
    /proc/PID/stat), or "" if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


__all__ = ["gone", "still_waiting", "worker_id"]
