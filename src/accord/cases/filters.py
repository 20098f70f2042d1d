"""The case list's filter form (django-filter). What each filter means is
`queries.narrow`'s, shared with the API and the command line: this FilterSet
reads and checks the query string, labels the fields in the user's
language, and hands the checked values to it."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from accord.assistance.types import OffenceCategory
from accord.cases import queries
from accord.cases.models import Case, CaseStatus
from accord.web.lists import ListFilter


class CaseFilter(ListFilter):
    """Bound to the cases the user may list (queries.list_cases)."""

    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=CaseStatus.choices, empty_label=_("any")
    )
    category = django_filters.ChoiceFilter(
        label=_("Offence category"), choices=OffenceCategory.choices, empty_label=_("any")
    )
    q = django_filters.CharFilter(
        label=_("Search: reference, title or a value the case holds"),
        widget=forms.TextInput(attrs={"type": "search"}),
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def as_filters(self) -> queries.Filters:
        values = self.checked()
        return queries.Filters(
            status=values.get("status", ""),
            category=values.get("category", ""),
            search=values.get("q", ""),
        )

    def narrow(self, queryset: Any) -> Any:
        return queries.narrow(self.user, queryset, self.as_filters())
