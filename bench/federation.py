"""Federation channel benchmark (`make bench`): end-to-end throughput and
latency of signed + encrypted + receipted messages between two live nodes on
loopback, on SQLite and on PostgreSQL, beside the cost of the cryptography
alone on this machine, so throughput reads as a share of the crypto-bound limit.

Latency (median and p99): a 1 KB note posted to the API until its signed
receipt is stored on the sender, on an idle channel. Memory: the resident set
(RSS, /proc) of every process of one node at rest (`accord serve` with its
default two web workers, started, peered with nothing, left idle a few
seconds), and of the sending node at the end of the run. The load average is
recorded beside: on a shared machine the figures move with it.

Results: bench/results/federation.json and bench/results/federation.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from nacl.public import PrivateKey  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402
from tests.live import (  # noqa: E402
    LiveNode,
    make_node,
    outbox_status,
    peered_pair,
    signed_in,
    wait_until,
)

from accord.federation.envelope import (  # noqa: E402
    ENVELOPE_FIELDS,
    Envelope,
    format_time,
    make_receipt,
    open_body,
    seal_body,
    verify_receipt,
)

RESULTS = ROOT / "bench" / "results"
REST_SECONDS = 10
ENQUEUE_CHUNK = 10_000  # pings queued per `accord peer ping` (one transaction each)
# The two nodes run with a node's default settings: tests.live closes each
# PostgreSQL connection after use (ACCORD_DB_CONN_MAX_AGE=0, so a suite's
# hundred nodes fit the server's max_connections), which costs a new
# connection (~10 ms here) per request and per deliverer round.
NODE_DEFAULTS = {"ACCORD_DB_CONN_MAX_AGE": "60"}
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/accord")


def crypto_per_message(size: int, rounds: int) -> float:
    """Seconds of cryptography per message, one core: box encrypt + decrypt,
    envelope sign + verify, receipt sign + verify (as the channel does)."""
    a_sign, b_sign = SigningKey.generate(), SigningKey.generate()
    a_box, b_box = PrivateKey.generate(), PrivateKey.generate()
    body = {"n": 1, "padding": "x" * size}
    started = time.perf_counter()
    for n in range(rounds):
        ciphertext = seal_body(body, a_box, bytes(b_box.public_key))
        envelope = Envelope(
            id=f"id-{n}",
            kind="core.ping",
            sender="a.x",
            recipient="b.x",
            seq=n + 1,
            sent_at=format_time(datetime.now(UTC)),
            in_reply_to=None,
            body=ciphertext,
        ).signed(a_sign)
        envelope.verify([bytes(a_sign.verify_key)])
        open_body(envelope.body, b_box, bytes(a_box.public_key))
        receipt = make_receipt(envelope, "applied", None, datetime.now(UTC), b_sign)
        verify_receipt(
            receipt,
            message_id=envelope.id,
            sender="a.x",
            recipient="b.x",
            seq=envelope.seq,
            body_hash=envelope.body_sha256,
            keys=[bytes(b_sign.verify_key)],
        )
    assert len(ENVELOPE_FIELDS) == 9
    return (time.perf_counter() - started) / rounds


def note_latencies(sender, rounds: int) -> list[dict[str, float]]:
    """Per note: seconds from posting it to the API until the receiver's signed
    receipt is stored on the sender (`total`: the outbox row's delivered_at,
    written by the sender, minus the moment the post began; one machine, one
    clock), the post alone (`post`), and from the row's commit to its receipt
    (`channel`: wake-up, signing, sending, the receiver's work, the receipt).
    The bench looks every 20 ms; the times come from the row, not the looks."""
    rounds_out = []
    with signed_in(sender, "node_admin") as api:
        for n in range(rounds):
            started = datetime.now(UTC)
            sent = api.post(
                "/api/v1/federation/notes",
                json={"peer": "us.bench", "subject": f"latency {n}", "text": "x" * 1024},
            )
            posted = datetime.now(UTC)
            sent.raise_for_status()
            message_id = sent.json()["message_id"]

            def delivered(message_id: str = message_id) -> dict | None:
                return _outbox_row(api, message_id)

            row = wait_until(delivered, 60, interval=0.02, what="the receipt")
            done = datetime.fromisoformat(row["delivered_at"])
            created = datetime.fromisoformat(row["created_at"])
            rounds_out.append(
                {
                    "total": (done - started).total_seconds(),
                    "post": (posted - started).total_seconds(),
                    "channel": (done - created).total_seconds(),
                }
            )
            time.sleep(0.05)  # an idle channel: the next note starts after a pause
    return rounds_out


def _outbox_row(api, message_id: str) -> dict | None:
    """The outbox row once delivered: by its id, or (a node whose API lacks
    that read) as the newest delivered row once nothing is pending."""
    answer = api.get(f"/api/v1/federation/outbox/{message_id}")
    if answer.status_code == 200:
        row = answer.json()
        return row if row["delivered_at"] else None
    params = {"peer": "us.bench", "status": "pending", "limit": 1}
    if api.get("/api/v1/federation/outbox", params=params).json()["count"]:
        return None
    params = {"peer": "us.bench", "limit": 1}
    count = api.get("/api/v1/federation/outbox", params=params).json()["count"]
    params["offset"] = count - 1
    row = api.get("/api/v1/federation/outbox", params=params).json()["items"][0]
    assert row["id"] == message_id, row
    return row


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.99 = p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def role_of(command: str, parent_command: str) -> str:
    """What a node's process is, from its command line (and its parent's)."""
    if "accord.core.supervise" in command:
        return "supervisor"
    if "gunicorn" in command:
        web_parent = "gunicorn" in parent_command and "supervise" not in parent_command
        return "web worker" if web_parent else "web master"
    if "accord.cli" in command:
        return command.split("accord.cli", 1)[1].split()[0]
    return command.split()[0] if command else "?"


def session_processes(sid: int) -> list[dict]:
    """Every process of a session (a node started with start_new_session):
    its role, RSS and CPU seconds so far."""
    commands, rows = {}, []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            status = _status(int(entry.name))
        except (OSError, UnicodeDecodeError):
            continue
        commands[int(entry.name)] = command
        if int(stat[3]) != sid:  # state ppid pgrp session ...
            continue
        ticks = int(stat[11]) + int(stat[12])  # utime + stime
        rows.append(
            {
                "pid": int(entry.name),
                "ppid": int(stat[1]),
                "command": command,
                "rss_mib": round(int(status["VmRSS"].split()[0]) / 1024, 1),
                "pss_mib": _pss_mib(entry),
                "cpu_seconds": round(ticks / os.sysconf("SC_CLK_TCK"), 2),
            }
        )
    for row in rows:
        row["role"] = role_of(row.pop("command"), commands.get(row["ppid"], ""))
        del row["ppid"]
    return sorted(rows, key=lambda row: row["role"])


def _pss_mib(entry: Path) -> float:
    """Proportional set size: shared pages divided among their processes."""
    for line in (entry / "smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def memory(processes: list[dict]) -> dict:
    return {
        "total_rss_mib": round(sum(row["rss_mib"] for row in processes), 1),
        "total_pss_mib": round(sum(row["pss_mib"] for row in processes), 1),
        "processes": processes,
    }


def node_at_rest(root: Path, database_url: str, web_workers: int | None = None) -> dict:
    """One node as an operator runs it (`accord serve`, default options unless
    `web_workers` is given), idle: the RSS and CPU of each of its processes."""
    label = f"w{web_workers}" if web_workers else "default"
    node = make_node(
        root, f"cn.rest-{label}", "China", "Ministry of Public Security", **NODE_DEFAULTS
    )
    node.init()
    log = node.log_path.open("ab")
    workers = ["--workers", str(web_workers)] if web_workers else []
    process = subprocess.Popen(
        [sys.executable, "-m", "accord.cli", "serve", "--port", str(node.port), *workers],
        env=node.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    node.process = process
    try:
        wait_until(lambda: _healthy(node), 120, interval=0.2, what="the node to start")
        time.sleep(REST_SECONDS)
        return memory(session_processes(process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        if database_url:
            from tests.live import drop_postgres_database

            drop_postgres_database(node.database_url)


def nodes_at_rest(root: Path, database_url: str) -> dict:
    """A node at rest with one web worker (as the tests and this bench run
    nodes) and with `accord serve`'s defaults."""
    return {
        "one_web_worker": node_at_rest(root, database_url, 1),
        "default": node_at_rest(root, database_url),
    }


