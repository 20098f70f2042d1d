"""What the `accord` commands share: who acts (`--as USER`), and how a list
is printed (a header row, then aligned columns)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from django.core.management.base import CommandError

from accord.core.audit import Actor
from accord.core.models import User


def actor_named(username: str | None) -> Actor:
    """The active user named by `--as`, or, with no name, this node's operator
    at the shell (the services know it as the system actor "cli")."""
    if not username:
        return Actor.system("cli")
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return Actor.of(user)


def write_table(
    out: TextIO | Any, headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str
) -> None:
    """Print `rows` under a header row, each column as wide as its widest
    cell (the last one left ragged); `empty` alone when there are none."""
    cells = [[str(value) for value in row] for row in rows]
    if not cells:
        out.write(empty)
        return
    widths = [max(len(row[i]) for row in [list(headers), *cells]) for i in range(len(headers))]
    for row in [list(headers), *cells]:
        padded = [value.ljust(width) for value, width in zip(row[:-1], widths, strict=False)]
        out.write("  ".join([*padded, row[-1]]).rstrip())
