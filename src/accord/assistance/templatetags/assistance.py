from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

register = template.Library()


@register.filter
def is_overdue(deadline: Any, now: datetime) -> bool:
    return bool(deadline.overdue(now))


@register.filter
def get_item(mapping: dict, key: str) -> Any:
    return mapping.get(key, "") if isinstance(mapping, dict) else ""


def _label(choices: Any, code: str) -> str:
    try:
        return str(choices(code).label)
    except ValueError:
        return code


@register.filter
def ground_label(code: str) -> str:
    from accord.assistance.types import RefusalGround

    return _label(RefusalGround, code)


@register.filter
def condition_label(code: str) -> str:
    from accord.assistance.types import ConditionKind

    return _label(ConditionKind, code)


@register.filter
def restriction_label(code: str) -> str:
    from accord.assistance.types import RestrictionKind

    return _label(RestrictionKind, code)


@register.filter
def agency_label(node_id: str) -> str:
    from accord.assistance.routing import agency_label

    return agency_label(node_id)
