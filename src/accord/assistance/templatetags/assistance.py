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
