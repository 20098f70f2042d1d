"""`accord cases`: the same operations as the pages and the API, with the
same rules. Changes are made as a named user (`--as`), so need-to-know, the
policy and the audit trail are the same as in the browser; reading without
`--as` is the operator at the shell, audited as such."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from accord.cases import imports, jobs, queries, services
from accord.cases.api import detail
from accord.cases.models import Case, ImportJob
from accord.core.commands import actor_named, write_table
from accord.core.models import User
from accord.core.policy import Refused


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)


class Command(BaseCommand):
    help = "Cases: list, show, create, add observables, import, add to the team."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="list cases")
        listing.add_argument("--status", default="")
        listing.add_argument("--category", default="")
        listing.add_argument("--search", default="", help="reference, title or a held value")
        listing.add_argument("--as", dest="username", help="list as this user (need-to-know)")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="one case, as JSON (the read is audited)")
        show.add_argument("reference", help="reference or id")
        show.add_argument("--as", dest="username", help="read as this user (need-to-know)")
        create = sub.add_parser("create", help="open a case")
        create.add_argument("title")
        create.add_argument("--language", default="en", choices=["en", "zh-hans"])
        create.add_argument("--translation", default="")
        create.add_argument("--category", action="append", default=[])
        create.add_argument("--confidential", action="store_true")
        create.add_argument("--as", dest="username", required=True)
        observe = sub.add_parser("observe", help="add one observable")
        observe.add_argument("reference")
        observe.add_argument("type", help="an observable type code")
        observe.add_argument("value")
        observe.add_argument("--country", default="", help="issuing country, for documents")
        observe.add_argument("--as", dest="username", required=True)
        load = sub.add_parser("import", help="import observables from CSV or a STIX bundle")
        load.add_argument("reference")
        load.add_argument("file", help="the file (- for stdin)")
        load.add_argument("--format", choices=["csv", "stix"], default="csv")
        load.add_argument("--as", dest="username", required=True)
        load.add_argument(
            "--no-wait",
            action="store_true",
            help="a large import: print its job id and leave it to the worker",
        )
        team = sub.add_parser("team", help="add a user to a case's team")
        team.add_argument("reference")
        team.add_argument("member", help="the username to add")
        team.add_argument("--as", dest="username", required=True)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"do_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except Refused as exc:
            raise CommandError(exc.message) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        except Case.DoesNotExist:
            raise CommandError("no such case, or it is not for you") from None

    def do_list(self, json: bool = False, username: str | None = None, **options: Any) -> None:
        actor = actor_named(username)
        filters = queries.Filters(options["status"], options["category"], options["search"])
        rows = list(queries.list_cases(actor, filters))
        queries.audit_list(actor, len(rows), filters)
        if json:
            self.stdout.write(_dumps([_summary(row) for row in rows]))
            return
        write_table(
            self.stdout,
            ("REFERENCE", "STATUS", "TITLE"),
            [
                (
                    row.reference,
                    row.status,
                    row.title + (" (confidential)" if row.confidential else ""),
                )
                for row in rows
            ],
            "No cases.",
        )

    def do_show(self, reference: str, username: str | None = None, **options: Any) -> None:
        actor = actor_named(username)
        case = queries.find_case(actor, reference)
        self.stdout.write(_dumps(detail(case, actor.user)))

    def do_create(self, title: str, username: str, **options: Any) -> None:
        data = {
            "title": title,
            "title_language": options["language"],
            "title_translation": options["translation"],
            "categories": options["category"],
            "confidential": options["confidential"],
        }
        created = services.create_case(actor_named(username), data)
        self.stdout.write(f"{created.reference} {created.pk} opened")

    def do_observe(
        self, reference: str, type: str, value: str, country: str, username: str, **options: Any
    ) -> None:
        actor = actor_named(username)
        case = queries.find_case(actor, reference, how="observe")
        context = {"country": country} if country else {}
        row = services.add_observable(actor, case, type, value, context=context)
        self.stdout.write(f"{case.reference}: {row.code} {row.normal} added")

    def do_import(
        self, reference: str, file: str, format: str, username: str, **options: Any
    ) -> None:
        actor = actor_named(username)
        case = queries.find_case(actor, reference, how="import")
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8-sig")
        if format == "stix":
            job = imports.import_stix(actor, case, imports.bundle_objects(text))
        else:
            job = imports.import_csv(actor, case, text)
        if not job.finished:
            self.stdout.write(f"{case.reference}: import {job.pk} started, {job.total} rows")
            if options.get("no_wait"):
                return
            # The worker may be another process (`accord worker`); this one
            # imports alongside it: both take the next chunk, none twice.
            job = self._follow(job)
        report = job.report
        self.stdout.write(
            f"{case.reference}: {report['added']} imported, {report['duplicates']} already held, "
            f"{report['failed']} not imported"
        )
        if job.reason:
            self.stdout.write(f"  stopped: {job.reason}")
        for problem in report["problems"]:
            self.stdout.write(f"  {problem['where']}: {problem['reason']}")

    def _follow(self, job: ImportJob) -> ImportJob:
        """Import the job's chunks here, printing the progress after each."""
        while not job.finished:
            job = jobs.step(job.pk)
            self.stdout.write(f"  {job.done}/{job.total} rows ({job.percent} %)")
        return job

    def do_team(self, reference: str, member: str, username: str, **options: Any) -> None:
        actor = actor_named(username)
        case = queries.find_case(actor, reference, how="team")
        user = User.objects.filter(username=member, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {member!r}")
        services.add_member(actor, case, user)
        self.stdout.write(f"{case.reference}: {member} added to the team")


def _summary(case: Case) -> dict[str, Any]:
    return {
        "id": str(case.pk),
        "reference": case.reference,
        "title": case.title,
        "status": case.status,
        "confidential": case.confidential,
        "categories": case.categories,
    }
