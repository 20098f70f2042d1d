from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core.demo import DEMO_PASSWORD, DemoError, current_code, run_demo


class Command(BaseCommand):
    help = (
        "Run the two-node demo federation on loopback: cn.mps on 127.0.0.1:8001 and "
        "us.doj on 127.0.0.1:8002, with separate SQLite databases under var/demo/. "
        f"Every demo user's password is {DEMO_PASSWORD!r}; administrators and "
        "central-authority officers give a code too (--code prints it). Ctrl-C stops both."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--root", default="var/demo", help="where the demo nodes keep data")
        parser.add_argument(
            "--code",
            action="store_true",
            dest="print_code",
            help="print the demo authenticator's current code (second factor) and exit",
        )
        parser.add_argument(
            "--ports",
            default="8001,8002,8003",
            help="loopback ports of cn.mps, us.doj and us.dhs",
        )

    def handle(self, *args: Any, root: str, ports: str, print_code: bool, **options: Any) -> None:
        if print_code:
            self.stdout.write(current_code())
            return
        try:
            cn_port, us_port, dhs_port = (int(p) for p in ports.split(","))
        except ValueError:
            raise CommandError("--ports takes three port numbers, like 8001,8002,8003") from None
        try:
            # OutputWrapper is a TextIOBase: it has the write and flush the demo uses.
            out = cast(TextIO, self.stdout)
            code = run_demo(root, out=out, ports=(cn_port, us_port, dhs_port))
        except DemoError as exc:
            raise CommandError(str(exc)) from None
        if code:
            raise CommandError("a demo node stopped unexpectedly", returncode=code)
