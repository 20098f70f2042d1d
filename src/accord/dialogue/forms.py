"""The commitment form on a dialogue's page. Bound to a refused submission it
shows what was typed, with each problem beside its field in the user's
language (as the request forms do: accord.web.schema_errors); the service
checks everything again and has the last word."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accord.core import dates
from accord.core.indicators import all_indicators
from accord.dialogue.types import Topic


class CommitmentForm(forms.Form):
    title_en = forms.CharField(label=_("Commitment (English)"), max_length=500)
    title_zh = forms.CharField(label=_("Commitment (Chinese)"), max_length=500, required=False)
    owner_node = forms.ChoiceField(label=_("Owed by"))  # the participating agencies: __init__
    due_date = forms.DateField(
        label=_("Due date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    confirm_past = forms.BooleanField(
        label=_("The due date has already passed: record it anyway (it cannot be corrected later)"),
        required=False,
    )
    indicator = forms.ChoiceField(label=_("Indicator"), required=False)  # filled in __init__
    indicator_topic = forms.ChoiceField(label=_("Topic"), required=False)
    indicator_target = forms.FloatField(
        label=_("Target"), required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )

    def __init__(
        self,
        sides: tuple[str, ...],
        names: dict[str, str] | None = None,
        *args: Any,
        prefix_id: str = "",
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.auto_id = f"commitment-{prefix_id}-%s"
        fields = self.fields
        fields["owner_node"] = forms.ChoiceField(
            label=_("Owed by"), choices=[(side, (names or {}).get(side, side)) for side in sides]
        )
        fields["indicator"] = forms.ChoiceField(
            label=_("Indicator"),
            required=False,
            choices=[("", "—"), *((i.code, i.label) for i in all_indicators())],
        )
        fields["indicator_topic"] = forms.ChoiceField(
            label=_("Topic"), required=False, choices=[("", _("all")), *Topic.choices]
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        due = data.get("due_date")
        problem = dates.ahead_problem(due, past_allowed=bool(data.get("confirm_past")))
        if problem:
            self.add_error("due_date", problem)
        if data.get("indicator_target") is not None and not data.get("indicator"):
            self.add_error("indicator", _("Choose the indicator the target is for."))
        return data

    def service_data(self) -> dict[str, Any]:
        """What the service takes, from a valid form."""
        data = self.cleaned_data
        links = []
        if data.get("indicator"):
            links.append(
                {
                    "code": data["indicator"],
                    "topic": data.get("indicator_topic") or "",
                    "target": data.get("indicator_target"),
                }
            )
        return {
            "title_en": data["title_en"],
            "title_zh": data.get("title_zh", ""),
            "owner_node": data["owner_node"],
            "due_date": data["due_date"],
            "confirm_past": bool(data.get("confirm_past")),
            "indicators": links,
        }
