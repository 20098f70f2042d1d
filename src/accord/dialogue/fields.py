"""What every part of the dialogue record shares: the text limit, the one
timestamp format (compared as text on both nodes, so exactly one), naming the
actor, and the check every free-text field passes."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accord.core.audit import Actor

TEXT = 20_000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def actor_name(actor: Actor) -> str:
    if actor.user is None:
        return actor.label
    return actor.user.get_full_name() or actor.user.username


def clean_text(value: str, name: str, *, required: bool = True, limit: int = TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(_("%(field)s is required.") % {"field": name})
    if len(value) > limit or "\x00" in value:
        raise ValidationError(_("%(field)s is too long or not text.") % {"field": name})
    return value
