"""Forms for the case pages. They only shape what the user typed into the
dicts the services take; the services hold the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accord.assistance.types import OffenceCategory
from accord.cases.models import TITLE, Case, SubjectKind, TitleLanguage
from accord.cases.observables import observable_types


def type_choices() -> list[tuple[str, Any]]:
    """The observable types, from the registry (never a list of our own)."""
    return [(kind.code, kind.label) for kind in observable_types()]


class CaseForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=TITLE)
    title_language = forms.ChoiceField(
        label=_("Language of the title"), choices=TitleLanguage.choices
    )
    title_translation = forms.CharField(
        label=_("Translated title (optional)"), max_length=TITLE, required=False
    )
    categories = forms.MultipleChoiceField(
        label=_("Offence categories"),
        choices=OffenceCategory.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    confidential = forms.BooleanField(
        label=_("Confidential: only its team, the central authority and auditors know it exists"),
        required=False,
    )

    def to_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


def initial_from(case: Case) -> dict[str, Any]:
    return {
        "title": case.title,
        "title_language": case.title_language,
        "title_translation": case.title_translation,
        "categories": case.categories,
        "confidential": case.confidential,
    }


class SubjectForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=SubjectKind.choices)
    display_name = forms.CharField(label=_("Name"), max_length=200, required=False)
    family_name = forms.CharField(label=_("Family name"), max_length=200, required=False)
    given_name = forms.CharField(label=_("Given name"), max_length=200, required=False)
    birth_date = forms.DateField(label=_("Date of birth"), required=False)
    document_type = forms.ChoiceField(label=_("Identity document"), required=False)
    document_number = forms.CharField(label=_("Document number"), max_length=100, required=False)
    document_country = forms.CharField(
        label=_("Issuing country (ISO code)"), max_length=3, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["document_type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "—"), *type_choices()]

    def to_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        documents = []
        if data.get("document_type") and data.get("document_number"):
            documents.append(
                {
                    "code": data["document_type"],
                    "value": data["document_number"],
                    "country": data.get("document_country", ""),
                }
            )
        return {
            "kind": data["kind"],
            "display_name": data.get("display_name", ""),
            "family_name": data.get("family_name", ""),
            "given_name": data.get("given_name", ""),
            "birth_date": data.get("birth_date"),
            "documents": documents,
        }
