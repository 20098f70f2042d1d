from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core import services
from accord.core.audit import Actor


class Command(BaseCommand):
    help = (
        "Work with the audit log. `accord audit verify` walks the whole hash chain and "
        "compares it with the checkpoints the peers hold; `accord audit checkpoint` "
        "sends them one of the head now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = sub.add_parser(
            "verify", help="report OK, or the first broken, missing or rewritten event (exit 1)"
        )
        verify.add_argument(
            "--local", action="store_true", help="only the local chain: do not ask the peers"
        )
        sub.add_parser("checkpoint", help="send every peer a signed checkpoint of the head")

    def handle(self, *args: Any, action: str, local: bool = False, **options: Any) -> None:
        # The peers' side lives in the federation app (federation.anchoring).
        from accord.federation import anchoring

        actor = Actor.system("cli")
        if action == "checkpoint":
            body = anchoring.send_checkpoints(actor)
            if body is None:
                raise CommandError("nothing to send: the log or the peer list is empty")
            self.stdout.write(f"checkpoint of event {body.seq} ({body.hash}) queued for the peers")
            return
        result = services.verify_audit(actor)
        if not result.ok:
            raise CommandError(result.describe(), returncode=1)
        checks = [] if local else anchoring.verify_with_peers(actor)
        lines = [result.describe(), *(check.describe() for check in checks)]
        if any(check.problems for check in checks):
            raise CommandError("\n".join(lines), returncode=1)
        self.stdout.write("\n".join(lines))
