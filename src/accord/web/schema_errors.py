"""A schema's (pydantic's) errors as a form shows them: beside the field they
belong to, in the user's language. The API keeps the schema's own wording;
a page never shows it (`purpose: String should have at most 10000 characters`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

Loc = tuple[Any, ...]


def explain(error: dict[str, Any]) -> str:
    """One schema error as a sentence in the active language."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "missing" or (
        kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1
    ):
        return _("This field is required.")
    if kind == "string_too_long":
        limit = ctx.get("max_length", 0)
        return ngettext(
            "Write at most %(limit)s character.", "Write at most %(limit)s characters.", limit
        ) % {"limit": limit}
    if kind == "too_short":
        limit = ctx.get("min_length", 0)
        return ngettext(
            "Give at least %(limit)s entry.", "Give at least %(limit)s entries.", limit
        ) % {"limit": limit}
    if kind == "too_long":
        limit = ctx.get("max_length", 0)
        return ngettext(
            "Give at most %(limit)s entry.", "Give at most %(limit)s entries.", limit
        ) % {"limit": limit}
    if kind in ("enum", "literal_error"):
        return _("Choose one of the offered values.")
    if kind.startswith(("date", "datetime", "timezone")):
        return _("Enter a valid date.")
    if kind in ("greater_than_equal", "greater_than"):
        return _("Enter a number of at least %(limit)s.") % {
            "limit": ctx.get("ge", ctx.get("gt", ""))
        }
    if kind in ("less_than_equal", "less_than"):
        return _("Enter a number of at most %(limit)s.") % {
            "limit": ctx.get("le", ctx.get("lt", ""))
        }
    if kind.startswith(("int", "float")):
        return _("Enter a whole number.")
    return _("Enter a valid value.")


def add_errors(
    form: forms.Form,
    errors: Iterable[tuple[Loc, str]],
    field_of: Callable[[Loc], str | None],
) -> None:
    """Put each (location, message) beside the form's field for it; one the
    form has no field for goes on top of the form."""
    for loc, message in errors:
        name = field_of(loc)
        if name in form.fields:
            if message not in form.errors.get(name, []):
                form.add_error(name, message)
        else:
            form.add_error(None, message)