def _healthy(node: LiveNode) -> bool:
    import httpx

    try:
        return httpx.get(node.url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run_database(
    label: str,
    database_url: str,
    count: int,
    size: int,
    latency_rounds: int,
    batch: int,
    rest: bool = True,
) -> dict:
    if database_url:
        os.environ["ACCORD_DATABASE_URL"] = database_url
    else:
        os.environ.pop("ACCORD_DATABASE_URL", None)
    root = Path(tempfile.mkdtemp(prefix=f"accord-bench-{label}-"))
    at_rest = nodes_at_rest(root, database_url) if rest else {}
    print(json.dumps({"database": label, "node_at_rest": at_rest}), flush=True)
    sender_env = {"ACCORD_FEDERATION_BATCH_SIZE": str(batch), **NODE_DEFAULTS}
    with peered_pair(root, "bench", cn_env=sender_env, us_env=NODE_DEFAULTS) as (
        sender,
        receiver,
    ):
        sender.create_user("node_admin", "node_admin")
        # Warm-up: connections, caches, first page of the deliverer.
        sender.accord("peer", "ping", "us.bench", "--count", "50", "--size", str(size))
        wait_until(lambda: outbox_status(sender)["us.bench"]["outbox_depth"] == 0, 120)

        # Throughput: the receiver is stopped while the batch is queued, so the
        # clock measures delivery alone (sign, send, check, apply, receipt).
        receiver.stop()
        started = time.perf_counter()
        for chunk in range(0, count, ENQUEUE_CHUNK):  # each `accord` call has 120 s
            queued = str(min(ENQUEUE_CHUNK, count - chunk))
            sender.accord("peer", "ping", "us.bench", "--count", queued, "--size", str(size))
        enqueue_seconds = time.perf_counter() - started
        receiver.start()
        sender.accord("outbox", "retry")  # clear the back-off the outage caused
        started = time.perf_counter()
        wait_until(
            lambda: outbox_status(sender)["us.bench"]["outbox_depth"] == 0,
            1800,
            interval=0.05,
            what="delivery",
        )
        deliver_seconds = time.perf_counter() - started
        status = outbox_status(sender)["us.bench"]

        latencies = note_latencies(sender, latency_rounds)
        totals = [r["total"] for r in latencies]
        assert sender.process is not None
        after_run = memory(session_processes(sender.process.pid))
        return {
            "database": label,
            "messages": count,
            "body_bytes": size,
            "batch_size": batch,
            "enqueue_seconds": round(enqueue_seconds, 3),
            "deliver_seconds": round(deliver_seconds, 3),
            "messages_per_second": round(count / deliver_seconds, 1),
            "applied": status["applied"],
            "latency_rounds": len(latencies),
            "latency_p50_ms": ms(statistics.median(totals)),
            "latency_p99_ms": ms(percentile(totals, 0.99)),
            "latency_max_ms": ms(max(totals)),
            "post_p50_ms": ms(statistics.median(r["post"] for r in latencies)),
            "channel_p50_ms": ms(statistics.median(r["channel"] for r in latencies)),
            "channel_p99_ms": ms(percentile([r["channel"] for r in latencies], 0.99)),
            "latency_note": "a note posted to the API until its receipt is stored "
            "(delivered_at), on an idle channel",
            "node_at_rest": at_rest,
            "sender_after_run": after_run,
            "load_average": os.getloadavg(),
        }


def memory_lines(results: dict) -> list[str]:
    lines = []
    for row in results["runs"]:
        for layout, rest in row["node_at_rest"].items():
            parts = ", ".join(
                f"{p['role']} {p['rss_mib']} ({p['pss_mib']}, {p['cpu_seconds']} s)"
                for p in rest["processes"]
            )
            lines.append(
                f"- {row['database']}, {layout.replace('_', ' ')}: "
                f"**{rest['total_rss_mib']} MiB RSS** ({rest['total_pss_mib']} PSS): {parts}"
            )
        if "load_average_before" in row:
            lines.append(
                f"- load average before the {row['database']} run: {row['load_average_before']}"
            )
        if "load_average" in row:
            lines.append(f"- load average after the {row['database']} run: {row['load_average']}")
    return lines


def report(results: dict) -> str:
    crypto = results["crypto"]
    lines = [
        "# Federation channel benchmark",
        "",
        f"Run {results['when']} on {results['machine']}.",
        "",
        f"Cryptography alone, one core, {crypto['body_bytes']} B body: "
        f"{crypto['ms_per_message']:.3f} ms per message "
        f"= **{crypto['messages_per_second']:.0f} messages/s** (the crypto-bound limit).",
        "",
        f"Load average (1, 5, 15 min) at the start: {results.get('load_average')}.",
        "",
        "| database | messages | delivered/s | share of crypto limit | enqueue s "
        "| latency p50 ms | p99 ms | post p50 ms | commit to receipt p50 / p99 ms | rounds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["runs"]:
        share = row["messages_per_second"] / crypto["messages_per_second"]
        if "crypto_messages_per_second_before" in row:
            limit = row["crypto_messages_per_second_before"]
            share_text = f"{share:.0%} ({row['messages_per_second'] / limit:.0%} of {limit:.0f})"
        else:
            share_text = f"{share:.0%}"
        lines.append(
            f"| {row['database']} | {row['messages']} | {row['messages_per_second']:.0f} | "
            f"{share_text} | {row['enqueue_seconds']} | {row['latency_p50_ms']} | "
            f"{row['latency_p99_ms']} | {row['post_p50_ms']} | "
            f"{row['channel_p50_ms']} / {row['channel_p99_ms']} | {row['latency_rounds']} |"
        )
    lines += [
        "",
        "Latency: a 1 KB note posted to the API until its signed receipt is stored on "
        "the sender (the outbox row's delivered_at), on an idle channel (50 ms between "
        "notes); *post*: the API call alone; *commit to receipt*: from the outbox row's "
        "creation to its receipt (the deliverer's wake-up, sending, the receiver, the "
        "receipt). Share of crypto limit: delivered/s over the limit measured at the "
        "start; in brackets, over the limit measured again just before that database "
        "(both sides given), as the load moves during a long run.",
        "",
        f"Memory of one node at rest (`accord serve`, idle {REST_SECONDS} s): "
        "RSS MiB (PSS MiB, CPU seconds since start) per process:",
        "",
    ]
    lines += memory_lines(results)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--latency-rounds", type=int, default=200)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--batch-size", type=int, default=200, help="the sender's batch size")
    parser.add_argument("--name", default="federation", help="results file name (no suffix)")
    parser.add_argument(
        "--rest-only", action="store_true", help="measure only the memory of a node at rest"
    )
    parser.add_argument("--no-rest", action="store_true", help="skip the memory of a node at rest")
    args = parser.parse_args()
    if args.rest_only:
        rest_only(args)
        return
    per_message = crypto_per_message(args.size, 2000)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "crypto": {
            "body_bytes": args.size,
            "ms_per_message": per_message * 1000,
            "messages_per_second": 1 / per_message,
        },
        "runs": [],
    }
    for label in args.databases.split(","):
        url = PG_URL if label == "postgres" else ""
        load_before = [round(x, 2) for x in os.getloadavg()]
        # Measured again just before each database: on a shared machine the
        # crypto-bound limit moves with the load, and the share compares the two.
        crypto_before = 1 / crypto_per_message(args.size, 2000)
        row = run_database(
            label,
            url,
            args.count,
            args.size,
            args.latency_rounds,
            args.batch_size,
            rest=not args.no_rest,
        )
        row["load_average_before"] = load_before
        row["crypto_messages_per_second_before"] = round(crypto_before, 1)
        results["runs"].append(row)
        print(json.dumps(results["runs"][-1]), flush=True)
        save(args.name, results)  # a run cut short keeps the databases it measured
    print(report(results))


def save(name: str, results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(report(results))


def rest_only(args: argparse.Namespace) -> None:
    results: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": [],
    }
    for label in args.databases.split(","):
        url = PG_URL if label == "postgres" else ""
        if url:
            os.environ["ACCORD_DATABASE_URL"] = url
        else:
            os.environ.pop("ACCORD_DATABASE_URL", None)
        root = Path(tempfile.mkdtemp(prefix=f"accord-bench-rest-{label}-"))
        results["runs"].append({"database": label, "node_at_rest": nodes_at_rest(root, url)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = "\n".join([f"# Node at rest, {results['when']}", "", *memory_lines(results)])
    (RESULTS / f"{args.name}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
