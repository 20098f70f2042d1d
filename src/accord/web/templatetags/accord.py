from django import template

from accord.core.audit import AuditAction

register = template.Library()

_LABELS = dict(AuditAction.choices)


@register.filter
def audit_label(action: str) -> str:
    """The reader's-language name of an audit action; the raw tag if unknown."""
    return str(_LABELS.get(action, action))
