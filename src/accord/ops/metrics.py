"""The node's metrics, computed from its database at each scrape.

Every process of a node (the web hosts, the deliverers, the clock, the
workers) writes the one database, so whichever host answers the scrape
answers for the whole node, and no count lives in one process's memory to be
lost at a restart or split across gunicorn workers. Each family below is one
aggregate query over indexed columns, but the receipts, which are tallied
incrementally (accord.ops.receipts); docs/operations.md, "Metrics", says what
each one means and how to alert on it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from importlib import metadata

from django.db.models import Count, Min, QuerySet, Sum
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from accord.assistance.models import FINAL_STATES, AssistanceRequest, State
from accord.assistance.queries import overdue_condition
from accord.core.identity import this_node
from accord.core.models import AuditHead, AuditStaged, FailureTally
from accord.federation.models import InboxMessage, MessageStatus, OutboxMessage, Peer
from accord.ops import receipts as receipts_of
from accord.ops.models import AuditVerification

# Rejections are counted per window (core.tally); the gauge sums the windows
# that began within this span.
REJECTIONS_SPAN = timedelta(hours=1)
DIRECTIONS = {True: "outgoing", False: "incoming"}


def exposition() -> bytes:
    """The metrics in Prometheus's text format, from a registry made for this
    scrape alone (no state kept between scrapes)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector())
    return generate_latest(registry)


class NodeCollector(Collector):
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or timezone.now()

    def collect(self) -> Iterable[Metric]:
        yield node_info()
        peers = dict(Peer.objects.values_list("pk", "node_id"))
        yield from peer_state()
        yield from outbox(peers, self.now)
        yield inbox(peers)
        yield rejections(self.now)
        yield from requests(self.now)
        yield from audit_log()
        yield from tasks(self.now)


def node_info() -> Metric:
    info = GaugeMetricFamily(
        "accord_node_info",
        "This node's id and Accord version (always 1).",
        labels=["node", "version"],
    )
    try:
        version = metadata.version("accord")
    except metadata.PackageNotFoundError:
        version = "unknown"
    info.add_metric([this_node().node_id, version], 1)
    return info


# The channel's state as the deliverer keeps it on each Peer row: column, metric, help.
PEER_GAUGES = (
    ("active", "accord_peer_active", "1 for a peer, 0 once removed (its queue is kept)."),
    (
        "blocked",
        "accord_peer_blocked",
        "1 when a permanent failure stopped delivery until an operator retries.",
    ),
    (
        "failures",
        "accord_peer_delivery_failures",
        "Transient delivery failures in a row (the back-off grows with them).",
    ),
    (
        "last_delivery_at",
        "accord_peer_last_delivery_timestamp_seconds",
        "When the peer last answered with a valid receipt (Unix time; 0: never).",
    ),
)


def peer_state() -> Iterator[Metric]:
    families = [
        (column, GaugeMetricFamily(name, doc, labels=["peer"])) for column, name, doc in PEER_GAUGES
    ]
    for row in Peer.objects.values("node_id", *(column for column, _, _ in PEER_GAUGES)):
        for column, family in families:
            family.add_metric([row["node_id"]], _number(row[column]))
    yield from (family for _, family in families)


def _number(value: bool | int | datetime | None) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0)


def outbox(peers: dict[int, str], now: datetime) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "accord_outbox_depth", "Messages queued for the peer, not yet receipted.", labels=["peer"]
    )
    oldest = GaugeMetricFamily(
        "accord_outbox_oldest_undelivered_seconds",
        "Age of the oldest message queued for the peer (0: none waiting).",
        labels=["peer"],
    )
    receipts = CounterMetricFamily(
        "accord_outbox_receipts",
        "Messages the peer answered with a signed receipt, by what it did with them.",
        labels=["peer", "status"],
    )
    latency = HistogramMetricFamily(
        "accord_outbox_receipt_latency_seconds",
        "Time from queueing a message to holding the peer's signed receipt.",
        labels=["peer"],
    )
    for pk, node_id in peers.items():
        # One peer at a time: each query is a range of the (peer, status, seq) index.
        waiting = OutboxMessage.objects.filter(peer_id=pk, status=MessageStatus.PENDING).aggregate(
            n=Count("pk"), first=Min("created_at"), first_seq=Min("seq")
        )
        depth.add_metric([node_id], waiting["n"])
        age = (now - waiting["first"]).total_seconds() if waiting["first"] else 0.0
        oldest.add_metric([node_id], max(0.0, age))
        tally = receipts_of.settled(pk, receipts_of.Pending(waiting["n"], waiting["first_seq"]))
        receipts.add_metric([node_id, MessageStatus.APPLIED.value], tally.applied)
        receipts.add_metric([node_id, MessageStatus.REFUSED.value], tally.refused)
        buckets = tally.latency_buckets or [0] * len(receipts_of.LATENCY_BUCKETS)
        counts = [
            (floatToGoString(bound), count)
            for bound, count in zip(receipts_of.LATENCY_BUCKETS, buckets, strict=True)
        ]
        counts.append(("+Inf", tally.applied + tally.refused))
        latency.add_metric([node_id], counts, sum_value=tally.latency_seconds)
    yield from (depth, oldest, receipts, latency)


