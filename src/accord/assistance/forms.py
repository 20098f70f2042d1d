"""The request form asks for exactly what the chosen type needs (DOMAIN.md's
table); the services check the result with the same schemas as the API."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accord.assistance.machine import TRANSITIONS
from accord.assistance.models import AssistanceRequest
from accord.assistance.types import (
    ConditionKind,
    DataCategory,
    EvidenceMeasure,
    IdentifierKind,
    LegalBasis,
    OffenceCategory,
    RefusalGround,
    RequestType,
    RestrictionKind,
    StoredDataMeasure,
    Urgency,
)

OFFENCE_ROWS = 3
CONDITION_ROWS = 3
GROUND_ROWS = 3

TEXT, AREA, FLAG, CHOICE, MULTI = "text", "area", "flag", "choice", "multi"

# Each type's own fields: (name, label, kind, required, choices)
PERSON = [
    ("family_name", _("Family name"), TEXT, True, None),
    ("given_names", _("Given names"), TEXT, False, None),
    ("date_of_birth", _("Date of birth"), TEXT, False, None),
    ("nationality", _("Nationality"), TEXT, False, None),
    ("other_identifiers", _("Other identity particulars"), AREA, False, None),
]
DETAIL_FIELDS: dict[str, list[tuple[str, Any, str, bool, Any]]] = {
    RequestType.PRESERVATION: [
        ("data_to_preserve", _("Data to preserve"), AREA, True, None),
        ("relation_to_offence", _("How the data relates to the offence"), AREA, True, None),
        ("custodian", _("Custodian or system"), TEXT, True, None),
        ("why_needed", _("Why preservation is needed"), AREA, True, None),
        ("full_request_follows", _("A full request for the data will follow"), FLAG, True, None),
    ],
    RequestType.TRAFFIC_DISCLOSURE: [
        ("preserved_traffic_data", _("Preserved traffic data"), AREA, True, None),
        ("provider_and_path", _("Provider and path to identify"), AREA, True, None),
        ("preservation_reference", _("Reference of the preservation request"), TEXT, False, None),
    ],
    RequestType.STORED_DATA: [
        ("measure", _("Measure"), CHOICE, True, StoredDataMeasure),
        ("data_description", _("Stored data sought"), AREA, True, None),
        ("location", _("Where the data is held"), TEXT, True, None),
        ("risk_of_loss", _("The data may be lost (expedite)"), FLAG, False, None),
    ],
    RequestType.DATA_ORDER: [
        ("data_category", _("Data category"), CHOICE, True, DataCategory),
        ("identifiers", _("Identifiers"), AREA, True, None),
        ("issuer", _("Issuing authority"), TEXT, True, None),
        ("issuer_is_judicial", _("The issuer is a judge, court or prosecutor"), FLAG, False, None),
    ],
    RequestType.GENERAL_EVIDENCE: [
        ("measures", _("Measures"), MULTI, True, EvidenceMeasure),
        ("persons_and_places", _("Persons and places"), AREA, True, None),
        ("questions", _("Questions to ask"), AREA, False, None),
        ("items", _("Items to obtain"), AREA, False, None),
        ("formalities", _("Formalities to follow"), AREA, False, None),
    ],
    RequestType.LOCATE_PERSON: [
        *PERSON,
        ("last_known_location", _("Last known location"), TEXT, False, None),
    ],
    RequestType.IDENTITY_VERIFICATION: [
        *PERSON,
        ("documents", _("Documents to verify"), AREA, True, None),
    ],
    RequestType.SPONTANEOUS: [
        ("information", _("Information offered"), AREA, True, None),
    ],
}
HELP = {
    "identifiers": _(
        "One per line: ip ADDRESS TIME (ISO 8601), account NAME, phone +NUMBER or email ADDRESS."
    ),
}
PERSON_TYPES = (RequestType.LOCATE_PERSON, RequestType.IDENTITY_VERIFICATION)
PERSON_NAMES = [name for name, *_rest in PERSON]


def _field(label: Any, kind: str, required: bool, choices: Any) -> forms.Field:
    if kind == FLAG:
        return forms.BooleanField(label=label, required=required)
    if kind == CHOICE:
        return forms.ChoiceField(label=label, choices=choices.choices, required=required)
    if kind == MULTI:
        return forms.MultipleChoiceField(
            label=label,
            choices=choices.choices,
            required=required,
            widget=forms.CheckboxSelectMultiple,
        )
    widget = forms.Textarea(attrs={"rows": 3}) if kind == AREA else None
    return forms.CharField(label=label, required=required, widget=widget, max_length=10_000)


class RequestForm(forms.Form):
    peer = forms.ChoiceField(label=_("Requested party (node)"))
    legal_basis = forms.ChoiceField(label=_("Legal basis"), choices=LegalBasis.choices)
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
        self.fields["peer"].choices = [(p, p) for p in peers]
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
        for name, label, kind, required, choices in DETAIL_FIELDS[request_type]:
            self.fields[f"d_{name}"] = _field(label, kind, required, choices)
            self.fields[f"d_{name}"].help_text = HELP.get(name, "")
        if request_type == RequestType.SPONTANEOUS:
            _add_condition_rows(self)

    def offence_rows(self) -> list[list[forms.BoundField]]:
        parts = ("label", "statute", "penalty", "category")
        return [[self[f"offence_{n}_{part}"] for part in parts] for n in range(1, OFFENCE_ROWS + 1)]

    def base_fields_bound(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith(("offence_", "d_", "c_"))]

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
        }

    def _details(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {name: data.get(f"d_{name}") for name, *_rest in DETAIL_FIELDS[self.request_type]}
        if self.request_type in PERSON_TYPES:
            person = {name: values.pop(name) or "" for name in PERSON_NAMES}
            values["person"] = person
        if self.request_type == RequestType.DATA_ORDER:
            values["identifiers"] = parse_identifiers(values.get("identifiers") or "")
        if self.request_type == RequestType.SPONTANEOUS:
            values["conditions"] = conditions_from(data)
        return {k: ("" if v is None else v) for k, v in values.items()}


def _add_condition_rows(form: forms.Form) -> None:
    for n in range(1, CONDITION_ROWS + 1):
        form.fields[f"c_{n}_kind"] = forms.ChoiceField(
            label=_("Condition %(n)s") % {"n": n},
            required=False,
            choices=[("", "—"), *ConditionKind.choices],
        )
        form.fields[f"c_{n}_text"] = forms.CharField(
            label=_("Condition %(n)s: wording") % {"n": n}, required=False, max_length=10_000
        )


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
        entry: dict[str, Any] = {"kind": kind, "value": parts[1]}
        if kind == IdentifierKind.IP and len(parts) > 2:
            entry["observed_at"] = parts[2]
        elif kind != IdentifierKind.IP:
            entry["value"] = " ".join(parts[1:])
        found.append(entry)
    return found


def identifiers_text(identifiers: list[dict[str, Any]]) -> str:
    return "\n".join(
        " ".join(str(part) for part in (i["kind"], i["value"], i.get("observed_at") or "") if part)
        for i in identifiers
    )


def initial_from(request: AssistanceRequest) -> dict[str, Any]:
    """A draft's values, to edit it in the same form."""
    initial: dict[str, Any] = {
        name: getattr(request, name)
        for name in (
            "legal_basis",
            "requesting_authority",
            "central_authority",
            "summary",
            "purpose",
            "urgency",
            "urgency_reason",
            "confidential",
            "confidentiality_reasons",
            "desired_deadline",
            "language",
            "translation",
            "signer",
        )
    }
    initial["peer"] = request.requested_node
    for n, offence in enumerate(request.offences[:OFFENCE_ROWS], start=1):
        initial[f"offence_{n}_label"] = offence["label"]
        initial[f"offence_{n}_statute"] = offence["statute"]
        initial[f"offence_{n}_penalty"] = offence["max_penalty_years"]
        initial[f"offence_{n}_category"] = offence["category"]
    details = dict(request.details)
    details.update(details.pop("person", {}) or {})
    if "identifiers" in details:
        details["identifiers"] = identifiers_text(details["identifiers"])
    for n, condition in enumerate(details.pop("conditions", []) or [], start=1):
        initial[f"c_{n}_kind"], initial[f"c_{n}_text"] = condition["kind"], condition["text"]
    initial.update({f"d_{k}": v for k, v in details.items()})
    return initial


# ---------------------------------------------------------------- step forms


def payload_from_post(action: str, post: Any) -> dict[str, Any]:
    """The fields of one step's form, as the payload its schema checks."""
    schema = TRANSITIONS[action].payload
    names = set(schema.model_fields)
    payload: dict[str, Any] = {}
    for name in ("comment", "questions", "answers", "text", "kind"):
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


STEP_CHOICES = {
    "ground_choices": RefusalGround.choices,
    "condition_choices": ConditionKind.choices,
    "restriction_choices": RestrictionKind.choices,
    "ground_rows": range(1, GROUND_ROWS + 1),
    "condition_rows": range(1, CONDITION_ROWS + 1),
}
