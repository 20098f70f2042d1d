from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core.audit import Actor
from accord.core.commands import write_table
from accord.federation import notes, peering
from accord.federation.models import Peer
from accord.federation.policy import ChannelRefused
from accord.federation.queries import channel_summary


class Command(BaseCommand):
    help = "Manage this node's peers: add (pinning a fingerprint), list, remove, ping."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = sub.add_parser(
            "add", help="fetch a node's keys and pin them if the fingerprint matches"
        )
        add.add_argument("url", help="the peer's base address, e.g. https://accord.doj.example")
        add.add_argument(
            "--fingerprint",
            required=True,
            help="SHA-256 fingerprint of the peer's signing key, checked out of band",
        )
        listing = sub.add_parser("list", help="list peers and their channel state")
        listing.add_argument("--json", action="store_true", help="machine-readable output")
        remove = sub.add_parser("remove", help="stop exchanging with a peer (history is kept)")
        remove.add_argument("node_id")
        ping = sub.add_parser("ping", help="queue channel-test messages to a peer")
        ping.add_argument("node_id")
        ping.add_argument("--count", type=int, default=1)
        ping.add_argument("--size", type=int, default=0, help="padding bytes per message")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        actor = Actor.system("cli")
        try:
            getattr(self, f"do_{action}")(actor, **options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except ChannelRefused as exc:
            raise CommandError(exc.message) from None

    def do_add(self, actor: Actor, url: str, fingerprint: str, **options: Any) -> None:
        peer = peering.add_peer(actor, url, fingerprint)
        self.stdout.write(f"Peer {peer.node_id} ({peer.agency}, {peer.party}) added at {peer.url}")

    def do_list(self, actor: Actor, json: bool = False, **options: Any) -> None:
        rows = [channel_summary(peer) for peer in Peer.objects.all()]
        if json:
            self.stdout.write(_dumps(rows))
            return
        write_table(
            self.stdout,
            ("NODE", "PARTY", "ROLE", "STATE", "ADDRESS", "WAITING", "FINGERPRINT"),
            [
                (
                    row["node_id"],
                    row["party"],
                    "central authority" if row["central_authority"] else "agency",
                    "STOPPED" if row["blocked"] else "active" if row["active"] else "removed",
                    row["url"],
                    row["outbox_depth"],
                    row["fingerprint"],
                )
                for row in rows
            ],
            "No peers.",
        )

    def do_remove(self, actor: Actor, node_id: str, **options: Any) -> None:
        peering.remove_peer(actor, _peer(node_id))
        self.stdout.write(f"Peer {node_id} removed; its history and queued messages are kept.")

    def do_ping(self, actor: Actor, node_id: str, count: int, size: int, **options: Any) -> None:
        queued = notes.send_pings(actor, _peer(node_id, active=True), count, size)
        self.stdout.write(f"Queued {queued} pings to {node_id}.")


def _peer(node_id: str, active: bool = False) -> Peer:
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None or (active and not peer.active):
        raise CommandError(f"no {'active ' if active else ''}peer {node_id!r}")
    return peer


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)
