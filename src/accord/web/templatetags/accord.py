from functools import cache

from django import template
from django.contrib.staticfiles import finders
from django.utils.safestring import SafeString, mark_safe

from accord.core.audit import AuditAction

register = template.Library()

_LABELS = dict(AuditAction.choices)


@register.filter
def audit_label(action: str) -> str:
    """The reader's-language name of an audit action; the raw tag if unknown."""
    return str(_LABELS.get(action, action))


@register.filter
def pct(value: float | int | None) -> int:
    """A percentage as a whole number 0 to 100, for the classes of web/percent.css."""
    return max(0, min(100, round(value or 0)))


@register.simple_tag
def percent_rules() -> SafeString:
    """web/percent.css itself, for pages that must stand alone (printed to PDF
    from a file, where no stylesheet can be fetched)."""
    return mark_safe(_percent_css())  # noqa: S308  # nosec B308 B703 (our own static file)


@cache
def _percent_css() -> str:
    path = finders.find("web/percent.css")
    assert isinstance(path, str)
    with open(path, encoding="utf-8") as f:
        return f.read()
