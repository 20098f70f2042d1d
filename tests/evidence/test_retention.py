"""Retention: an item's end comes from its case's closure plus the period in
settings, or at once from the provider's deletion request, whichever is
first; the clock purges what is due (bytes and key gone, a signed 'purged'
record kept, audited), a download under way finishes consistently, and the
confirmation for the other node carries the signed record."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from nacl.signing import VerifyKey

from accord.assistance.models import State
from accord.cases import services as cases
from accord.core.audit import Actor, AuditAction
from accord.core.canonical import canonical_bytes
from accord.core.identity import this_node
from accord.evidence import retention, services
from accord.evidence.models import Blob, EvidenceItem
from tests.evidence.partner import fresh, received, restrict
from tests.evidence.world import add, events, make_case, make_people, make_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return make_people()


@pytest.fixture
def case(people):
    return make_case(people)


def close(people, case) -> None:
    cases.change_status(Actor.of(people["author"]), case, "closed")


def test_retention_runs_from_the_cases_closure(people, case, settings):
    settings.EVIDENCE_RETENTION_DAYS = 30
    item = add(people["author"], case=case)
    assert retention.end_of(fresh(item)).on is None
    close(people, case)
    end = retention.end_of(fresh(item))
    today = timezone.localdate()
    assert (end.on, end.why, end.closed_on) == (today + timedelta(days=30), "closure", today)
    assert "30" in end.describe() and today.isoformat() in end.describe()
    cases.change_status(Actor.of(people["author"]), case, "open")  # reopened: kept again
    assert retention.end_of(fresh(item)).on is None


def test_a_request_item_follows_its_case_or_else_the_requests_end(people, case, settings):
    settings.EVIDENCE_RETENTION_DAYS = 10
    request = make_request(people)
    item = received(request)
    assert retention.end_of(fresh(item)).on is None
    ended = datetime(2026, 3, 1, 12, tzinfo=UTC)
    request.state, request.ended_at = State.CLOSED, ended
    request.save(update_fields=["state", "ended_at"])
    assert retention.end_of(fresh(item)).on == timezone.localdate(ended) + timedelta(days=10)
    request.case = case  # filed under a case: the case's closure decides
    request.save(update_fields=["case"])
    assert retention.end_of(fresh(item)).on is None
    close(people, case)
    assert retention.end_of(fresh(item)).on == timezone.localdate() + timedelta(days=10)


def test_a_deletion_request_ends_retention_at_once(people, case):
    request = make_request(people)
    request.case = case
    request.save(update_fields=["case"])
    close(people, case)
    item = received(request)
    restrict(request, "delete", "Delete it.", "2026-11-30T09:00:00+00:00")
    end = retention.end_of(fresh(item))
    assert (end.on.isoformat(), end.why) == ("2026-11-30", "deletion")
    assert "2026-11-30" in end.describe()


def test_the_clock_purges_what_is_due_and_keeps_the_record(
    people, case, settings, django_capture_on_commit_callbacks
):
    settings.EVIDENCE_RETENTION_DAYS = 30
    item = add(people["author"], b"closed case bytes", case=case)
    keep = add(people["author"], b"open case bytes", case=make_case(people))
    close(people, case)
    now = timezone.now()
    assert retention.sweep(now + timedelta(days=29)) == 0
    assert fresh(item).retention_until == timezone.localdate() + timedelta(days=30)
    with django_capture_on_commit_callbacks(execute=True):
        assert retention.sweep(now + timedelta(days=31)) == 1
    item, keep = fresh(item), fresh(keep)
    assert item.purged and not keep.purged
    assert "Retention ended" in item.purge_reason and "30 days" in item.purge_reason
    assert not Blob.objects.filter(pk=item.sha256).exists()
    last = item.custody.order_by("-seq").first()
    assert (last.event, last.actor) == ("purged", "clock")
    assert events(AuditAction.EVIDENCE_PURGE, target_id=str(item.pk)) == 1
    assert retention.sweep(now + timedelta(days=60)) == 0  # once only
    with pytest.raises(services.EvidenceRefused, match="purged"):
        services.download(Actor.of(people["author"]), item)

    confirmation = retention.purged_confirmation(item)
    assert confirmation["item"] == str(item.pk) and confirmation["sha256"] == item.sha256
    record = confirmation["record"]
    assert record["event"] == "purged" and record["reason"] == item.purge_reason
    unsigned = {k: v for k, v in record.items() if k != "sig"}
    VerifyKey(this_node().signing_public).verify(
        canonical_bytes(unsigned), base64.b64decode(record["sig"])
    )
    with pytest.raises(ValueError):
        retention.purged_confirmation(keep)


def test_a_case_reopened_before_its_end_keeps_its_items(people, case, settings):
    settings.EVIDENCE_RETENTION_DAYS = 5
    item = add(people["author"], case=case)
    close(people, case)
    now = timezone.now()
    assert retention.sweep(now) == 0
    assert fresh(item).retention_until == timezone.localdate() + timedelta(days=5)
    cases.change_status(Actor.of(people["author"]), case, "open")
    assert retention.sweep(now + timedelta(days=6)) == 0
    assert not fresh(item).purged and fresh(item).retention_until is None


def test_a_clock_purge_racing_a_download_is_consistent(
    people, settings, django_capture_on_commit_callbacks
):
    """The provider requires deletion while a download is under way: the
    download finishes with the right bytes from its open file, the clock's
    purge removes them, and nothing is handed out after it."""
    data = os.urandom(3 * 1_048_576 + 5)
    request = make_request(people)
    item = received(request, data)
    author = Actor.of(people["author"])
    chunks = services.download(author, item)
    first = next(chunks)
    restrict(request, "delete", "Delete the production.", "2026-11-30T09:00:00+00:00")
    with django_capture_on_commit_callbacks(execute=True):
        assert retention.sweep() == 1
    assert not Blob.objects.filter(pk=item.sha256).exists()
    assert first + b"".join(chunks) == data
    item = fresh(item)
    assert item.purged and "required deletion on 2026-11-30" in item.purge_reason
    with pytest.raises(services.EvidenceRefused):
        services.download(author, item)
    assert [r.event for r in item.custody.order_by("seq")] == ["received", "downloaded", "purged"]


def test_a_failing_purge_is_audited_and_leaves_the_rest(people, case, monkeypatch, settings):
    settings.EVIDENCE_RETENTION_DAYS = 1
    first = add(people["author"], b"one", case=case)
    second = add(people["author"], b"two", case=case)
    close(people, case)
    real = services.purge_item

    def flaky(actor, item, reason, **kw):
        if item.pk == first.pk:
            raise RuntimeError("storage offline")
        return real(actor, item, reason, **kw)

    monkeypatch.setattr(services, "purge_item", flaky)
    assert retention.sweep(timezone.now() + timedelta(days=2)) == 1
    assert not fresh(first).purged and fresh(second).purged
    assert events(AuditAction.CLOCK_FAILED) == 1


def test_the_cli_sweeps(people, case, settings):
    settings.EVIDENCE_RETENTION_DAYS = 1
    item = add(people["author"], case=case)
    close(people, case)
    out = io.StringIO()
    at = (timezone.now() + timedelta(days=2)).isoformat()
    call_command("evidence", "sweep", "--at", at, stdout=out)
    assert "1 items purged" in out.getvalue()
    assert EvidenceItem.objects.get(pk=item.pk).purged


def test_the_setting_fails_loudly(tmp_path):
    """A bad ACCORD_EVIDENCE_RETENTION_DAYS stops the node from starting."""
    for bad, why in (("ten years", "whole number"), ("0", "at least 1")):
        env = {
            **os.environ,
            "ACCORD_EVIDENCE_RETENTION_DAYS": bad,
            "ACCORD_DATA_DIR": str(tmp_path),
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        done = subprocess.run(
            [sys.executable, "-c", "import accord.settings"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert "ACCORD_EVIDENCE_RETENTION_DAYS" in done.stderr and why in done.stderr


@pytest.mark.django_db(transaction=True)  # the clock closes stale connections
def test_the_nodes_clock_runs_the_sweep(people):
    request = make_request(people)
    item = received(request, b"to go at once")
    restrict(request, "delete", "Delete it.", "2026-11-30T09:00:00+00:00")
    call_command("clock", "--once")
    item = fresh(item)
    assert item.purged and not Blob.objects.filter(pk=item.sha256).exists()
