"""The forms of a request's steps on its page: each step's fields carry
the names `payload_from_post` reads into the payload its schema checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError as SchemaError

from accord.assistance import routing
from accord.assistance.forms import (
    CONDITION_ROWS,
    GROUND_ROWS,
    add_condition_rows,
    conditions_from,
)
from accord.assistance.machine import TRANSITIONS
from accord.assistance.types import ConditionKind, RefusalGround, RestrictionKind
from accord.core import dates
from accord.federation import parties
from accord.web import schema_errors


def payload_from_post(action: str, post: Any) -> dict[str, Any]:
    """The fields of one step's form, as the payload its schema checks."""
    schema = TRANSITIONS[action].payload
    names = set(schema.model_fields)
    payload: dict[str, Any] = {}
    for name in ("comment", "questions", "answers", "text", "kind", "node"):
        if name in names and post.get(name, "").strip():
            payload[name] = post.get(name).strip()
    if "conditions" in names or "proposed_conditions" in names:
        key = "conditions" if "conditions" in names else "proposed_conditions"
        payload[key] = conditions_from(post)
    if "grounds" in names:
        payload["grounds"] = []
        for n in range(1, GROUND_ROWS + 1):
            ground, why = post.get(f"g_{n}_ground", ""), post.get(f"g_{n}_rationale", "").strip()
            if ground or why:
                payload["grounds"].append({"ground": ground, "rationale": why})
    if "until" in names and post.get("until"):
        payload["until"] = post.get("until")
    if "days" in names and post.get("days"):
        payload["days"] = post.get("days")
    if "expires_at" in names and post.get("expires_at"):
        try:
            day = datetime.strptime(post.get("expires_at"), "%Y-%m-%d").date()
            payload["expires_at"] = datetime.combine(day, time(23, 59), UTC).isoformat()
        except ValueError:
            payload["expires_at"] = post.get("expires_at")
    return payload


def _area(label: Any, required: bool, rows: int = 2) -> forms.CharField:
    return forms.CharField(
        label=label, required=required, widget=forms.Textarea(attrs={"rows": rows})
    )


class StepForm(forms.Form):
    """One step's form on the request page. Its fields carry the names
    `payload_from_post` reads; bound to a refused submission, it shows what
    was typed with each problem beside its field."""

    def __init__(self, transition: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transition = transition
        self.kind = transition.payload.__name__.lower()
        self.auto_id = f"step-{transition.action}-%s"
        fields, kind = self.fields, self.kind
        if kind == "comment":
            fields["comment"] = _area(_("Comment (optional)"), False)
        elif kind == "reason":
            fields["comment"] = _area(_("Reason"), True)
        elif kind == "questions":
            fields["questions"] = _area(_("What the requester must add"), True, 3)
        elif kind == "answers":
            fields["answers"] = _area(_("The information asked for"), True, 3)
        elif kind == "consultation":
            fields["comment"] = _area(_("What you put to the requester"), True, 4)
            add_condition_rows(self)
        elif kind == "conditions":
            add_condition_rows(self)
            fields["comment"] = _area(_("Comment (optional)"), False)
        elif kind in ("grounds", "postponement"):
            _add_ground_rows(self)
            if kind == "postponement":
                fields["until"] = forms.DateField(
                    label=_("Postponed until (optional)"),
                    required=False,
                    widget=forms.DateInput(attrs={"type": "date"}),
                )
            fields["comment"] = _area(_("Comment (optional)"), False)
        elif kind == "response":
            fields["text"] = _area(_("Response"), True, 3)
        elif kind == "preservation":
            fields["expires_at"] = forms.DateField(
                label=_("Hold until (at least 60 days from now; left empty, 60 days)"),
                required=False,
                widget=forms.DateInput(attrs={"type": "date"}),
            )
        elif kind == "extension":
            fields["days"] = forms.IntegerField(
                label=_("Extend by (days)"), min_value=1, max_value=365, initial=60
            )
        elif kind == "assignment":
            fields["node"] = forms.ChoiceField(
                label=_("Executing agency"),
                choices=[(p.node_id, parties.label(p)) for p in routing.assignable_peers()],
            )
            fields["comment"] = _area(_("Comment (optional)"), False)
        elif kind == "restriction":
            fields["kind"] = forms.ChoiceField(
                label=_("Restriction"), choices=RestrictionKind.choices
            )
            fields["text"] = _area(_("Wording"), True)

    def clean_until(self) -> date | None:
        """A postponement's end, checked for sense beside its field (the
        services check it again for the API)."""
        day = self.cleaned_data.get("until")
        problem = dates.ahead_problem(day)
        if problem:
            raise forms.ValidationError(problem)
        return day

    def check(self) -> dict[str, Any] | None:
        """The payload the services would take, or None with each of the
        schema's and the rules' problems put beside its field."""
        if not self.is_valid():
            return None
        payload = payload_from_post(self.transition.action, self.data)
        try:
            self.transition.payload.model_validate(payload)
        except SchemaError as exc:
            found = [(tuple(e["loc"]), schema_errors.explain(dict(e))) for e in exc.errors()]
            schema_errors.add_errors(self, found, self.field_of)
            return None
        return payload

    def field_of(self, loc: tuple[Any, ...]) -> str | None:
        """The field of the payload's `loc`: a list's n-th item is the n-th
        row that was filled in."""
        if not loc:
            return None
        head = str(loc[0])
        if head in ("grounds", "conditions", "proposed_conditions"):
            prefix = "g" if head == "grounds" else "c"
            rows = _filled_rows(self.data, prefix)
            index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
            n = rows[index] if index < len(rows) else 1
            part = str(loc[2]) if len(loc) > 2 else ("ground" if prefix == "g" else "text")
            return f"{prefix}_{n}_{part}"
        return head


def _filled_rows(data: Any, prefix: str) -> list[int]:
    """The numbers of the rows of ground (g) or condition (c) rows with anything in them."""
    parts = ("ground", "rationale") if prefix == "g" else ("kind", "text")
    rows = GROUND_ROWS if prefix == "g" else CONDITION_ROWS
    return [
        n
        for n in range(1, rows + 1)
        if any((data.get(f"{prefix}_{n}_{part}") or "").strip() for part in parts)
    ]


def _add_ground_rows(form: forms.Form) -> None:
    for n in range(1, GROUND_ROWS + 1):
        form.fields[f"g_{n}_ground"] = forms.ChoiceField(
            label=_("Ground %(n)s") % {"n": n},
            required=False,
            choices=[("", "—"), *RefusalGround.choices],
        )
        form.fields[f"g_{n}_rationale"] = forms.CharField(
            label=_("Rationale"), required=False, widget=forms.Textarea(attrs={"rows": 2})
        )


STEP_CHOICES = {
    "ground_choices": RefusalGround.choices,
    "condition_choices": ConditionKind.choices,
    "restriction_choices": RestrictionKind.choices,
    "ground_rows": range(1, GROUND_ROWS + 1),
    "condition_rows": range(1, CONDITION_ROWS + 1),
}
