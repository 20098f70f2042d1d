"""What the task worker (`accord worker`, django-tasks) is doing with a task
a job or a query enqueued: the clock asks before it enqueues one again."""

from __future__ import annotations


def still_waiting(task_id: str) -> bool:
    """Whether the worker has yet to run this task, or is running it."""
    if not task_id:
        return False
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    waiting = (TaskResultStatus.READY, TaskResultStatus.RUNNING)
    return DBTaskResult.objects.filter(id=task_id, status__in=waiting).exists()
