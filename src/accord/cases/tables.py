"""The case list as a table: sortable by every column, a page at a time,
exportable to CSV. The rows are what the user may list (queries.list_cases):
a listed case shows its reference, title, status and opening date."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy

from accord.cases.models import Case, CaseStatus
from accord.web.lists import ListTable, by_label, ordered, reference_cell


class CaseTable(ListTable):
    reference = tables.Column(verbose_name=gettext_lazy("Reference"))
    title = tables.Column(verbose_name=gettext_lazy("Title"))
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    created_at = tables.DateColumn(verbose_name=gettext_lazy("Opened"), format="Y-m-d")

    class Meta(ListTable.Meta):
        attrs = {"class": "table", "data-testid": "case-table"}
        empty_text = gettext_lazy("No cases match.")

    def render_reference(self, record: Case) -> SafeString:
        return reference_cell(reverse("cases:detail", args=[record.pk]), record)

    def value_reference(self, record: Case) -> str:
        return record.reference

    def render_title(self, record: Case) -> SafeString:
        title = format_html('<span lang="{}">{}</span>', record.title_language, record.title)
        if record.title_translation:
            title += format_html(' <span class="muted">· {}</span>', record.title_translation)
        return title

    def value_title(self, record: Case) -> str:
        if record.title_translation:
            return f"{record.title} · {record.title_translation}"
        return record.title

    def render_status(self, record: Case) -> SafeString:
        return format_html(
            '<span class="pill state-{}">{}</span>', record.status, record.get_status_display()
        )

    def value_status(self, record: Case) -> str:
        return str(record.get_status_display())

    def value_created_at(self, record: Case) -> str:
        return record.created_at.date().isoformat()

    def order_title(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return ordered(queryset, "title", is_descending)

    def order_status(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return by_label(queryset, "status", CaseStatus.choices, is_descending)

    def order_created_at(self, queryset: Any, is_descending: bool) -> tuple[Any, bool]:
        return ordered(queryset, "created_at", is_descending)
