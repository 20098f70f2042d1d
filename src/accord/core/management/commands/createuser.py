from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accord.core import services, twofactor
from accord.core.audit import Actor
from accord.core.management.commands.secondfactor import show_enrolment
from accord.core.roles import Role


class Command(BaseCommand):
    help = "Add a user with a role. The password is read from standard input (one line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input (required: no prompts)",
        )
        parser.add_argument(
            "--totp",
            action="store_true",
            help="also set up an authenticator (TOTP) and print its secret, setup link "
            "and recovery codes (node administrators and central-authority officers "
            "need one to use the node; without it they set one up at first sign-in)",
        )
        parser.add_argument(
            "--totp-secret",
            default="",
            metavar="BASE32",
            help="with --totp: use this base32 secret instead of a new random one",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--full-name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["password_stdin"]:
            raise CommandError("give the password on standard input with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        totp = bool(options["totp"] or options["totp_secret"])
        enrolment = None
        try:
            with transaction.atomic():  # a bad secret leaves no user behind
                user = services.create_user(
                    Actor.system("cli"),
                    options["username"],
                    options["role"],
                    password,
                    email=options["email"],
                    full_name=options["full_name"],
                )
                if totp:
                    enrolment = twofactor.enrol_with_secret(
                        Actor.system("cli"), user, options["totp_secret"]
                    )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"User {user.username} created with role {user.role}")
        if enrolment is not None:
            show_enrolment(self.stdout.write, enrolment)
