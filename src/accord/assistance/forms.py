"""The request form asks for exactly what the chosen type needs (DOMAIN.md's
table); the services check the result with the same schemas as the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, cast, get_args, get_origin

from annotated_types import MaxLen
from django import forms
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from accord.assistance.models import AssistanceRequest
from accord.assistance.registry import TYPES, bases_for, entry
from accord.assistance.rules import CONTENT_FIELDS
from accord.assistance.services import parse_draft
from accord.assistance.types import (
    LINE,
    NOTE,
    Condition,
    ConditionKind,
    ContactChannel,
    Identifier,
    IdentifierKind,
    OffenceCategory,
    Urgency,
)
from accord.assistance.types import TEXT as TEXT_MAX
from accord.core import calendars, dates
from accord.web import schema_errors

OFFENCE_ROWS = 3
CONDITION_ROWS = 3
GROUND_ROWS = 3

TEXT, AREA, FLAG, CHOICE, MULTI = "text", "area", "flag", "choice", "multi"


class DetailField(NamedTuple):
    """One of a type's own fields on the form (named `d_<name>`)."""

    name: str
    label: Any
    kind: str
    required: bool
    choices: type[models.Choices] | None


# Lists of objects are written as text, one per line, and parsed back; the
# conditions of spontaneous information have rows of their own (`c_<n>_…`).
LINES_HELP = {
    Identifier: _(
        "One per line: ip ADDRESS TIME (ISO 8601), account NAME, phone +NUMBER or email ADDRESS."
    ),
}
ROWS = (Condition,)


def _item(annotation: Any) -> Any:
    """The item type of `list[X]`, else None."""
    return get_args(annotation)[0] if get_origin(annotation) is list else None


