"""`accord hits`: hit/no-hit from the shell, through the same services as the
pages and the API, as a named user (`--as`), so the same rules and audit apply."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.cases.models import Case
from accord.core.audit import Actor
from accord.core.commands import actor_named, write_table
from accord.core.policy import Refused
from accord.federation.models import Peer
from accord.matching import queries, results, services
from accord.matching.models import Query


class Command(BaseCommand):
    help = (
        "Hit/no-hit: ask peers, read a case's results per agency, list queries, "
        "approve or decline, set a peer's policy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        ask = sub.add_parser("ask", help="ask peers which of a case's values they hold")
        ask.add_argument("case", help="the case's reference")
        whom = ask.add_mutually_exclusive_group(required=True)
        whom.add_argument("--peer", action="append", help="a peer's node id")
        whom.add_argument(
            "--all", action="store_true", help="every partner the matching policy allows"
        )
        ask.add_argument("--purpose", required=True)
        ask.add_argument("--type", action="append", default=[], help="only this observable type")
        listing = sub.add_parser("list", help="list queries, in and out")
        outcome = sub.add_parser("results", help="a case's results, per answering agency")
        outcome.add_argument("case", help="the case's reference")
        for name in ("approve", "decline"):
            decide = sub.add_parser(name, help=f"{name} an incoming query")
            decide.add_argument("query")
            if name == "decline":
                decide.add_argument("--reason", required=True)
        rule = sub.add_parser("policy", help="what a peer may ask this node")
        rule.add_argument("peer")
        rule.add_argument("--types", nargs="+", required=True)
        rule.add_argument("--max", type=int, required=True)
        rule.add_argument("--per-day", type=int, required=True)
        rule.add_argument("--approval", action="store_true")
        for command in (ask, listing, rule, *sub.choices.values()):
            if not any(a.dest == "username" for a in command._actions):
                command.add_argument("--as", dest="username", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = actor_named(options["username"])
        try:
            getattr(self, "_" + options["action"])(actor, options)
        except (PermissionDenied, ValidationError, Refused) as exc:
            raise CommandError(_message(exc)) from None

    def _ask(self, actor: Actor, options: dict[str, Any]) -> None:
        case = Case.objects.filter(reference=options["case"]).first()
        if case is None:
            raise CommandError(f"no case {options['case']}")
        peers = None if options["all"] else [_peer(node) for node in options["peer"]]
        chosen = None
        if options["type"]:
            rows = case.observables.filter(code__in=options["type"])
            chosen = list(rows.values_list("pk", flat=True))
        for query in services.ask(actor, case, peers, options["purpose"], chosen):
            self.stdout.write(
                f"{query.pk} {query.peer.node_id} {query.code} values={query.values_count} "
                f"points={query.count} {query.peer.agency}"
            )

    def _results(self, actor: Actor, options: dict[str, Any]) -> None:
        assert actor.user is not None
        case = Case.objects.filter(reference=options["case"]).first()
        if case is None:
            raise CommandError(f"no case {options['case']}")
        asks = results.per_agency(queries.queries_for_case(actor.user, case))
        write_table(
            self.stdout,
            ("ASK", "NODE", "AGENCY", "PARTY", "RESULT", "HITS", "REFUSAL"),
            [
                (ask.id, a.peer.node_id, a.peer.agency, a.peer.party, a.outcome, a.hits, a.refusal)
                for ask in asks
                for a in ask.agencies
            ],
            "Not asked yet.",
        )

    def _list(self, actor: Actor, options: dict[str, Any]) -> None:
        assert actor.user is not None
        write_table(
            self.stdout,
            ("ID", "DIR", "PEER", "TYPE", "VALUES", "POINTS", "STATUS", "HITS", "REFUSAL"),
            [
                (
                    q.pk,
                    q.direction,
                    q.peer.node_id,
                    q.code,
                    (q.values_count or q.count) if q.direction == "out" else "-",
                    q.count,
                    q.status,
                    q.hits,
                    q.refusal + (f" (asked again as {q.asked_again})" if q.asked_again else ""),
                )
                for q in queries.outgoing(actor.user) + queries.incoming(actor.user)
            ],
            "No queries.",
        )

    def _approve(self, actor: Actor, options: dict[str, Any]) -> None:
        query = services.approve(actor, _query(options["query"]))
        self.stdout.write(f"{query.pk} {query.status}")

    def _decline(self, actor: Actor, options: dict[str, Any]) -> None:
        query = services.decline(actor, _query(options["query"]), options["reason"])
        self.stdout.write(f"{query.pk} {query.status}")

    def _policy(self, actor: Actor, options: dict[str, Any]) -> None:
        row = services.set_policy(
            actor,
            _peer(options["peer"]),
            types=options["types"],
            max_values=options["max"],
            per_day=options["per_day"],
            needs_approval=options["approval"],
        )
        self.stdout.write(
            f"{row.peer.node_id}: {', '.join(row.types)} max={row.max_values} "
            f"per_day={row.per_day} approval={row.needs_approval}"
        )


def _peer(node_id: str) -> Peer:
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None:
        raise CommandError(f"no peer {node_id}")
    return peer


def _query(query_id: str) -> Query:
    query = Query.objects.filter(pk=query_id).first() if len(query_id) == 36 else None
    if query is None:
        raise CommandError(f"no query {query_id}")
    return query


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(getattr(exc, "message", exc))
