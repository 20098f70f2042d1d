from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core.audit import Actor
from accord.core.commands import write_table
from accord.federation.management.commands.peer import _dumps
from accord.federation.models import MessageStatus, Peer
from accord.federation.peering import retry
from accord.federation.queries import channel_summary


class Command(BaseCommand):
    help = "Inspect and nudge the outbox: `status` per peer, `retry` to clear back-off."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        status = sub.add_parser("status", help="messages waiting, delivered and refused per peer")
        status.add_argument("--json", action="store_true")
        retry = sub.add_parser("retry", help="retry delivery now (also after a permanent failure)")
        retry.add_argument("node_id", nargs="?", help="only this peer")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "retry":
            peer = None
            if options.get("node_id"):
                peer = Peer.objects.filter(node_id=options["node_id"]).first()
                if peer is None:
                    raise CommandError(f"no peer {options['node_id']!r}")
            count = retry(Actor.system("cli"), peer)
            self.stdout.write(f"Delivery will be retried now for {count} peer(s).")
            return
        rows = []
        for peer in Peer.objects.all():
            row = channel_summary(peer)
            counts = {s: peer.outbox.filter(status=s).count() for s in MessageStatus.values}
            row.update(
                {
                    "applied": counts["applied"],
                    "refused": counts["refused"],
                    "received": peer.inbox.count(),
                }
            )
            rows.append(row)
        if options["json"]:
            self.stdout.write(_dumps(rows))
            return
        write_table(
            self.stdout,
            ("NODE", "WAITING", "APPLIED", "REFUSED", "RECEIVED", "OLDEST WAITING", "LAST ERROR"),
            [
                (
                    row["node_id"],
                    row["outbox_depth"],
                    row["applied"],
                    row["refused"],
                    row["received"],
                    row["oldest_undelivered_at"] or "-",
                    row["last_error"] or "-",
                )
                for row in rows
            ],
            "No peers.",
        )
