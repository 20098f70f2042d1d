"""`accord intel`: collections, bundle import and export, and non-interactive
TAXII account management for scripts."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.core.audit import Actor
from accord.core.commands import write_table
from accord.core.policy import Refused
from accord.federation import parties
from accord.intel import accounts
from accord.intel.conditions import handling_from, with_conditions
from accord.intel.exports import export_bundle
from accord.intel.ingest import ingest
from accord.intel.models import Account, Collection, HandlingCode, StixObject
from accord.intel.policy import Action
from accord.intel.store import create_collection, source_of


class Command(BaseCommand):
    help = "Threat intelligence: collections, import, export, TAXII accounts and tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("collections", help="list collections")
        new = sub.add_parser("collection", help="add a collection")
        new.add_argument("alias")
        new.add_argument("--title", required=True)
        new.add_argument("--description", default="")
        load = sub.add_parser("import", help="import a STIX 2.1 bundle or envelope (- for stdin)")
        load.add_argument("file")
        load.add_argument("--collection", default="shared", help="alias or id")
        load.add_argument(
            "--handling-code",
            default="",
            choices=["", *HandlingCode.values],
            help="this node's release conditions for objects without their own",
        )
        load.add_argument("--reliability", default="", help="source reliability, A to F")
        load.add_argument("--accuracy", default="", help="information accuracy, 1 to 6")
        load.add_argument("--purpose", default="", help="what the information may be used for")
        load.add_argument(
            "--expires", default="", help="date (YYYY-MM-DD) after which it is no longer released"
        )
        dump = sub.add_parser("export", help="export a collection as a STIX bundle")
        dump.add_argument("--collection", default="shared", help="alias or id")
        dump.add_argument("--out", help="write to this file instead of standard output")
        shared = sub.add_parser(
            "share", help="push a collection to a peer node (both ways: the peer shares its own)"
        )
        shared.add_argument("collection")
        shared.add_argument("peer", nargs="?", default="", help="the peer's node id")
        shared.add_argument(
            "--all", action="store_true", help="every partner node the sharing policy allows"
        )
        subscribed = sub.add_parser("subscribe", help="pull a partner's TAXII collection")
        subscribed.add_argument("collection", help="the local collection to fill")
        subscribed.add_argument("objects_url", help="the partner collection's objects/ URL")
        subscribed.add_argument("--user", default="", help="HTTP Basic user (else a token)")
        subscribed.add_argument(
            "--secret-stdin",
            action="store_true",
            help="read the password or token from standard input",
        )
        unshared = sub.add_parser("unshare", help="stop pushing a collection to a peer node")
        unshared.add_argument("collection")
        unshared.add_argument("peer", help="the peer's node id")
        sub.add_parser("subscriptions", help="partner collections this node pulls")
        dropped = sub.add_parser("unsubscribe", help="stop pulling a partner collection")
        dropped.add_argument("subscription", type=int, help="its number, from `subscriptions`")
        syncing = sub.add_parser(
            "sync", help="push shares (to PEER only, if given) and pull subscriptions now"
        )
        syncing.add_argument("peer", nargs="?", default="")
        sub.add_parser("retractions", help="deletions sent to peers, and whether confirmed")
        account = sub.add_parser("account", help="TAXII accounts for partner tools")
        what = account.add_subparsers(dest="account_action", required=True, metavar="ACTION")
        add = what.add_parser("add", help="add an account (password on standard input)")
        add.add_argument("name")
        add.add_argument("--read", nargs="*", default=[], metavar="COLLECTION")
        add.add_argument("--write", nargs="*", default=[], metavar="COLLECTION")
        add.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the HTTP Basic password from standard input",
        )
        token = what.add_parser("token", help="issue an API token (shown once)")
        token.add_argument("name")
        what.add_parser("list", help="accounts, their rights and tokens")
        for verb, text in (
            ("disable", "refuse the account (password and tokens) from now on"),
            ("enable", "accept a disabled account again"),
        ):
            what.add_parser(verb, help=text).add_argument("name")
        revoke = what.add_parser(
            "revoke", help="revoke a token (give enough of its first characters)"
        )
        revoke.add_argument("name")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"do_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except Refused as exc:
            raise CommandError(exc.message) from None

    def _collection(self, key: str) -> Collection:
        found = Collection.objects.filter(alias=key).first()
        if found is None:
            try:
                found = Collection.objects.filter(pk=uuid.UUID(key)).first()
            except ValueError:
                found = None
        if found is None:
            raise CommandError(f"no collection {key!r}")
        return found

    def do_collections(self, **options: Any) -> None:
        write_table(
            self.stdout,
            ("ID", "ALIAS", "OBJECTS", "TITLE", "SHARED BY"),
            [
                (
                    c.pk,
                    c.alias,
                    StixObject.objects.filter(collection=c).count(),
                    c.title,
                    _source(c),
                )
                for c in Collection.objects.all()
            ],
            "No collections.",
        )

    def do_collection(self, alias: str, title: str, description: str, **options: Any) -> None:
        c = create_collection(Actor.system("cli"), alias, title, description)
        self.stdout.write(f"collection {c.alias} {c.pk}")

    def do_import(
        self,
        file: str,
        collection: str,
        handling_code: str,
        reliability: str,
        accuracy: str,
        purpose: str,
        expires: str,
        **options: Any,
    ) -> None:
        target = self._collection(collection)
        try:
            handling = handling_from(handling_code, reliability, accuracy, purpose, expires)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
            document = json.loads(text)
        except RecursionError:
            raise CommandError(f"{file}: JSON nested too deeply to read") from None
        except (OSError, ValueError) as exc:
            raise CommandError(f"{file}: cannot read it as JSON ({exc})") from None
        items = document.get("objects") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise CommandError(f"{file}: not a STIX bundle or TAXII envelope (no objects list)")
        items = with_conditions(items, handling)
        status = ingest(target, items, None, Actor.system("cli"))
        self.stdout.write(
            f"{status.success_count} stored or already there, {status.failure_count} refused"
        )
        for failure in status.failures[:20]:
            self.stdout.write(f"  refused {failure['id']}: {failure['message'][:200]}")

    def do_export(self, collection: str, out: str | None = None, **options: Any) -> None:
        target = self._collection(collection)
        if out and not Path(out).parent.is_dir():
            raise CommandError(f"{out}: no such directory {Path(out).parent}")
        export = export_bundle(target, Actor.system("cli"))
        if out:
            try:
                Path(out).write_text(export.bundle, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"{out}: cannot write it ({exc.strerror})") from None
            self.stdout.write(f"{export.count} object(s) written to {out}")
        else:
            self.stdout.write(export.bundle)
        if export.withheld:
            self.stderr.write(
                f"{export.withheld} object(s) withheld: TLP:RED, expired, or "
                "marked by their originator for no further sharing"
            )

    def do_share(self, collection: str, peer: str, **options: Any) -> None:
        from accord.intel import sync

        if options["all"] == bool(peer):
            raise CommandError("name one peer, or --all")
        if options["all"]:
            made = sync.share_with_all(Actor.system("cli"), self._collection(collection))
            for item in made:
                self.stdout.write(f"{collection} is shared with {item.peer.node_id}")
            return
        actor, shared = Actor.system("cli"), self._collection(collection)
        sync.share(actor, shared, sync.partner_named(actor, Action.SHARE, shared, peer))
        self.stdout.write(
            f"{collection} is shared with {peer}; run `accord intel sync` or wait for the clock"
        )

    def do_subscribe(
        self, collection: str, objects_url: str, user: str, secret_stdin: bool, **options: Any
    ) -> None:
        from accord.intel import sync

        secret = sys.stdin.readline().rstrip("\n") if secret_stdin else ""
        item = sync.subscribe(
            Actor.system("cli"), self._collection(collection), objects_url, user, secret
        )
        self.stdout.write(f"subscription {item.pk} to {objects_url}")

    def do_unshare(self, collection: str, peer: str, **options: Any) -> None:
        from accord.intel import sync

        actor, shared = Actor.system("cli"), self._collection(collection)
        sync.unshare(actor, shared, sync.partner_named(actor, Action.UNSHARE, shared, peer))
        self.stdout.write(f"{collection} is no longer shared with {peer}")

    def do_subscriptions(self, **options: Any) -> None:
        from accord.intel.models import Subscription

        write_table(
            self.stdout,
            ("ID", "COLLECTION", "OBJECTS URL", "AFTER", "LAST RUN", "STATE"),
            [
                (
                    item.pk,
                    item.collection.alias,
                    item.objects_url,
                    item.added_after or "-",
                    item.last_run_at.isoformat(timespec="seconds") if item.last_run_at else "never",
                    f"error: {item.last_error[:120]}" if item.last_error else "ok",
                )
                for item in Subscription.objects.select_related("collection").order_by("pk")
            ],
            "No subscriptions.",
        )

    def do_unsubscribe(self, subscription: int, **options: Any) -> None:
        from accord.intel import sync
        from accord.intel.models import Subscription

        item = Subscription.objects.select_related("collection").filter(pk=subscription).first()
        if item is None:
            raise CommandError(f"no subscription {subscription}")
        sync.unsubscribe(Actor.system("cli"), item)
        self.stdout.write(f"subscription {subscription} ended; what it pulled stays")

    def do_sync(self, peer: str = "", **options: Any) -> None:
        import httpx

        from accord.federation.models import Peer
        from accord.intel import sync

        target = None
        if peer:
            target = Peer.objects.filter(node_id=peer, active=True).first()
            if target is None:
                raise CommandError(f"no active peer {peer!r}")
        try:
            moved = sync.sync_all(target)
        except httpx.HTTPError as exc:
            raise CommandError(f"pull failed: {exc}") from None
        self.stdout.write(f"{moved['pushed']} objects queued for peers, {moved['pulled']} pulled")
        if moved["errors"]:
            raise CommandError("pull failed: " + "; ".join(moved["errors"]))

    def do_retractions(self, **options: Any) -> None:
        from accord.intel import sync
        from accord.intel.models import Retraction

        write_table(
            self.stdout,
            ("OBJECT", "PEER", "STATE", "AGENCY"),
            [
                (
                    item.stix_id,
                    item.share.peer.node_id,
                    sync.retraction_state(item),
                    parties.label(item.share.peer),
                )
                for item in Retraction.objects.select_related("share__peer", "message")
            ],
            "No retractions.",
        )

    def do_account(self, account_action: str, **options: Any) -> None:
        actor = Actor.system("cli")
        if account_action == "list":
            write_table(
                self.stdout,
                ("ACCOUNT", "RIGHTS", "TOKENS"),
                [_account_row(a) for a in Account.objects.prefetch_related("grants__collection")],
                "No accounts.",
            )
            return
        if account_action == "add":
            password = ""  # empty: token-only unless stdin gives one  # nosec B105
            if options["password_stdin"]:
                password = sys.stdin.readline().rstrip("\n")
                if not password:
                    raise CommandError("no password on standard input")
            read = [self._collection(c).alias for c in options["read"]]
            write = [self._collection(c).alias for c in options["write"]]
            added = accounts.add_account(actor, options["name"], password, read, write)
            self.stdout.write(
                f"account {added.name} added (read: {', '.join(read) or '-'}; "
                f"write: {', '.join(write) or '-'})"
            )
            return
        named = Account.objects.filter(name=options["name"]).first()
        if named is None:
            raise CommandError(f"no account {options['name']!r}")
        if account_action in ("disable", "enable"):
            accounts.set_active(actor, named, account_action == "enable")
            self.stdout.write(f"account {named.name} {account_action}d")
        elif account_action == "revoke":
            accounts.revoke_token(actor, named, options["prefix"])
            self.stdout.write(f"token {options['prefix']}… of {named.name} revoked")
        else:
            self.stdout.write(accounts.issue_token(actor, named))


def _source(collection: Collection) -> str:
    source = source_of(collection)
    return parties.label(source) if source is not None else "-"


def _account_row(account: Account) -> tuple[str, str, str]:
    rights = ", ".join(
        f"{g.collection.alias}:{'r' if g.can_read else ''}{'w' if g.can_write else ''}"
        for g in account.grants.all()
    )
    tokens = " ".join(t.prefix + "…" for t in account.tokens.all()) or "-"
    state = "" if account.active else " (disabled)"
    return account.name, rights or "-", tokens + state
