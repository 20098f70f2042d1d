"""Federation channel benchmark (`make bench`): end-to-end throughput and
latency of signed + encrypted + receipted messages between two live nodes on
loopback, on SQLite and on PostgreSQL, beside the cost of the cryptography
alone on this machine, so throughput reads as a share of the crypto-bound limit.

Results: bench/results/federation.json and bench/results/federation.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


def note_latencies(sender, rounds: int) -> list[float]:
    """Seconds from posting a note to the API until the receiver's signed receipt
    is stored on the sender."""
    latencies = []
    with signed_in(sender, "node_admin") as api:
        for n in range(rounds):
            started = time.perf_counter()
            sent = api.post(
                "/api/v1/federation/notes",
                json={"peer": "us.bench", "subject": f"latency {n}", "text": "x" * 1024},
            )
            sent.raise_for_status()

            def pending() -> bool:
                rows = api.get(
                    "/api/v1/federation/outbox",
                    params={"peer": "us.bench", "status": "pending", "limit": 1},
                )
                return rows.json()["count"] == 0

            wait_until(pending, 60, interval=0.005, what="the receipt")
            latencies.append(time.perf_counter() - started)
    return latencies


def run_database(
    label: str, database_url: str, count: int, size: int, latency_rounds: int, batch: int
) -> dict:
    if database_url:
        os.environ["ACCORD_DATABASE_URL"] = database_url
    else:
        os.environ.pop("ACCORD_DATABASE_URL", None)
    root = Path(tempfile.mkdtemp(prefix=f"accord-bench-{label}-"))
    sender_env = {"ACCORD_FEDERATION_BATCH_SIZE": str(batch)}
    with peered_pair(root, "bench", cn_env=sender_env) as (sender, receiver):
        sender.create_user("node_admin", "node_admin")
        # Warm-up: connections, caches, first page of the deliverer.
        sender.accord("peer", "ping", "us.bench", "--count", "50", "--size", str(size))
        wait_until(lambda: outbox_status(sender)["us.bench"]["outbox_depth"] == 0, 120)

        # Throughput: the receiver is stopped while the batch is queued, so the
        # clock measures delivery alone (sign, send, check, apply, receipt).
        receiver.stop()
        started = time.perf_counter()
        sender.accord("peer", "ping", "us.bench", "--count", str(count), "--size", str(size))
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
        return {
            "database": label,
            "messages": count,
            "body_bytes": size,
            "batch_size": batch,
            "enqueue_seconds": round(enqueue_seconds, 3),
            "deliver_seconds": round(deliver_seconds, 3),
            "messages_per_second": round(count / deliver_seconds, 1),
            "applied": status["applied"],
            "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "latency_max_ms": round(max(latencies) * 1000, 1),
            "latency_note": "a note posted to the API until its receipt is stored; "
            "includes the deliverer's idle poll (0.25 s)",
        }


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
        "| database | messages | delivered/s | share of crypto limit | enqueue s "
        "| p50 latency ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["runs"]:
        share = row["messages_per_second"] / crypto["messages_per_second"]
        lines.append(
            f"| {row['database']} | {row['messages']} | {row['messages_per_second']:.0f} | "
            f"{share:.0%} | {row['enqueue_seconds']} | {row['latency_p50_ms']} |"
        )
    lines += [
        "",
        "Latency: a note posted to the API until its signed receipt is stored on the "
        "sender; it includes the deliverer's idle poll (up to 0.25 s).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--latency-rounds", type=int, default=10)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--batch-size", type=int, default=200, help="the sender's batch size")
    args = parser.parse_args()
    per_message = crypto_per_message(args.size, 2000)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "crypto": {
            "body_bytes": args.size,
            "ms_per_message": per_message * 1000,
            "messages_per_second": 1 / per_message,
        },
        "runs": [],
    }
    for label in args.databases.split(","):
        url = PG_URL if label == "postgres" else ""
        results["runs"].append(
            run_database(label, url, args.count, args.size, args.latency_rounds, args.batch_size)
        )
        print(json.dumps(results["runs"][-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "federation.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "federation.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
