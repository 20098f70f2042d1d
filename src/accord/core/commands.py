"""What the `accord` commands share: who acts (`--as USER`)."""

from __future__ import annotations

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
