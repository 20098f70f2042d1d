"""`accord requests`: the same operations as the pages and the API, with the
same rules. Steps are taken as a named user (`--as`), so side and role checks
and the audit trail are the same as in the browser."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from accord.assistance import casework, clock, evidence_files, queries, services, wire
from accord.assistance.models import AssistanceRequest
from accord.core.audit import Actor
from accord.core.commands import write_table
from accord.core.models import User
from accord.federation import replicas
from accord.federation.models import Peer
from accord.federation.policy import ChannelRefused


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)


class Command(BaseCommand):
    help = (
        "Mutual-assistance requests: list, show, create, take a step, screen, "
        "add to the team, run the clock."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="list requests")
        listing.add_argument("--direction", choices=["incoming", "outgoing"], default="")
        listing.add_argument("--state", default="")
        listing.add_argument("--type", dest="request_type", default="")
        listing.add_argument("--overdue", action="store_true")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="one request, as JSON (the read is audited)")
        show.add_argument("reference", help="reference or id")
        create = sub.add_parser("create", help="draft a request from a JSON file (- for stdin)")
        create.add_argument("file")
        create.add_argument("--as", dest="username", required=True, help="the drafting user")
        step = sub.add_parser("step", help="take one step of the workflow")
        step.add_argument("reference")
        step.add_argument("step", help="e.g. validate, submit, acknowledge, accept, respond")
        step.add_argument("--as", dest="username", required=True)
        step.add_argument("--payload", default="{}", help="the step's fields as JSON")
        step.add_argument("--version", type=int, help="the version you saw (default: current)")
        step.add_argument("--attach", action="append", default=[], help="a file to send")
        finding = sub.add_parser("finding", help="record a screening finding")
        finding.add_argument("reference")
        finding.add_argument("ground")
        finding.add_argument("--applies", choices=["yes", "no"], required=True)
        finding.add_argument("--rationale", required=True)
        finding.add_argument("--as", dest="username", required=True)
        team = sub.add_parser("team", help="add a user to a request's team on this node")
        team.add_argument("reference")
        team.add_argument("member", help="the username to add")
        team.add_argument("--as", dest="username", required=True)
        filing = sub.add_parser("case", help="file a request under a case of this node")
        filing.add_argument("reference")
        filing.add_argument(
            "case", nargs="?", default="", help="the case (none: file under no case)"
        )
        filing.add_argument("--as", dest="username", required=True)
        clock = sub.add_parser("tick", help="lapse expired holds and send deadline reminders")
        clock.add_argument("--at", help="ISO time to run the clock at (default: now)")
        reconcile = sub.add_parser(
            "reconcile",
            help="compare the requests and dialogue record held with a peer, and repair "
            "what differs from the owner's copy",
        )
        reconcile.add_argument("peer", help="the peer's node id")
        history = sub.add_parser(
            "history",
            help="load the synthetic past the demo shows (closed and refused requests "
            "with this peer over months, marked synthetic; the peer loads the same)",
        )
        history.add_argument("peer", help="the peer's node id")
        history.add_argument(
            "--until", required=True, help="the last day of the past (the same on both nodes)"
        )
        history.add_argument("--months", type=int, default=6)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"do_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except (services.TransitionRefused, ChannelRefused) as exc:
            raise CommandError(exc.message) from None

    def _user(self, username: str) -> Actor:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        return Actor.of(user)

    def _request(self, reference: str) -> AssistanceRequest:
        found = AssistanceRequest.objects.filter(reference=reference).first()
        if found is None:
            try:
                found = AssistanceRequest.objects.filter(pk=reference).first()
            except ValidationError:
                found = None
        if found is None:
            raise CommandError(f"no request {reference!r} on this node")
        return found

    def do_list(self, json: bool = False, **options: Any) -> None:
        filters = queries.Filters(
            direction=options["direction"],
            state=options["state"],
            request_type=options["request_type"],
            overdue=options["overdue"],
        )
        actor = Actor.system("cli")
        rows = list(queries.list_requests(actor, filters))
        queries.audit_list(actor, len(rows), filters)
        if json:
            self.stdout.write(_dumps([wire.shared_view(r) for r in rows]))
            return
        write_table(
            self.stdout,
            ("REFERENCE", "DIR", "PEER", "TYPE", "STATE", "VERSION"),
            [
                (
                    row.reference,
                    "out" if row.outgoing else "in",
                    row.peer.node_id,
                    row.request_type,
                    row.state,
                    f"v{row.version}",
                )
                for row in rows
            ],
            "No requests.",
        )

    def do_show(self, reference: str, **options: Any) -> None:
        row = self._request(reference)
        opened = queries.open_request(Actor.system("cli"), row.pk)
        self.stdout.write(_dumps(wire.shared_view(opened)))

    def do_create(self, file: str, username: str, **options: Any) -> None:
        actor = self._user(username)
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"{file}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise CommandError(f"{file}: expected a JSON object")
        if "confirmation_due" in data:
            # As on the pages and in the API: the node counts it from the first contact.
            raise CommandError(
                f"{file}: leave out confirmation_due; it is counted from first_contact "
                "(ACCORD_EMERGENCY_CONFIRMATION_HOURS)"
            )
        peer = Peer.objects.filter(node_id=data.pop("peer", ""), active=True).first()
        if peer is None:
            raise CommandError('name an active peer in "peer"')
        created = services.create_request(actor, peer, data)
        self.stdout.write(f"{created.reference} {created.pk} drafted")

    def do_step(
        self,
        reference: str,
        step: str,
        username: str,
        payload: str,
        version: int | None,
        attach: list[str],
        **options: Any,
    ) -> None:
        actor = self._user(username)
        row = self._request(reference)
        try:
            fields = json.loads(payload)
        except ValueError as exc:
            raise CommandError(f"--payload is not JSON ({exc})") from None
        uploads = []
        for name in attach:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"no file {name}")
            # Streamed from the file (an evidence item of the request), never read whole.
            uploads.append(
                evidence_files.Upload(
                    path.name, "application/octet-stream", path.open("rb"), path.stat().st_size
                )
            )
        done = services.perform(
            actor, row, step, fields, version=version or row.version, uploads=uploads
        )
        done.refresh_from_db()
        waiting = done.pending_actions.filter(outcome="").exists()
        note = " (sent; takes effect when the partner confirms)" if waiting else ""
        self.stdout.write(f"{done.reference}: {done.state} v{done.version}{note}")

    def do_finding(
        self,
        reference: str,
        ground: str,
        applies: str,
        rationale: str,
        username: str,
        **options: Any,
    ) -> None:
        row = self._request(reference)
        services.record_finding(self._user(username), row, ground, applies == "yes", rationale)
        self.stdout.write(f"{row.reference}: {ground} recorded")

    def do_team(self, reference: str, member: str, username: str, **options: Any) -> None:
        row = self._request(reference)
        user = User.objects.filter(username=member, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {member!r}")
        services.add_member(self._user(username), row, user)
        self.stdout.write(f"{row.reference}: {member} added to the team")

    def do_case(self, reference: str, case: str, username: str, **options: Any) -> None:
        actor = self._user(username)
        row = self._request(reference)
        found = casework.find_case(actor, case) if case else None
        services.link_case(actor, row, found)
        where = f"filed under {found.reference}" if found else "filed under no case"
        self.stdout.write(f"{row.reference}: {where}")

    def do_tick(self, at: str | None = None, **options: Any) -> None:
        try:
            moment = datetime.fromisoformat(at) if at else None
        except ValueError:
            raise CommandError("--at takes an ISO time, like 2027-01-31T12:00:00+00:00") from None
        if moment is not None and moment.tzinfo is None:
            raise CommandError("--at needs a time zone, like +00:00")
        result = clock.tick(moment)
        self.stdout.write(
            f"{result.lapsed} holds lapsed, {result.reminders} reminders sent, "
            f"{result.follow_ups} follow-up requests drafted"
        )
        if result.failed:
            self.stderr.write(f"{result.failed} items failed (audited); the next tick retries them")

    def do_reconcile(self, peer: str, **options: Any) -> None:
        found = Peer.objects.filter(node_id=peer).first()
        if found is None:
            raise CommandError(f"no peer {peer!r}")
        count = replicas.reconcile(Actor.system("cli"), found)
        self.stdout.write(
            f"Digest of {count} shared items sent to {peer}. What differs is repaired "
            "from its owner's copy as the messages arrive; items still out of step are "
            "listed on the Federation page."
        )

    def do_history(self, peer: str, until: str, months: int, **options: Any) -> None:
        from accord.assistance import history
        from accord.core.identity import this_node

        found = Peer.objects.filter(node_id=peer).first()
        if found is None:
            raise CommandError(f"no peer {peer!r}")
        try:
            last = date.fromisoformat(until)
        except ValueError:
            raise CommandError("--until takes a date, like 2027-01-31") from None
        if not 1 <= months <= 24:
            raise CommandError("--months takes 1 to 24")
        added = history.load(this_node().node_id, found, last, months)
        self.stdout.write(f"{added} synthetic past requests with {peer} loaded")
