from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.federation.rotation import rotate_keys


class Command(BaseCommand):
    help = (
        "Show or rotate this node's keys. `rotate` announces new keys to every peer in a "
        "message signed by the old key; each peer switches over in order, losing nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("show", help="print this node's fingerprint and public keys")
        sub.add_parser("rotate", help="generate new keys and announce them to all peers")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "rotate":
            try:
                fingerprint = rotate_keys(Actor.system("cli"))
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(f"New keys installed and announced. Fingerprint: {fingerprint}")
            return
        document = this_node().public_document()
        self.stdout.write(f"Node {document['node_id']} fingerprint {document['fingerprint']}")
        for name, key in document["keys"].items():
            self.stdout.write(f"  {name:<10} {key['algorithm']:<8} {key['public_key']}")
