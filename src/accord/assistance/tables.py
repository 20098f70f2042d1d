"""The request list as a table: what identifies each request (reference,
the first line of its summary, its case), sortable by every column, a page
at a time, exportable to CSV.

The rows come from queries.with_list_columns: the summary and the case
title are there only where the user may read them, and the columns sort on
those values, so nothing hidden decides a row's place."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.db.models import Case, IntegerField, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accord.assistance import deadlines
from accord.assistance.deadlines import Deadline
from accord.assistance.models import AssistanceRequest, State
from accord.assistance.types import RequestType, Urgency
from accord.web.lists import ListTable, by_label, ordered, reference_cell

FIRST_LINE = 120  # characters of the summary's first line a row shows
# Most pressing first when sorted ascending.
URGENCY_RANK = (Urgency.EMERGENCY, Urgency.URGENT, Urgency.STANDARD)


def first_line(summary: str) -> str:
    return Truncator(summary.strip().splitlines()[0] if summary.strip() else "").chars(FIRST_LINE)


def next_deadline(row: AssistanceRequest) -> Deadline | None:
    """The earliest deadline not yet met, while the request has not ended."""
    pending = deadlines.running(row)
    return min(pending, key=lambda d: d.due_at) if pending else None


class RequestTable(ListTable):
    reference = tables.Column(verbose_name=gettext_lazy("Reference"), order_by=("reference",))
    summary = tables.Column(
        verbose_name=gettext_lazy("Summary"), accessor="summary_seen", empty_values=("",)
    )
    outgoing = tables.Column(verbose_name=gettext_lazy("Direction"))
    partner = tables.Column(verbose_name=gettext_lazy("Partner"), accessor="peer__node_id")
    request_type = tables.Column(verbose_name=gettext_lazy("Type"))
    urgency = tables.Column(verbose_name=gettext_lazy("Urgency"))
    state = tables.Column(verbose_name=gettext_lazy("State"))
    deadline = tables.Column(verbose_name=gettext_lazy("Next deadline"), accessor="next_due")
    case = tables.Column(
        verbose_name=gettext_lazy("Case"), accessor="case_title_seen", empty_values=("",)
    )

    class Meta(ListTable.Meta):
        attrs = {"class": "table", "data-testid": "request-table"}
        empty_text = gettext_lazy("No requests match.")

    # ------------------------------------------------------------ cells

    def render_reference(self, record: AssistanceRequest) -> SafeString:
        return reference_cell(reverse("assistance:detail", args=[record.pk]), record)

    def value_reference(self, record: AssistanceRequest) -> str:
        return record.reference

    def render_summary(self, value: str) -> SafeString:
        return format_html('<span title="{}">{}</span>', first_line(value), first_line(value))

    def value_summary(self, value: str) -> str:
        return first_line(value)

    def render_outgoing(self, value: bool) -> str:
        return _("outgoing") if value else _("incoming")

    def render_urgency(self, record: AssistanceRequest) -> SafeString:
        label = record.get_urgency_display()
        if record.urgency == Urgency.STANDARD:
            return format_html("{}", label)
        return format_html('<span class="pill off">{}</span>', label)

    def value_urgency(self, record: AssistanceRequest) -> str:
        return str(record.get_urgency_display())

    def render_state(self, record: AssistanceRequest) -> SafeString:
        return format_html(
            '<span class="pill state-{}" data-testid="state">{}</span>',
            record.state,
            record.get_state_display(),
        )

    def value_state(self, record: AssistanceRequest) -> str:
        return str(record.get_state_display())

    def render_deadline(self, record: AssistanceRequest) -> str:
        deadline = next_deadline(record)
        if deadline is None:
            return "—"
        now = timezone.now()
        if deadline.overdue(now):
            return format_html(
                '{}: <strong class="error">{}</strong>', deadline.label, _("overdue")
            )
        return format_html("{}: {}", deadline.label, timeuntil(deadline.due_at, now))

    def value_deadline(self, record: AssistanceRequest) -> str:
        deadline = next_deadline(record)
        if deadline is None:
            return ""
        return f"{deadline.label}: {deadline.due_at.isoformat()}"

    def render_case(self, record: AssistanceRequest, value: str) -> SafeString:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("cases:detail", args=[record.case_id]),
            Truncator(value).chars(40),
        )

    # ------------------------------------------------------------ order

    def order_outgoing(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        # Ascending: incoming first, as the tabs read.
        return ordered(queryset, "outgoing", is_descending)

    def order_partner(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return ordered(queryset, "peer__node_id", is_descending)

    def order_summary(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return ordered(queryset, "summary_seen", is_descending)

    def order_request_type(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return by_label(queryset, "request_type", RequestType.choices, is_descending)

    def order_state(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return by_label(queryset, "state", State.choices, is_descending)

    def order_urgency(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        rank = Case(
            *(When(urgency=code, then=Value(i)) for i, code in enumerate(URGENCY_RANK)),
            default=Value(len(URGENCY_RANK)),
            output_field=IntegerField(),
        )
        return ordered(queryset.annotate(urgency_rank=rank), "urgency_rank", is_descending)

    def order_deadline(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return ordered(queryset, "next_due", is_descending)

    def order_case(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return ordered(queryset, "case_title_seen", is_descending)
