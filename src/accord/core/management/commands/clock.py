"""The node's clock: timed work that no request triggers (preservation holds
that lapse, deadline reminders, partner intel sync, comparing replicas with
each peer, reads left staged sealed into the audit chain, case imports whose
worker stopped midway, evidence purged at the end of its retention). `accord
serve` runs it in its background process, beside the task worker and the
deliverer (`accord background`); `accord clock` runs it on its own."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from accord.core import clockwork

log = logging.getLogger(__name__)


def _audit(assistance: Any, sync: Any) -> None:
    from accord.core import audit, tally

    # Reads left staged when no reader found the head free (audit.record_read).
    if sealed := audit.seal():
        log.info("clock: %s reads sealed into the audit chain", sealed)
    # Failures of unidentified requests: one summary per window, then pruned.
    if summarised := tally.summarise():
        log.info("clock: %s windows of counted failures summarised", summarised)
    tally.prune()


def _requests(assistance: Any, sync: Any) -> None:
    result = assistance.tick()
    if result.lapsed or result.reminders or result.emails:
        log.info(
            "clock: %s holds lapsed, %s reminders, %s e-mails retried",
            result.lapsed,
            result.reminders,
            result.emails,
        )
    if result.failed:
        # Each failure is audited and shown on the Federation page; the
        # items are tried again next round.
        log.warning("clock: %s items failed; retrying next round", result.failed)


def _intel(assistance: Any, sync: Any) -> None:
    moved = sync.sync_all()
    if moved["pushed"] or moved["pulled"]:
        log.info("clock: intel pushed %s, pulled %s", moved["pushed"], moved["pulled"])
    for problem in moved["errors"]:
        log.warning("clock: intel pull failed: %s", problem)


def _imports(assistance: Any, sync: Any) -> None:
    from accord.cases import jobs

    # An import whose worker stopped midway resumes after its last batch.
    if resumed := jobs.resume_stalled():
        log.info("clock: %s unfinished imports enqueued again", resumed)
    from accord.matching import answering

    # A hit/no-hit query whose answering task stopped midway goes on.
    if resumed := answering.resume_stalled():
        log.info("clock: %s hit/no-hit answers enqueued again", resumed)


def _replicas(assistance: Any, sync: Any) -> None:
    from accord.federation import replicas

    checked = replicas.reconcile_due()
    if checked:
        log.info("clock: replicas compared with %s peers", checked)
    # The audit head, anchored in the peers (federation.anchoring).
    from accord.federation import anchoring

    if anchoring.checkpoints_due():
        log.info("clock: audit checkpoint sent to the peers")
    # Channels still to recover after a restore (federation.recovery).
    from accord.federation import recovery

    for outcome in recovery.recover_due():
        log.info("clock: channel recovery: %s", outcome)


def _evidence(assistance: Any, sync: Any) -> None:
    from accord.evidence import orphans, retention, transfer

    purged = retention.sweep()
    if purged:
        log.info("clock: %s evidence items purged at the end of their retention", purged)
    moved = transfer.tick()
    if any(moved.values()):
        log.info("clock: evidence transfers %s", moved)
    removed = orphans.sweep()
    if any(removed.values()):
        log.info("clock: evidence nothing refers to removed %s", removed)


JOBS = (_audit, _requests, _intel, _replicas, _imports, _evidence)


def run(stop: threading.Event, once: bool = False) -> None:
    """Run every job, then again every ACCORD_CLOCK_SECONDS until `stop` is set."""
    from accord.assistance import clock as assistance
    from accord.intel import sync

    while not stop.is_set():
        close_old_connections()
        with clockwork.clock_turn() as mine:
            # Another process of this node holds the clock: its round is this one.
            for job in JOBS if mine else ():
                try:
                    job(assistance, sync)
                except DatabaseError:
                    # Transient (the database restarting): the next round tries again.
                    log.exception("clock: the database failed; retrying next round")
                except Exception:
                    # One job's bug must not stop the node (serve stops every
                    # process when one exits) nor the other jobs: log it loudly.
                    log.exception("clock: %s failed; retrying next round", job.__name__)
        if once:
            return
        stop.wait(settings.CLOCK_SECONDS)


class Command(BaseCommand):
    help = "Run timed work every ACCORD_CLOCK_SECONDS until SIGTERM or Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run once and exit")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        run(stop, once)
