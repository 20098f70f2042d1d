"""What a request's page and print say for the codes it stores: steps,
refusal grounds, conditions, and the type's own fields as labelled rows."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accord.assistance.forms import DETAIL_FIELDS
from accord.assistance.machine import TRANSITIONS
from accord.assistance.models import AssistanceRequest
from accord.assistance.types import RefusalGround


def choice_label(choices: Any, code: str) -> str:
    try:
        return str(choices(code).label)
    except ValueError:
        return code


def step_label(action: str) -> str:
    if action == "create":
        return _("Drafted")
    transition = TRANSITIONS.get(action)
    return str(transition.label) if transition else action


def ground_label(code: str) -> str:
    return choice_label(RefusalGround, code)


def condition_label(code: str) -> str:
    from accord.assistance.types import ConditionKind

    return choice_label(ConditionKind, code)


def detail_rows(row: AssistanceRequest) -> list[tuple[str, str]]:
    """The type's own fields as (label, text), in the form's order."""
    from accord.assistance.forms import identifiers_text

    details = dict(row.details)
    details.update(details.pop("person", {}) or {})
    rows = []
    for name, label, _kind, _required, choices in DETAIL_FIELDS[row.request_type]:
        value = details.get(name)
        if value in (None, "", []):
            continue
        if name == "identifiers":
            value = identifiers_text(value)
        elif isinstance(value, bool):
            value = _("yes") if value else _("no")
        elif isinstance(value, list) and choices is not None:
            value = ", ".join(str(dict(choices.choices).get(v, v)) for v in value)
        elif choices is not None:
            value = dict(choices.choices).get(value, value)
        rows.append((str(label), str(value)))
    for condition in details.get("conditions", []) or []:
        rows.append((str(condition_label(condition["kind"])), condition["text"]))
    return rows
