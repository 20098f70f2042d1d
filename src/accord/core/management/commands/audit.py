from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core import services
from accord.core.audit import Actor


class Command(BaseCommand):
    help = "Work with the audit log. `accord audit verify` walks the whole hash chain."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("verify", help="report OK, or the first broken or missing event (exit 1)")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        result = services.verify_audit(Actor.system("cli"))
        if not result.ok:
            raise CommandError(result.describe(), returncode=1)
        self.stdout.write(result.describe())
