"""`accord evidence`: the same operations as the pages and the API, with the
same rules, custody records and audit. Adding and purging are done as a named
user (`--as`); reading, downloading and exporting without `--as` is the
operator at the shell, recorded as 'operator' in the custody chain.

`verify` checks a court bundle offline: it reads no settings that need a node
and opens no database (`accord.evidence.bundle.main_verify`), so it runs on
any machine with Accord installed."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import IO, Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from accord.core.audit import Actor
from accord.core.commands import actor_named, write_table
from accord.core.policy import Refused


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while piece := stream.read(1_048_576):
            digest.update(piece)
    return digest.hexdigest()


class Command(BaseCommand):
    help = "Evidence: add, list, show, download, send, export a court bundle, verify one, purge."
    # `verify` must run without a node or a database: no system checks here.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = sub.add_parser("add", help="add a file as an evidence item")
        add.add_argument("file", help="the file to add")
        owner = add.add_mutually_exclusive_group(required=True)
        owner.add_argument("--case", help="the case's reference or id")
        owner.add_argument("--request", help="the request's reference or id")
        add.add_argument("--name", default="", help="the file name to keep (default: FILE's)")
        add.add_argument("--description", default="")
        add.add_argument("--content-type", default="application/octet-stream")
        add.add_argument("--how", default="", help="how it was collected (seizure, production)")
        add.add_argument("--where", default="", help="where it was collected")
        add.add_argument("--by", default="", help="who collected it")
        add.add_argument("--legal-basis", default="", help="the order or law it was taken under")
        add.add_argument("--when", default="", help="when it was collected")
        add.add_argument("--as", dest="username", required=True)
        listing = sub.add_parser("list", help="list evidence items")
        which = listing.add_mutually_exclusive_group()
        which.add_argument("--case")
        which.add_argument("--request")
        listing.add_argument("--as", dest="username")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="one item with its custody timeline, as JSON")
        show.add_argument("item", help="the item's id")
        show.add_argument("--as", dest="username")
        download = sub.add_parser("download", help="write an item's bytes to a file")
        download.add_argument("item")
        download.add_argument("--out", required=True, help="the file to write")
        download.add_argument("--as", dest="username")
        export = sub.add_parser("export", help="export items as a court bundle (.zip)")
        export.add_argument("items", nargs="+", metavar="ITEM")
        export.add_argument("--out", required=True, help="the bundle to write")
        export.add_argument(
            "--no-cover", action="store_true", help="leave out the bilingual cover sheet"
        )
        export.add_argument(
            "--purpose", default="", help="what the export is for (items with conditions need it)"
        )
        export.add_argument("--as", dest="username")
        verify = sub.add_parser(
            "verify",
            help="check a court bundle offline: PACKAGE --trust NODE=FINGERPRINT",
            add_help=False,
        )
        verify.add_argument("rest", nargs=argparse.REMAINDER)
        send = sub.add_parser(
            "send", help="send an item to the partner of its request (progress: `show`)"
        )
        send.add_argument("item")
        send.add_argument("--peer", default="", help="node id (default: the request's partner)")
        send.add_argument("--as", dest="username")
        purge = sub.add_parser("purge", help="remove an item's bytes and key; custody stays")
        purge.add_argument("item")
        purge.add_argument("--reason", required=True)
        purge.add_argument("--as", dest="username", required=True)
        sweep = sub.add_parser(
            "sweep", help="purge the items whose retention has ended (the clock does it too)"
        )
        sweep.add_argument("--at", help="as if it were this ISO time (with a zone)")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "verify":
            from accord.evidence.bundle import main_verify

            code = main_verify(options["rest"], stdout=cast(IO[str], self.stdout))
            if code:
                sys.exit(code)
            return
        from accord.evidence import blobs
        from accord.evidence.models import EvidenceItem

        try:
            getattr(self, f"do_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except Refused as exc:
            raise CommandError(exc.message) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        except blobs.BlobError as exc:
            raise CommandError(exc.message) from None
        except EvidenceItem.DoesNotExist:
            raise CommandError("no such evidence item, or it is not for you") from None

    def _owner(self, actor: Actor, case: str | None, request: str | None) -> dict[str, Any]:
        from accord.assistance import queries as requests
        from accord.assistance.models import AssistanceRequest
        from accord.cases import queries as cases
        from accord.cases.models import Case

        try:
            if case:
                return {"case": cases.find_case(actor, case, how="evidence")}
            if request:
                found = requests.visible(actor.user) if actor.user else None
                rows = found if found is not None else AssistanceRequest.objects.all()
                match = rows.filter(reference=request.upper()).values_list("pk", flat=True).first()
                key = match if match is not None else request
                return {"request": requests.open_request(actor, key, how="evidence")}
        except (Case.DoesNotExist, AssistanceRequest.DoesNotExist):
            raise CommandError("no such case or request, or it is not for you") from None
        return {}

    def do_add(self, file: str, username: str, **options: Any) -> None:
        """Through an upload session, part by part: run again after an
        interruption, the same command resumes where the node's session stands."""
        from accord.evidence import resumable, services

        actor = actor_named(username)
        owner = self._owner(actor, options["case"], options["request"])
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"no such file: {file}")
        new = services.NewItem(
            name=options["name"] or path.name,
            content_type=options["content_type"],
            description=options["description"],
            collected=services.Collected(
                **{key: options[key] for key in ("how", "where", "by", "legal_basis", "when")}
            ),
        )
        declared = resumable.Declared(new, path.stat().st_size, file_sha256(path))
        session = resumable.resume_or_start(actor, declared, **owner)
        if session.received:
            self.stdout.write(f"resuming upload {session.pk} at byte {session.received}")
        with path.open("rb") as stream:
            stream.seek(session.received)
            while session.received < session.size:
                length = min(resumable.part_bytes(), session.size - session.received)
                session = resumable.append(
                    actor, session, stream, length=length, where=session.received
                )
        item = resumable.finish(actor, session)
        self.stdout.write(f"{item.pk} {item.sha256} {item.size} bytes added")

    def do_list(self, username: str | None = None, **options: Any) -> None:
        from accord.evidence import queries

        actor = actor_named(username)
        owner = self._owner(actor, options["case"], options["request"])
        rows = queries.list_items(actor, **owner)
        if options["json"]:
            from accord.evidence.api import summary

            self.stdout.write(_dumps([summary(row) for row in rows]))
            return
        write_table(
            self.stdout,
            ("ID", "CASE OR REQUEST", "BYTES", "NAME"),
            [
                (
                    row.pk,
                    row.case.reference
                    if row.case
                    else row.request.reference
                    if row.request
                    else "",
                    row.size,
                    repr(row.name) + (" (purged)" if row.purged else ""),
                )
                for row in rows
            ],
            "No evidence items.",
        )

    def do_show(self, item: str, username: str | None = None, **options: Any) -> None:
        from accord.evidence import queries, services

        actor = actor_named(username)
        from accord.evidence.api import detail

        found = services.view_item(actor, queries.open_item(actor, item, how="show"))
        self.stdout.write(_dumps(detail(found, actor.user)))

    def do_send(self, item: str, peer: str, username: str | None = None, **options: Any) -> None:
        from accord.evidence import queries, transfer

        actor = actor_named(username)
        found = queries.open_item(actor, item, how="send")
        started = transfer.send_to(actor, found, peer)
        self.stdout.write(
            f"{found.pk} to {started.peer.node_id}: {started.chunks} chunks, "
            f"from chunk {started.confirmed}"
        )

    def do_download(self, item: str, out: str, username: str | None = None, **options: Any) -> None:
        from accord.evidence import queries, services

        actor = actor_named(username)
        found = queries.open_item(actor, item, how="download")
        chunks = services.download(actor, found)
        target = Path(out)
        partial = target.with_name(target.name + ".part")
        try:
            with partial.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(f"{found.size} bytes written to {out} (sha256 {found.sha256})")

    def do_export(
        self, items: list[str], out: str, username: str | None = None, **options: Any
    ) -> None:
        from accord.evidence import queries, services

        actor = actor_named(username)
        found = [queries.open_item(actor, key, how="export") for key in items]
        target = Path(out)
        partial = target.with_name(target.name + ".part")
        try:
            with partial.open("wb") as handle:
                manifest = services.export_bundle(
                    actor,
                    found,
                    handle,
                    with_cover=not options["no_cover"],
                    purpose=options.get("purpose") or "",
                )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(f"{len(manifest['items'])} items exported to {out}")

    def do_sweep(self, at: str | None = None, **options: Any) -> None:
        from datetime import datetime

        from accord.evidence import orphans, retention

        try:
            moment = datetime.fromisoformat(at) if at else None
        except ValueError:
            raise CommandError("--at takes an ISO time, like 2027-01-31T12:00:00+00:00") from None
        if moment is not None and moment.tzinfo is None:
            raise CommandError("--at needs a time zone, like +00:00")
        purged = retention.sweep(moment)
        self.stdout.write(f"{purged} items purged at the end of their retention")
        removed = orphans.sweep(moment)
        self.stdout.write(
            f"{removed['rows'] + removed['objects']} unreferenced blobs removed, "
            f"{removed['uploads']} abandoned uploads expired"
        )

    def do_purge(self, item: str, reason: str, username: str, **options: Any) -> None:
        from accord.evidence import queries, services

        actor = actor_named(username)
        found = services.purge_item(actor, queries.open_item(actor, item, how="purge"), reason)
        self.stdout.write(f"{found.pk} purged")
