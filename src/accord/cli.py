"""The `accord` command: a thin front to the node's Django management commands.

`--data-dir` may stand before the command; it sets ACCORD_DATA_DIR before the
settings are read, so every command sees the same node."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

COMMANDS = {
    "init": "create this node: keys, secret key and database",
    "serve": "run the web server and the background process",
    "background": "run only the background process (task worker, deliverer and clock)",
    "worker": "run only the background worker",
    "deliver": "run only the federation deliverer",
    "clock": "run only the clock (holds lapsing, deadline reminders)",
    "requests": "list, show, create and move mutual-assistance requests",
    "cases": "list, show and open cases; add observables, import them, add to the team",
    "hits": "hit/no-hit: ask peers about a case, approve or decline, set a peer's policy",
    "evidence": "evidence items: add, list, show, download, export a court bundle, verify, purge",
    "dialogue": "the dialogue record: export, verify offline, propose and sign outcomes",
    "intel": "STIX collections, import, export, TAXII accounts and tokens",
    "createuser": "add a user with a role (password on standard input)",
    "secondfactor": "set up or reset a user's second factor (authenticator, recovery codes)",
    "peer": "add, list, remove or ping peer nodes",
    "outbox": "show the federation outbox per peer, or retry delivery",
    "keys": "show this node's public keys, or rotate them",
    "audit": "verify the hash-chained audit log",
    "check": "check the configuration, data directory and database",
    "backup": "write a back-up of this node (database, keys, stored files) to one archive",
    "restore": "restore a node from a back-up onto an empty data directory and database",
    "migrate": "apply database migrations",
    "demo": "run the three-node demo federation on loopback (what `make run` does)",
    "manage": "run any Django management command (for operators)",
}

# Commands that act on an existing node: refused with one line when there is none.
NEEDS_NODE = {
    "serve",
    "background",
    "worker",
    "deliver",
    "clock",
    "requests",
    "cases",
    "hits",
    "evidence",
    "intel",
    "createuser",
    "secondfactor",
    "audit",
    "backup",
    "migrate",
    "check",
    "peer",
    "outbox",
}

# Subcommands of those that need no node: checking a court bundle happens on
# any machine (a court's laptop), with no data directory and no database.
NO_NODE_NEEDED = {("evidence", "verify")}

ALIASES = {"check": ["check", "--deploy", "--database", "default"], "worker": ["db_worker"]}
# The Django command behind an alias is shown by the alias's name in its help
# and usage (`accord worker`, not `accord db_worker`).
SHOWN_AS = {django[0]: name for name, django in ALIASES.items() if django[0] != name}

# Django's own options, which every management command accepts: `accord`
# chooses the settings and the data directory itself, so its help leaves them
# out (they still work, for operators who know them; `accord manage` shows them).
DJANGO_OPTIONS = frozenset(
    {
        "--version",
        "--verbosity",
        "--settings",
        "--pythonpath",
        "--traceback",
        "--no-color",
        "--force-color",
        "--skip-checks",
    }
)

USAGE = (
    "usage: accord [--data-dir DIR] COMMAND [ARGS…]\n\ncommands:\n"
    + "\n".join(f"  {name:<12} {text}" for name, text in COMMANDS.items())
    + "\n\nRun `accord COMMAND --help` for a command's options."
)


def _take_data_dir(args: list[str]) -> list[str]:
    """Accept `--data-dir DIR` / `--data-dir=DIR` anywhere; it must win over the environment."""
    rest: list[str] = []
    iterator = iter(args)
    for arg in iterator:
        if arg == "--data-dir":
            value = next(iterator, None)
            if not value:
                raise SystemExit("accord: --data-dir needs a directory")
            os.environ["ACCORD_DATA_DIR"] = value
        elif arg.startswith("--data-dir="):
            os.environ["ACCORD_DATA_DIR"] = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest


def main(argv: list[str] | None = None) -> None:
    try:
        run(sys.argv[1:] if argv is None else argv)
    finally:
        if argv is None:
            # The process ends here. Its last act would be a collection of
            # every object Django and the apps made (a quarter of a short
            # command's CPU time, and seconds of a core after a large
            # import): frozen, they are left to the operating system.
            gc.freeze()


def run(argv: list[str]) -> None:
    args = list(argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return
    args = _take_data_dir(args)
    if not args:
        raise SystemExit("accord: no command given\n\n" + USAGE)
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        raise SystemExit(f"accord: unknown command {command!r}\n\n" + USAGE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")
    if command == "manage":
        django_args = rest
    else:
        django_args = ALIASES.get(command, [command]) + rest
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError

    try:
        from django.conf import settings
        from django.core.management import execute_from_command_line

        if command != "manage":
            _hide_django_options()
            if not rest and _is_group(django_args[0]):
                # A group without an action: list its actions, as --help does.
                rest, django_args = ["--help"], [*django_args, "--help"]
        wants_help = "-h" in rest or "--help" in rest
        offline = (command, rest[0] if rest else "") in NO_NODE_NEEDED
        if command in NEEDS_NODE and not wants_help and not offline:
            _require_node(settings.DATA_DIR)
        execute_from_command_line(["accord", *django_args])
    except ImproperlyConfigured as exc:
        raise SystemExit(f"accord: configuration error: {exc}") from None
    except DatabaseError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SystemExit(f"accord: database error: {first_line}") from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _hide_django_options() -> None:
    """Leave Django's own options out of every command's help (and usage),
    and name an aliased command as `accord` knows it."""
    import argparse

    from django.core.management.base import BaseCommand

    original = BaseCommand.create_parser
    if getattr(original, "accord", False):
        return

    def create_parser(self: BaseCommand, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        parser = original(self, prog_name, SHOWN_AS.get(subcommand, subcommand), **kwargs)
        for action in parser._actions:
            if DJANGO_OPTIONS & set(action.option_strings):
                action.help = argparse.SUPPRESS
        return parser

    create_parser.accord = True  # type: ignore[attr-defined]
    BaseCommand.create_parser = create_parser  # type: ignore[method-assign]


def _is_group(name: str) -> bool:
    """Does the command take an action (`accord peer list`), as a group does?"""
    import argparse

    import django
    from django.core.management import get_commands, load_command_class
    from django.core.management.base import BaseCommand

    django.setup()
    app = get_commands().get(name)
    if app is None:
        return False
    command = app if isinstance(app, BaseCommand) else load_command_class(app, name)
    parser = command.create_parser("accord", name)
    return any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)


def _require_node(data_dir: object) -> None:
    from accord.core.identity import NODE_FILE

    if not (Path(str(data_dir)) / NODE_FILE).exists():
        raise SystemExit(
            f"accord: no node in {data_dir}: run `accord init` first, "
            "or set ACCORD_DATA_DIR / --data-dir to the node's data directory"
        )


if __name__ == "__main__":
    main()
