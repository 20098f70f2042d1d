"""The request list's filter form (django-filter). What each filter means
is `queries.narrow`'s, shared with the API and the command line: this
FilterSet reads and checks the query string, labels the fields in the
user's language, and hands the checked values to it."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from accord.assistance import queries
from accord.assistance.models import AssistanceRequest, State
from accord.assistance.types import OffenceCategory, RequestType, Urgency

DIRECTIONS = (("incoming", _("Incoming")), ("outgoing", _("Outgoing")))
ANY = _("any")


def _choice(label: Any, choices: Any) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(label=label, choices=choices, empty_label=ANY)


def _text(label: Any, **attrs: str) -> django_filters.CharFilter:
    return django_filters.CharFilter(
        label=label, widget=forms.TextInput(attrs={"type": "search", **attrs})
    )


class RequestFilter(django_filters.FilterSet):
    """Bound to the rows the user may list (queries.list_requests)."""

    direction = _choice(_("Direction"), DIRECTIONS)
    state = _choice(_("State"), State.choices)
    type = _choice(_("Type"), RequestType.choices)
    urgency = _choice(_("Urgency"), Urgency.choices)
    topic = _choice(_("Offence category"), OffenceCategory.choices)
    q = _text(_("Search: reference, summary or an identifier"))
    case = _text(_("Case"), placeholder=str(_("case reference")))
    overdue = django_filters.BooleanFilter(label=_("Overdue only"), widget=forms.CheckboxInput)

    class Meta:
        model = AssistanceRequest
        fields: list[str] = []

    def __init__(self, data: Any, queryset: Any, *, user: Any) -> None:
        super().__init__(data, queryset=queryset)
        self.user = user

    def as_filters(self) -> queries.Filters:
        """The values that passed the form's checks (a bad one is ignored)."""
        self.errors  # noqa: B018 - runs the form's checks, as FilterSet.qs does
        values = getattr(self.form, "cleaned_data", {})
        return queries.Filters(
            direction=values.get("direction") or "",
            state=values.get("state") or "",
            request_type=values.get("type") or "",
            urgency=values.get("urgency") or "",
            overdue=bool(values.get("overdue")),
            topic=values.get("topic") or "",
            search=values.get("q") or "",
            case=values.get("case") or "",
        )

    def filter_queryset(self, queryset: Any) -> Any:
        return queries.narrow(self.user, queryset, self.as_filters())
