"""Lists people work from: a filter form (django-filter), a table sorted by
any column, a page at a time (django-tables2), and a CSV export with the
same rows, filters and order.

A list's rows are always the restricted queryset its app's queries give
(need-to-know), and what each filter means is that app's `queries.narrow`:
this module only reads the form, orders, pages and writes rows out."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import django_filters
import django_tables2 as tables
from django.core.paginator import EmptyPage
from django.db.models import Case, CharField, Value, When
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

PER_PAGE = 25
MAX_PER_PAGE = 200
# A spreadsheet reads a cell starting with one of these as a formula
# (OWASP, "CSV Injection"); tab and carriage return start one in some too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ListFilter(django_filters.FilterSet):
    """A list's filter form, bound to the rows the user may list. Subclasses
    say how the checked values become their app's `queries.Filters`
    (`as_filters`) and which function applies them (`narrow`)."""

    def __init__(self, data: Any, queryset: Any, *, user: Any) -> None:
        super().__init__(data, queryset=queryset)
        self.user = user

    def checked(self) -> dict[str, Any]:
        """The values that passed the form's checks (a bad one is left out)."""
        self.errors  # noqa: B018 - runs the form's checks, as FilterSet.qs does
        return {key: value for key, value in self.form.cleaned_data.items() if value}

    def as_filters(self) -> Any:
        raise NotImplementedError

    def narrow(self, queryset: Any) -> Any:
        raise NotImplementedError

    def filter_queryset(self, queryset: Any) -> Any:
        return self.narrow(queryset)


class ListTable(tables.Table):
    """The shape every list shares: the project's table markup, each row
    carrying its record's reference (the browser tests find rows by it)."""

    class Meta:
        template_name = "web/table.html"
        attrs = {"class": "table"}


def configure(request: HttpRequest, table: ListTable) -> ListTable:
    """Order by the `sort` parameter and show the asked page (the last one
    past the end); the page size is bounded so that one request cannot ask
    for every row at once."""
    tables.RequestConfig(request, paginate=False).configure(table)
    per_page = min(max(_number(request.GET.get("per_page"), PER_PAGE), 1), MAX_PER_PAGE)
    try:
        table.paginate(page=_number(request.GET.get("page"), 1), per_page=per_page)
    except EmptyPage:
        table.paginate(page=table.paginator.num_pages, per_page=per_page)
    return table


def _number(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


def ordered(queryset: Any, key: str, descending: bool) -> tuple[Any, bool]:
    """A column's custom order (a Table's `order_<column>`). The reference is
    unique: rows with the same key keep one order, so no row shows on two
    pages."""
    sign = "-" if descending else ""
    return queryset.order_by(f"{sign}{key}", f"{sign}reference"), True


def by_label(queryset: Any, field: str, choices: Any, descending: bool) -> tuple[Any, bool]:
    """Sorted by the label the user reads (in their language), not the code."""
    key = f"{field}_label"
    label = Case(
        *(When(**{field: code}, then=Value(str(text))) for code, text in choices),
        default=Value(""),
        output_field=CharField(),
    )
    return ordered(queryset.annotate(**{key: label}), key, descending)


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula is
    prefixed with a quote."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a byte-order mark: spreadsheets then read the file as UTF-8
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_export(table: ListTable, name: str, record: Callable[[list[str]], None]) -> HttpResponse:
    """Every row of the table (not one page) in its order, as CSV: the header
    row first, then each row's values (the columns' `value_*`, never HTML).
    `record` audits the export with the references written out (the first
    column), before anything is sent."""
    rows = list(table.as_values())
    record([row[0] for row in rows[1:]])
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = HttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{name}-{stamp}.csv")
    return response


def reference_cell(url: str, record: Any) -> SafeString:
    """A row's reference, linked to its page, with its markings."""
    cell = format_html('<a href="{}">{}</a>', url, record.reference)
    if record.confidential:
        cell += format_html(' <span class="pill off">{}</span>', _("confidential"))
    if record.synthetic:
        cell += format_html(' <span class="pill">{}</span>', _("synthetic"))
    return cell
