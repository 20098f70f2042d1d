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
from accord.web.lists import ListFilter

DIRECTIONS = (("incoming", _("Incoming")), ("outgoing", _("Outgoing")))
ANY = _("any")


def _choice(label: Any, choices: Any) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(label=label, choices=choices, empty_label=ANY)


def _text(label: Any, **attrs: Any) -> django_filters.CharFilter:
    return django_filters.CharFilter(
        label=label, widget=forms.TextInput(attrs={"type": "search", **attrs})
    )


class RequestFilter(ListFilter):
    """Bound to the rows the user may list (queries.list_requests)."""

    direction = _choice(_("Direction"), DIRECTIONS)
    state = _choice(_("State"), State.choices)
    type = _choice(_("Type"), RequestType.choices)
    urgency = _choice(_("Urgency"), Urgency.choices)
    topic = _choice(_("Offence category"), OffenceCategory.choices)
    q = _text(_("Search: reference, summary or an identifier"))
    # Lazy: the placeholder is read in the user's language when the form is shown.
    case = _text(_("Case"), placeholder=_("case reference"))
    overdue = django_filters.BooleanFilter(label=_("Overdue only"), widget=forms.CheckboxInput)

    class Meta:
        model = AssistanceRequest
        fields: list[str] = []

    def as_filters(self) -> queries.Filters:
        values = self.checked()
        return queries.Filters(
            direction=values.get("direction", ""),
            state=values.get("state", ""),
            request_type=values.get("type", ""),
            urgency=values.get("urgency", ""),
            overdue=bool(values.get("overdue")),
            topic=values.get("topic", ""),
            search=values.get("q", ""),
            case=values.get("case", ""),
        )

    def narrow(self, queryset: Any) -> Any:
        return queries.narrow(self.user, queryset, self.as_filters())