def _part(annotation: Any) -> type[BaseModel] | None:
    """A nested model (a person's particulars) asked for field by field."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _choices(annotation: Any) -> type[models.Choices] | None:
    if isinstance(annotation, type) and issubclass(annotation, models.Choices):
        return annotation
    return None


def _max_length(info: FieldInfo) -> int | None:
    return next((m.max_length for m in info.metadata if isinstance(m, MaxLen)), None)


def fields_of(schema: type[BaseModel]) -> list[DetailField]:
    """A detail schema's fields as the form asks for them, in the schema's order."""
    found = []
    for name, info in schema.model_fields.items():
        annotation, item = info.annotation, _item(info.annotation)
        if part := _part(annotation):
            found += fields_of(part)
            continue
        if item in ROWS:
            continue
        if _part(item) and item not in LINES_HELP:
            raise TypeError(f"{schema.__name__}.{name}: say in forms.py how the form writes it")
        if info.title is None:
            raise TypeError(f"{schema.__name__}.{name} needs a title: the form's label")
        if annotation is bool:
            kind, choices = FLAG, None
        elif choices := _choices(annotation):
            kind = CHOICE
        elif choices := _choices(item):
            kind = MULTI
        elif item in LINES_HELP or (_max_length(info) or TEXT_MAX) > LINE:
            kind = AREA
        else:
            kind = TEXT
        found.append(DetailField(name, _(info.title), kind, info.is_required(), choices))
    return found


def detail_fields(request_type: str) -> list[DetailField]:
    return DETAIL_FIELDS[request_type]


DETAIL_FIELDS: dict[str, list[DetailField]] = {
    code: fields_of(e.details) for code, e in TYPES.items()
}


def _help(schema: type[BaseModel], name: str) -> Any:
    info = schema.model_fields.get(name)
    return LINES_HELP.get(_item(info.annotation), "") if info else ""


def _field(field: DetailField) -> forms.Field:
    label, kind, required, choices = field.label, field.kind, field.required, field.choices
    if kind == FLAG:
        return forms.BooleanField(label=label, required=required)
    if kind == CHOICE and choices is not None:
        return forms.ChoiceField(label=label, choices=choices.choices, required=required)
    if kind == MULTI and choices is not None:
        return forms.MultipleChoiceField(
            label=label,
            choices=choices.choices,
            required=required,
            widget=forms.CheckboxSelectMultiple,
        )
    widget = forms.Textarea(attrs={"rows": 3}) if kind == AREA else None
    return forms.CharField(label=label, required=required, widget=widget, max_length=TEXT_MAX)


class RequestForm(forms.Form):
    peer = forms.ChoiceField(label=_("Requested party (node)"))
    legal_basis = forms.ChoiceField(label=_("Legal basis"))
    requesting_authority = forms.CharField(label=_("Requesting authority"), max_length=300)
    central_authority = forms.CharField(label=_("Central authority"), max_length=300)
    summary = forms.CharField(label=_("Summary of facts"), widget=forms.Textarea(attrs={"rows": 4}))
    purpose = forms.CharField(label=_("Purpose"), widget=forms.Textarea(attrs={"rows": 2}))
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial="standard")
    urgency_reason = forms.CharField(
        label=_("Reason for urgency"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    confidential = forms.BooleanField(label=_("Confidential"), required=False)
    confidentiality_reasons = forms.CharField(
        label=_("Why it must stay confidential"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    desired_deadline = forms.DateField(
        label=_("Desired deadline"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    language = forms.ChoiceField(
        label=_("Language of the request"), choices=[("en", "English"), ("zh-hans", "简体中文")]
    )
    translation = forms.CharField(
        label=_("Translation (language, translator)"), required=False, max_length=300
    )
    signer = forms.CharField(label=_("Signed by"), max_length=300)

    def __init__(self, request_type: str, peers: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_type = request_type
        cast(forms.ChoiceField, self.fields["peer"]).choices = [(p, p) for p in peers]
        # Only the bases that fit the type (a basis named after an article fits its type alone).
        bases = [(b.value, b.label) for b in bases_for(request_type)]
        cast(forms.ChoiceField, self.fields["legal_basis"]).choices = bases
        for n in range(1, OFFENCE_ROWS + 1):
            first = n == 1
            self.fields[f"offence_{n}_label"] = forms.CharField(
                label=_("Offence %(n)s: name") % {"n": n}, required=first, max_length=300
            )
            self.fields[f"offence_{n}_statute"] = forms.CharField(
                label=_("Statute in your law"), required=first, max_length=300
            )
            self.fields[f"offence_{n}_penalty"] = forms.IntegerField(
                label=_("Maximum penalty (years; 99 = life)"),
                required=first,
                min_value=0,
                max_value=99,
            )
            self.fields[f"offence_{n}_category"] = forms.ChoiceField(
                label=_("Shared category"),
                required=first,
                choices=[("", "—"), *OffenceCategory.choices],
            )
        schema = entry(request_type).details
        for field in detail_fields(request_type):
            self.fields[f"d_{field.name}"] = _field(field)
            self.fields[f"d_{field.name}"].help_text = _help(schema, field.name)
        if any(_item(f.annotation) in ROWS for f in schema.model_fields.values()):
            add_condition_rows(self)
        _add_first_contact_fields(self)
        self.confirmation_hours = settings.EMERGENCY_CONFIRMATION_HOURS

    def offence_rows(self) -> list[list[forms.BoundField]]:
        parts = ("label", "statute", "penalty", "category")
        return [[self[f"offence_{n}_{part}"] for part in parts] for n in range(1, OFFENCE_ROWS + 1)]

    def base_fields_bound(self) -> list[forms.BoundField]:
        own = ("offence_", "d_", "c_", FIRST_CONTACT)
        return [self[name] for name in self.fields if not name.startswith(own)]

    def first_contact_fields_bound(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(FIRST_CONTACT)]

    def detail_fields_bound(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(("d_", "c_"))]

    def to_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        offences = []
        for n in range(1, OFFENCE_ROWS + 1):
            if data.get(f"offence_{n}_label"):
                offences.append(
                    {
                        "label": data[f"offence_{n}_label"],
                        "statute": data.get(f"offence_{n}_statute") or "",
                        "max_penalty_years": data.get(f"offence_{n}_penalty") or 0,
                        "category": data.get(f"offence_{n}_category") or "other",
                    }
                )
        deadline = data.get("desired_deadline")
        return {
            "request_type": self.request_type,
            "legal_basis": data["legal_basis"],
            "requesting_authority": data["requesting_authority"],
            "central_authority": data["central_authority"],
            "offences": offences,
            "summary": data["summary"],
            "purpose": data["purpose"],
            "urgency": data["urgency"],
            "urgency_reason": data["urgency_reason"],
            "confidential": data["confidential"],
            "confidentiality_reasons": data["confidentiality_reasons"],
            "desired_deadline": deadline.isoformat() if deadline else None,
            "language": data["language"],
            "translation": data["translation"],
            "signer": data["signer"],
            "details": self._details(),
            "first_contact": first_contact_from(data),
        }

    def _details(self) -> dict[str, Any]:
        return _values(entry(self.request_type).details, self.cleaned_data)

    def clean(self) -> dict[str, Any]:
        """The services' own check of the content, run before they are asked:
        each problem goes beside the field it is about, in the user's language,
        and the form keeps everything typed."""
        data = super().clean() or {}
        deadline = data.get("desired_deadline")
        if deadline and (problem := dates.ahead_problem(deadline)):
            self.add_error("desired_deadline", problem)
        if self.errors:
            return data
        _content, problems = parse_draft(self.to_data())
        schema_errors.add_errors(self, (_located(p) for p in problems), self.field_of)
        return data

    def field_of(self, loc: tuple[Any, ...]) -> str | None:
        """The form field that holds the content at `loc` (the schema's path)."""
        if not loc:
            return None
        head, rest = loc[0], loc[1:]
        if head == "offences":
            n = rest[0] + 1 if rest and isinstance(rest[0], int) else 1
            part = rest[1] if len(rest) > 1 else "label"
            part = {"max_penalty_years": "penalty"}.get(str(part), str(part))
            return f"offence_{n}_{part}"
        if head == "first_contact":
            return f"fc_{rest[0]}" if rest else "fc_at"
        if head == "details":
            return _detail_field_of(entry(self.request_type).details, rest)
        return str(head)


def _detail_field_of(schema: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """A detail's form field: a nested part's fields (a person's) are flat on
    the form, a list written one per line is one field, conditions have rows."""
    if not loc:
        return None
    name = str(loc[0])
    if name == "conditions":
        n = loc[1] + 1 if len(loc) > 1 and isinstance(loc[1], int) else 1
        return f"c_{n}_{loc[2] if len(loc) > 2 else 'text'}"
    info = schema.model_fields.get(name)
    if info is not None and _part(info.annotation) and len(loc) > 1:
        return f"d_{loc[1]}"
    return f"d_{name}"


def _located(problem: str) -> tuple[tuple[Any, ...], str]:
    """A service's problem as (where, what) in the active language."""
    error = getattr(problem, "error", None)
    loc: tuple[Any, ...] = getattr(problem, "loc", ())
    if error is None:
        return loc, str(problem)
    # One line of a list written one per line: say which line.
    if len(loc) > 2 and loc[0] == "details" and isinstance(loc[2], int):
        return loc, _("Line %(n)s: %(problem)s") % {
            "n": loc[2] + 1,
            "problem": schema_errors.explain(error),
        }
    return loc, schema_errors.explain(error)


def _values(schema: type[BaseModel], data: Any) -> dict[str, Any]:
    """The details the form's fields hold, shaped as the schema wants them."""
    values: dict[str, Any] = {}
    for name, info in schema.model_fields.items():
        annotation, item = info.annotation, _item(info.annotation)
        if part := _part(annotation):
            values[name] = _values(part, data)
        elif item in LINES_HELP:
            values[name] = parse_identifiers(data.get(f"d_{name}") or "")
        elif item in ROWS:
            values[name] = conditions_from(data)
        else:
            value = data.get(f"d_{name}")
            values[name] = "" if value is None else value
    return values


def add_condition_rows(form: forms.Form) -> None:
    for n in range(1, CONDITION_ROWS + 1):
        form.fields[f"c_{n}_kind"] = forms.ChoiceField(
            label=_("Condition %(n)s") % {"n": n},
            required=False,
            choices=[("", "—"), *ConditionKind.choices],
        )
        form.fields[f"c_{n}_text"] = forms.CharField(
            label=_("Condition %(n)s: wording") % {"n": n}, required=False, max_length=10_000
        )


# An emergency's informal first contact (types.FirstContact), asked for in
# fields of its own (`fc_…`); all left empty, there is none.
FIRST_CONTACT = "fc_"
FIRST_CONTACT_TEXT = ("made_by", "reached_name", "reached_function")


class LocalDateTimeField(forms.DateTimeField):
    """A time as this node's officers write it: in the node's zone, the one
    its pages show deadlines in."""

    def to_python(self, value: Any) -> datetime | None:
        with timezone.override(calendars.here().zone):
            return super().to_python(value)


def _add_first_contact_fields(form: forms.Form) -> None:
    zone = calendars.here().time_zone
    fields = form.fields
    fields["fc_at"] = LocalDateTimeField(
        label=_("When (%(zone)s time)") % {"zone": zone},
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
    )
    fields["fc_channel"] = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", "—"), *ContactChannel.choices]
    )
    labels = {
        "made_by": _("Made by (on this side)"),
        "reached_name": _("Person reached at the partner"),
        "reached_function": _("Their function"),
    }
    for name in FIRST_CONTACT_TEXT:
        fields[f"fc_{name}"] = forms.CharField(label=labels[name], required=False, max_length=LINE)
    fields["fc_note"] = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=NOTE,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def first_contact_from(data: Any) -> dict[str, Any] | None:
    """The first contact the form's fields hold, or None if they are all empty;
    the schema names whatever is missing."""
    names = ("at", "channel", *FIRST_CONTACT_TEXT, "note")
    if not any(data.get(f"fc_{name}") for name in names):
        return None
    at = data.get("fc_at")
    contact: dict[str, Any] = {"at": at.isoformat() if at else None}
    for name in names[1:]:
        contact[name] = data.get(f"fc_{name}") or ""
    return contact


def _initial_first_contact(contact: dict[str, Any] | None) -> dict[str, Any]:
    if not contact:
        return {}
    at = datetime.fromisoformat(contact["at"]).astimezone(calendars.here().zone)
    initial = {f"fc_{name}": value for name, value in contact.items() if name != "at"}
    initial["fc_at"] = at.strftime("%Y-%m-%dT%H:%M:%S")
    return initial


def conditions_from(data: Any) -> list[dict[str, str]]:
    rows = []
    for n in range(1, CONDITION_ROWS + 1):
        kind, text = data.get(f"c_{n}_kind") or "", (data.get(f"c_{n}_text") or "").strip()
        if kind or text:
            rows.append({"kind": kind or "other", "text": text})
    return rows


def parse_identifiers(text: str) -> list[dict[str, Any]]:
    """`ip 203.0.113.7 2026-10-01T10:00Z`, `phone +8613800138000`, … one per line;
    the schema then checks and normalises each one."""
    found: list[dict[str, Any]] = []
    kinds = set(IdentifierKind.values)
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        kind = parts[0].lower()
        if kind not in kinds or len(parts) < 2:
            found.append({"kind": kind, "value": line.strip()})  # the schema names the problem
            continue
        one: dict[str, Any] = {"kind": kind, "value": parts[1]}
        if kind == IdentifierKind.IP and len(parts) > 2:
            one["observed_at"] = parts[2]
        elif kind != IdentifierKind.IP:
            one["value"] = " ".join(parts[1:])
        found.append(one)
    return found


def identifiers_text(identifiers: list[dict[str, Any]]) -> str:
    return "\n".join(
        " ".join(str(part) for part in (i["kind"], i["value"], i.get("observed_at") or "") if part)
        for i in identifiers
    )


# Content fields the form asks for in its own way (the type is chosen before the
# form, offences and details have rows of their own) or not at all.
FORM_OWN_FIELDS = (
    "request_type",
    "offences",
    "details",
    "synthetic",
    "first_contact",
    "confirmation_due",  # counted by the node, never written
)


def initial_from(request: AssistanceRequest) -> dict[str, Any]:
    """A draft's values, to edit it in the same form."""
    initial: dict[str, Any] = {
        name: getattr(request, name) for name in CONTENT_FIELDS if name not in FORM_OWN_FIELDS
    }
    initial["peer"] = request.requested_node
    for n, offence in enumerate(request.offences[:OFFENCE_ROWS], start=1):
        initial[f"offence_{n}_label"] = offence["label"]
        initial[f"offence_{n}_statute"] = offence["statute"]
        initial[f"offence_{n}_penalty"] = offence["max_penalty_years"]
        initial[f"offence_{n}_category"] = offence["category"]
    initial.update(_initial_details(entry(request.request_type).details, request.details))
    initial.update(_initial_first_contact(request.first_contact))
    return initial


def _initial_details(schema: type[BaseModel], details: dict[str, Any]) -> dict[str, Any]:
    """Stored details as the form's initial values: the inverse of `_values`."""
    initial: dict[str, Any] = {}
    for name, value in details.items():
        info = schema.model_fields.get(name)
        annotation = info.annotation if info else None
        if part := _part(annotation):
            initial.update(_initial_details(part, value or {}))
        elif _item(annotation) in LINES_HELP:
            initial[f"d_{name}"] = identifiers_text(value or [])
        elif _item(annotation) in ROWS:
            for n, condition in enumerate(value or [], start=1):
                initial[f"c_{n}_kind"], initial[f"c_{n}_text"] = (
                    condition["kind"],
                    condition["text"],
                )
        else:
            initial[f"d_{name}"] = value
    return initial
