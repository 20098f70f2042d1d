"""A large import is a job: started and audited in the request, imported by
the task worker one committed batch at a time (the progress a page shows is
what has committed), resumed without importing anything twice when it is run
again, stopped with the reason when the policy refuses it midway, and
followed on a progress page (script or no script), through the API and the
CLI."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from accord.cases import imports, jobs, services
from accord.cases.models import ImportChunk, ImportJob, Observable
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from tests.cases.world import events, make_people, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    # Ten rows make a "large" import of four batches, so the tests stay quick.
    monkeypatch.setattr(jobs, "BATCH", 3)
    monkeypatch.setattr(jobs, "SYNC_ROWS", 5)
    # The worker drops stale connections between tasks; in a test the one
    # connection holds the test's transaction (PostgreSQL would lose it).
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def case(people):
    return open_case(people["author"])


# Ten rows: eight distinct good values, one repeated, one bad.
ROWS = [f"domain,host{n}.example" for n in range(8)] + ["domain,HOST0.example", "ipv4,1.2.3.999"]
CSV = "\n".join(ROWS) + "\n"


def run_worker() -> None:
    """What `accord worker` does, until no task is left."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, interval=0)


def client_of(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def test_a_large_import_is_queued_then_the_worker_imports_it_batch_by_batch(people, case):
    job = imports.import_csv(Actor.of(people["author"]), case, CSV)
    assert (job.status, job.total, job.done) == ("queued", 10, 0)
    assert not Observable.objects.exists()
    assert DBTaskResult.objects.filter(task_path="accord.cases.jobs.run_import").count() == 1
    started = AuditEvent.objects.get(action=AuditAction.OBSERVABLES_IMPORT_START.value)
    assert started.data["job"] == str(job.pk) and started.data["rows"] == 10
    assert started.actor == f"user:{people['author'].username}"

    run_worker()
    job.refresh_from_db()
    assert (job.status, job.done, job.finished_at is not None) == ("done", 10, True)
    assert (job.report["added"], job.report["duplicates"], job.report["failed"]) == (8, 1, 1)
    assert job.report["problems"][0]["where"] == "line 10"
    assert case.observables.count() == 8
    assert not ImportChunk.objects.exists(), "the rows are not kept once imported"
    ended = AuditEvent.objects.get(action=AuditAction.OBSERVABLES_IMPORT.value)
    assert ended.data | {} == {
        "reference": case.reference,
        "format": "csv",
        "added": 8,
        "duplicates": 1,
        "failed": 1,
        "job": str(job.pk),
        "status": "done",
    }


def test_progress_is_what_has_committed_and_a_rerun_imports_nothing_twice(
    people, case, monkeypatch
):
    job = imports.import_csv(Actor.of(people["author"]), case, CSV)
    assert jobs.step(job.pk).done == 3
    assert case.observables.count() == 3 and ImportChunk.objects.filter(job=job).count() == 3

    # The worker dies in the middle of the second batch: that batch rolls back.
    def dies(rows):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(jobs, "store_new", dies)
        with pytest.raises(KeyboardInterrupt):
            jobs.proceed(job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, case.observables.count()) == ("running", 3, 3)

    # The task is run again (and once more): it resumes after the first batch.
    assert jobs.proceed(job.pk).status == "done"
    assert jobs.run_import.call(str(job.pk)) == "done"
    job.refresh_from_db()
    assert (job.done, job.report["added"], job.report["duplicates"]) == (10, 8, 1)
    assert case.observables.count() == 8
    assert events(AuditAction.OBSERVABLES_IMPORT) == 1


def test_an_import_whose_worker_was_killed_is_resumed_not_left_running(people, case):
    """SIGKILL leaves the task "running" in the database: the clock sees that
    its worker's process is gone, marks the task failed and resumes the job;
    a task whose worker lives is waited for."""
    import subprocess
    import sys

    from accord.core import tasks

    job = imports.import_csv(Actor.of(people["author"]), case, CSV)
    jobs.step(job.pk)
    alive = tasks.worker_id()
    DBTaskResult.objects.filter(id=job.task).update(status="RUNNING", worker_ids=[alive])
    assert not tasks.gone(alive)
    assert jobs.resume_stalled() == 0, "its worker (this process) is running it"
    # A worker process that has ended, killed mid-task.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stat = open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[-1].split()
        killed = f"{alive.split('.')[0]}.{alive.split('.')[1]}.{child.pid}.{stat[19]}.abcdefgh"
        assert not tasks.gone(killed)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert tasks.gone(killed)
    first_task = job.task
    DBTaskResult.objects.filter(id=first_task).update(worker_ids=[killed])
    assert jobs.resume_stalled() == 1
    stale = DBTaskResult.objects.get(id=first_task)
    assert (stale.status, stale.traceback) == ("FAILED", tasks.DEAD)
    run_worker()
    job.refresh_from_db()
    assert (job.status, job.done) == ("done", 10)
    assert case.observables.count() == 8
    # Another machine's worker, or one named otherwise, is taken at its word.
    assert not tasks.gone("accord.0123456789ab.1.1.abcdefgh")
    assert not tasks.gone("Xq3k9s0d")


def test_the_clock_enqueues_again_an_import_whose_task_ended_unfinished(people, case):
    job = imports.import_csv(Actor.of(people["author"]), case, CSV)
    first_task = job.task
    jobs.step(job.pk)
    assert jobs.resume_stalled() == 0, "its task is still waiting for a worker"
    # The worker was stopped midway (a second Ctrl-C): the task failed, the job did not end.
    DBTaskResult.objects.filter(id=first_task).update(status="FAILED")
    assert jobs.resume_stalled() == 1
    job.refresh_from_db()
    assert job.task != first_task and jobs.resume_stalled() == 0
    run_worker()
    job.refresh_from_db()
    assert (job.status, job.done, job.report["added"], job.report["duplicates"]) == (
        "done",
        10,
        8,
        1,
    )
    assert case.observables.count() == 8 and events(AuditAction.OBSERVABLES_IMPORT) == 1


def test_the_clock_hands_the_worker_a_small_import_whose_request_died(people, case, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(jobs, "proceed", lambda job_id: None)  # the process dies here
        job = imports.import_csv(Actor.of(people["author"]), case, "domain,a.example\n")
    assert (job.status, job.task) == ("queued", "")
    assert jobs.resume_stalled() == 0, "the request may still be importing it"
    ImportJob.objects.filter(pk=job.pk).update(created_at=job.created_at - timedelta(minutes=11))
    assert jobs.resume_stalled() == 1
    run_worker()
    job.refresh_from_db()
    assert (job.status, job.report["added"]) == ("done", 1)


def test_a_case_closed_midway_stops_the_job_with_the_reason(people, case):
    author = Actor.of(people["author"])
    job = imports.import_csv(author, case, CSV)
    jobs.step(job.pk)
    services.change_status(author, case, "closed")
    job = jobs.proceed(job.pk)
    assert job.status == "failed" and "closed" in job.reason
    assert (job.done, case.observables.count()) == (3, 3)
    assert not ImportChunk.objects.filter(job=job).exists()
    refused = AuditEvent.objects.filter(action=AuditAction.CASE_REFUSED.value).last()
    assert refused is not None and refused.data["action"] == "observe"
    ended = AuditEvent.objects.get(action=AuditAction.OBSERVABLES_IMPORT.value)
    assert ended.data["status"] == "failed" and ended.data["added"] == 3


def test_the_page_shows_a_progress_bar_that_works_without_script_then_the_report(people, case):
    author = client_of(people["author"], "zh-hans")
    upload = SimpleUploadedFile("rows.csv", CSV.encode())
    posted = author.post(
        reverse("cases:import", kwargs={"case_id": case.pk}), {"format": "csv", "file": upload}
    )
    job = ImportJob.objects.get()
    page_url = reverse("cases:import-job", kwargs={"case_id": case.pk, "job_id": job.pk})
    assert posted.status_code == 302 and posted["Location"] == page_url
    jobs.step(job.pk)
    html = author.get(page_url).content.decode()
    assert '<progress id="job-progress" max="10" value="3"' in html
    assert '<meta http-equiv="refresh"' in html and "web/progress.js" in html
    assert "正在导入" in html  # the status, in Chinese
    status_url = reverse("cases:import-status", kwargs={"case_id": case.pk, "job_id": job.pk})
    assert f'data-status-url="{status_url}"' in html
    status = author.get(status_url).json()
    assert (status["status"], status["total"], status["done"], status["percent"]) == (
        "running",
        10,
        3,
        30,
    )
    detail = author.get(reverse("cases:detail", kwargs={"case_id": case.pk})).content.decode()
    assert page_url in detail and "<progress" in detail

    run_worker()
    html = author.get(page_url).content.decode()
    assert 'data-testid="import-report"' in html and "第 10 行" in html
    assert "http-equiv" not in html and "data-status-url" not in html
    assert author.get(status_url).json()["finished"] is True


def test_the_api_answers_202_with_the_job_and_reports_it_when_it_ends(people, case):
    author = client_of(people["author"])
    api = f"/api/v1/cases/{case.pk}/imports"
    started = author.post(f"{api}/csv", {"text": CSV}, content_type="application/json")
    assert started.status_code == 202
    job_id = started.json()["id"]
    assert started.json()["status"] == "queued" and started.json()["total"] == 10
    run_worker()
    job = author.get(f"{api}/{job_id}").json()
    assert (job["status"], job["done"], job["report"]["added"]) == ("done", 10, 8)
    assert client_of(people["outsider"]).get(f"{api}/{job_id}").status_code == 404


def test_the_cli_prints_the_progress_of_a_large_import(people, case, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(CSV, encoding="utf-8")
    out = StringIO()
    username = people["author"].username
    call_command("cases", "import", case.reference, str(path), "--as", username, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{case.reference}: import ") and "10 rows" in lines[0]
    assert "  3/10 rows (30 %)" in lines and "  10/10 rows (100 %)" in lines
    assert f"{case.reference}: 8 imported, 1 already held, 1 not imported" in lines
    assert ImportJob.objects.get().status == "done"
