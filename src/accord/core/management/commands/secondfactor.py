from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core import twofactor
from accord.core.audit import Actor
from accord.core.models import User


class Command(BaseCommand):
    help = (
        "A user's second factor from the node's shell: set up an authenticator "
        "(prints its secret, setup link and recovery codes, once), or reset it "
        "(a lost phone; they set up a new one at their next sign-in)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        enrol = sub.add_parser("enrol", help="set up (or replace) a user's authenticator")
        enrol.add_argument("username")
        enrol.add_argument("--secret", default="", metavar="BASE32", help="instead of a new one")
        reset = sub.add_parser("reset", help="remove a user's authenticator and recovery codes")
        reset.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']}")
        actor = Actor.system("cli")
        try:
            if options["action"] == "reset":
                twofactor.reset(actor, user)
                self.stdout.write(f"Second factor of {user.username} reset")
                return
            enrolment = twofactor.enrol_with_secret(actor, user, options["secret"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        show_enrolment(self.stdout.write, enrolment)


def show_enrolment(write: Any, enrolment: twofactor.Enrolment) -> None:
    write(f"Authenticator secret: {twofactor.secret_of(enrolment.device)}")
    write(f"Setup link: {twofactor.provisioning_uri(enrolment.device)}")
    write("Recovery codes (each works once): " + " ".join(enrolment.recovery_codes))
