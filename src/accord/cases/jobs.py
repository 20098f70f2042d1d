"""Bulk imports as jobs: `start` records an `ImportJob` with its rows cut into
chunks, audits the start, and either imports at once (a small import, in the
request) or hands the job to the task worker (`accord worker`, django-tasks).
Each chunk is imported in its own transaction, which also deletes the chunk
and moves the job's `done` and report on, so the progress a page shows is
what has committed, and a job run again after a crash resumes with the first
chunk left: nothing is imported twice (and the case's dedupe would refuse a
second copy anyway). Each batch runs as the user who started the import,
under the case's policy as it is then: a user taken off the team, or a case
closed meanwhile, stops the job with the reason. The end is audited with the
counts (`cases:observable:import`)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from accord.cases import policy
from accord.cases.imports import Report, Row, build_observable
from accord.cases.models import (
    Case,
    ImportChunk,
    ImportJob,
    ImportKind,
    ImportStatus,
    Source,
    Subject,
)
from accord.cases.services import locked_for, store_new
from accord.core import audit, tasks
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.policy import Refused

log = logging.getLogger(__name__)

# Rows per chunk: one transaction, one step of the progress bar.
BATCH = 1000
# An import of at most this many rows runs in the request: its report comes
# back at once. A larger one runs in the background with a progress bar.
SYNC_ROWS = 1000

SOURCES = {ImportKind.CSV: Source.CSV, ImportKind.STIX: Source.STIX}


def start(
    actor: Actor, case: Case, kind: ImportKind, rows: list[Row], report: Report, ip: str
) -> ImportJob:
    """Record the job and its rows (the problems found reading the file are in
    `report` already); import now if it is small, else enqueue it."""
    background = len(rows) > SYNC_ROWS
    with transaction.atomic():
        locked = locked_for(actor, case, policy.OBSERVE, ip)
        job = ImportJob.objects.create(
            id=uuid.uuid4(),
            case=locked,
            created_by=actor.user,
            actor=actor.label[:200],
            kind=kind,
            total=len(rows),
            report=report.as_dict(),
            ip=ip[:64],
            created_at=timezone.now(),
        )
        ImportChunk.objects.bulk_create(
            [
                ImportChunk(
                    job=job,
                    seq=n,
                    rows=[[r.where, r.code, r.raw, r.subject] for r in rows[at : at + BATCH]],
                )
                for n, at in enumerate(range(0, len(rows), BATCH))
            ]
        )
        audit.record(
            actor,
            AuditAction.OBSERVABLES_IMPORT_START,
            locked,
            data={
                "reference": locked.reference,
                "job": str(job.pk),
                "format": kind.value,
                "rows": len(rows),
                "background": background,
            },
            ip=ip,
        )
        if background:
            # In the same transaction: the worker sees the task once the job exists.
            _enqueue(job)
    if not background:
        proceed(job.pk)
        job.refresh_from_db()
    return job


def _enqueue(job: ImportJob) -> None:
    job.task = str(run_import.enqueue(str(job.pk)).id)
    job.save(update_fields=["task"])


def resume_stalled() -> int:
    """Enqueue again the unfinished jobs whose task has ended (its worker
    stopped midway, or the task failed): each resumes after its last committed
    batch. Run by the clock; returns how many."""
    resumed = 0
    # A small import runs in its request, with no task; one still unfinished
    # long after (the request's process died) goes to the worker too.
    orphaned = timezone.now() - timedelta(minutes=10)
    for job in ImportJob.objects.filter(finished_at__isnull=True):
        if job.task:
            if tasks.still_waiting(job.task):
                continue
        elif job.created_at > orphaned:
            continue
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.finished or locked.task != job.task:
                continue  # finished, or resumed by another clock meanwhile
            _enqueue(locked)
        log.warning("import job %s: its task %s ended unfinished; enqueued again", job.pk, job.task)
        resumed += 1
    return resumed


@task()
def run_import(job_id: str) -> str:
    """The worker's entry point; returns the job's status."""
    return proceed(uuid.UUID(job_id)).status


def proceed(job_id: Any) -> ImportJob:
    """Import the job's chunks, one committed batch at a time, to its end.
    Running it again (a retried task, a second worker) continues from what has
    committed; a finished job is left as it is."""
    while True:
        job = step(job_id)
        if job.finished:
            return job


def step(job_id: Any) -> ImportJob:
    """Import the job's next chunk, or end the job when none is left. A refusal
    (the policy as it is now) or an error stops the job with the reason."""
    try:
        with audit.refusals_kept():
            return _batch(job_id)
    except Refused as exc:
        return _end(job_id, ImportStatus.FAILED, exc.message)
    except Exception:
        log.exception("import job %s failed", job_id)
        return _end(job_id, ImportStatus.FAILED, _("The import stopped on an internal error."))


def _batch(job_id: Any) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.finished:
            return job
        chunk = job.chunks.order_by("seq").first()
        if chunk is None:
            return _finish(job, ImportStatus.DONE, "")
        actor = _actor_of(job)
        case = locked_for(actor, job.case, policy.OBSERVE, job.ip)
        report = Report.from_dict(job.report)
        subjects = {s.display_name.casefold(): s for s in Subject.objects.filter(case=case)}
        source = SOURCES.get(ImportKind(job.kind), Source.STIX)
        built = []
        for where, code, raw, subject in chunk.rows:
            row = Row(where, code, raw, subject)
            observable = build_observable(actor, case, row, source, subjects, report)
            if observable is not None:
                built.append(observable)
        added = len(store_new(built))
        report.added += added
        report.duplicates += len(built) - added
        job.status = ImportStatus.RUNNING
        job.done = min(job.total, job.done + len(chunk.rows))
        job.report = report.as_dict()
        job.save(update_fields=["status", "done", "report"])
        chunk.delete()
        return job


def _actor_of(job: ImportJob) -> Actor:
    if job.created_by is not None:
        return Actor(label=job.actor, user=job.created_by)
    if job.actor.startswith("user:"):
        # The user is gone: their import must not go on as the operator.
        raise Refused(_("The user who started this import no longer exists."))
    return Actor(label=job.actor)


def _end(job_id: Any, status: ImportStatus, reason: str) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.finished:
            return job
        return _finish(job, status, reason)


def _finish(job: ImportJob, status: ImportStatus, reason: str) -> ImportJob:
    """End the job (call in its transaction, the job locked): audited with the
    counts; the rows not imported are deleted with their chunks."""
    job.chunks.all().delete()
    job.status, job.reason, job.finished_at = status, reason[:500], timezone.now()
    job.save(update_fields=["status", "reason", "finished_at"])
    report = job.report
    user = User.objects.filter(pk=job.created_by_id).first()
    audit.record(
        Actor(label=job.actor, user=user),
        AuditAction.OBSERVABLES_IMPORT,
        job.case,
        data={
            "reference": job.case.reference,
            "format": job.kind,
            "added": report.get("added", 0),
            "duplicates": report.get("duplicates", 0),
            "failed": report.get("failed", 0),
            "job": str(job.pk),
            "status": status.value,
            **({"reason": reason} if reason else {}),
        },
        ip=job.ip,
    )
    return job


def job_view(job: ImportJob, *, report: bool = True) -> dict[str, Any]:
    """A job as the API and the status endpoint show it; the report (which
    names rows of the case) only to a caller who opened the case."""
    view: dict[str, Any] = {
        "id": str(job.pk),
        "case": str(job.case_id),
        "kind": job.kind,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "percent": job.percent,
        "finished": job.finished,
        "reason": job.reason,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }
    if report:
        view["report"] = job.report
    return view


__all__ = [
    "BATCH",
    "SYNC_ROWS",
    "job_view",
    "proceed",
    "resume_stalled",
    "run_import",
    "start",
    "step",
]
