from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def reading(value: Any, unit: str) -> str:
    """An indicator value in its unit; no data is shown as such, never as zero."""
    if value is None:
        return _("no data yet")
    if unit == "hours":
        return (
            _("%(n)s h") % {"n": value}
            if value < 48
            else _("%(n)s d") % {"n": round(value / 24, 1)}
        )
    if unit == "percent":
        return f"{value} %"
    return str(int(value)) if float(value).is_integer() else str(value)


@register.filter
def bar_heights(series: list[tuple[str, Any]]) -> list[tuple[str, Any, int]]:
    """Each month's value with its bar height in percent of the largest."""
    top = max((v for _m, v in series if v is not None), default=0) or 1
    return [(month, value, int(100 * (value or 0) / top)) for month, value in series]


@register.filter
def text_in(item: Any, language: str) -> str:
    """An item's text in the language asked for, falling back to the other."""
    for field in ("text", "title", "issue", "venue"):
        english = getattr(item, f"{field}_en", None)
        if english is not None:
            chinese = getattr(item, f"{field}_zh", "")
            return (chinese or english) if language == "zh-hans" else (english or chinese)
    return ""


@register.filter
def moment(value: str) -> str:
    """A stored ISO time as people read it: 2026-11-27 14:24 UTC."""
    return f"{value[:10]} {value[11:16]} UTC" if len(value) >= 16 else value


@register.filter
def agency(names: dict[str, str], node: str) -> str:
    """A participating node named by its agency and party (views.labels)."""
    return names.get(node, node) if isinstance(names, dict) else node


@register.filter
def listing(items: list[str]) -> str:
    """A list joined the way the interface language joins lists."""
    from django.utils.translation import get_language

    separator = "、" if (get_language() or "").startswith("zh") else ", "
    return separator.join(str(item) for item in items)


@register.filter
def event_label(kind: str) -> str:
    labels = {"opened": _("opened"), "position": _("position stated"), "status": _("status set")}
    return str(labels.get(kind, kind))


@register.filter
def status_label(code: str) -> str:
    from accord.dialogue.types import DisagreementStatus

    try:
        return str(DisagreementStatus(code).label)
    except ValueError:
        return code


@register.filter
def unit_name(unit: str) -> str:
    """The unit an indicator's chart is drawn in, for its axis title."""
    names = {"hours": _("hours"), "percent": _("percent"), "count": _("number of records")}
    return str(names.get(unit, unit))


@register.filter
def chart_top(series: list[tuple[str, Any]]) -> Any:
    """The value at the top of a chart's vertical axis: the largest month's."""
    return max((v for _m, v in series if v is not None), default=0)


@register.filter
def chart_text(measured: Any) -> str:
    """A chart's text alternative: what it shows, month by month, in words."""
    unit = measured.reading.unit
    months = "; ".join(
        f"{month}: {reading(value, unit)}" for month, value in measured.reading.series
    )
    return _("%(indicator)s by month, in %(unit)s: %(months)s") % {
        "indicator": measured.label,
        "unit": unit_name(unit),
        "months": months,
    }


@register.filter
def document_url(reference: str) -> str:
    """A listed document's address if its reference is a web address, else ""
    (then it is shown as text, never styled as a link it is not)."""
    from urllib.parse import urlsplit

    parts = urlsplit((reference or "").strip())
    return reference.strip() if parts.scheme in ("http", "https") and parts.netloc else ""