def inbox(peers: dict[int, str]) -> Metric:
    received = CounterMetricFamily(
        "accord_inbox_messages",
        "Messages from the peer this node applied or refused (each with its signed receipt).",
        labels=["peer", "status"],
    )
    found = counts(InboxMessage.objects.all(), "peer_id", "status")
    for pk, node_id in peers.items():
        for status in (MessageStatus.APPLIED, MessageStatus.REFUSED):
            received.add_metric([node_id, status.value], found.get((pk, status), 0))
    return received


def rejections(now: datetime) -> Metric:
    """Requests refused before anything was applied, as core.tally counts them
    (envelopes the inbox rejected, unknown TAXII tokens, sign-ins under unknown
    names, scrapes without a valid token). A gauge: the tally's windows end,
    and old ones are removed, so the sum is not a counter."""
    gauge = GaugeMetricFamily(
        "accord_rejections_last_hour",
        "Requests rejected before anything was applied, in counting windows "
        "begun in the last hour, by channel and reason.",
        labels=["channel", "reason"],
    )
    rows = (
        FailureTally.objects.filter(window_start__gte=now - REJECTIONS_SPAN)
        .values("channel", "reason")
        .annotate(n=Sum("count"))
        .order_by("channel", "reason")
    )
    for row in rows:
        gauge.add_metric([row["channel"], row["reason"]], row["n"] or 0)
    return gauge


def requests(now: datetime) -> Iterator[Metric]:
    by_state = GaugeMetricFamily(
        "accord_requests",
        "Mutual-assistance requests by direction and state (drafts included).",
        labels=["direction", "state"],
    )
    found = counts(AssistanceRequest.objects.all(), "outgoing", "state")
    for outgoing, direction in DIRECTIONS.items():
        for state in State:
            by_state.add_metric([direction, state.value], found.get((outgoing, state.value), 0))
    overdue = GaugeMetricFamily(
        "accord_requests_overdue",
        "Open requests with at least one deadline passed and not met.",
        labels=["direction"],
    )
    late = AssistanceRequest.objects.exclude(state__in=FINAL_STATES).filter(overdue_condition(now))
    counted = counts(late, "outgoing")
    for outgoing, direction in DIRECTIONS.items():
        overdue.add_metric([direction], counted.get((outgoing,), 0))
    yield from (by_state, overdue)


def audit_log() -> Iterator[Metric]:
    head = AuditHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    yield GaugeMetricFamily(
        "accord_audit_events", "Events in the audit chain (the head's sequence number).", head or 0
    )
    yield GaugeMetricFamily(
        "accord_audit_staged_reads",
        "Reads recorded but not yet sealed into the chain (the clock seals them).",
        AuditStaged.objects.count(),
    )
    verified = AuditVerification.objects.filter(pk=1).first()
    yield GaugeMetricFamily(
        "accord_audit_last_verification_timestamp_seconds",
        "When the audit chain was last verified (Unix time; 0: never).",
        verified.at.timestamp() if verified else 0,
    )
    yield GaugeMetricFamily(
        "accord_audit_last_verification_ok",
        "1 if the last verification found the chain intact, 0 if broken or never verified.",
        int(verified.ok) if verified else 0,
    )


def tasks(now: datetime) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "accord_task_queue_depth",
        "Background tasks waiting (ready) or running, per queue.",
        labels=["queue", "status"],
    )
    oldest = GaugeMetricFamily(
        "accord_task_oldest_ready_seconds",
        "Age of the oldest task waiting for a worker (0: none).",
        labels=["queue"],
    )
    failed = GaugeMetricFamily(
        "accord_tasks_failed", "Tasks that failed, among the results kept.", labels=["queue"]
    )
    kept = (TaskResultStatus.READY, TaskResultStatus.RUNNING, TaskResultStatus.FAILED)
    rows = (
        DBTaskResult.objects.filter(status__in=kept)
        .values("queue_name", "status")
        .annotate(n=Count("pk"), first=Min("enqueued_at"))
        .order_by()
    )
    found = {(row["queue_name"], row["status"]): row for row in rows}
    for queue in sorted({queue for queue, _ in found} | {"default"}):
        for status in (TaskResultStatus.READY, TaskResultStatus.RUNNING):
            row = found.get((queue, status))
            depth.add_metric([queue, status.value.lower()], row["n"] if row else 0)
        ready = found.get((queue, TaskResultStatus.READY))
        oldest.add_metric([queue], max(0.0, (now - ready["first"]).total_seconds()) if ready else 0)
        failed_row = found.get((queue, TaskResultStatus.FAILED))
        failed.add_metric([queue], failed_row["n"] if failed_row else 0)
    yield from (depth, oldest, failed)


def counts(rows: QuerySet, *columns: str) -> dict[tuple, int]:
    """How many rows hold each combination of values of `columns` (one GROUP BY)."""
    grouped = rows.values(*columns).annotate(n=Count("pk")).order_by()
    return {tuple(row[column] for column in columns): row["n"] for row in grouped}
