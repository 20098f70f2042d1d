"""Lists people work from (django-tables2): sorted by any column, a page at
a time, and exported to CSV with the same rows, filters and order.

A list's rows are always the restricted queryset its app's queries give
(need-to-know): this module only orders, pages and writes them out."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

import django_tables2 as tables
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header

PER_PAGE = 25
MAX_PER_PAGE = 200
# A spreadsheet reads a cell starting with one of these as a formula
# (OWASP, "CSV Injection"); tab and carriage return start one in some too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ListTable(tables.Table):
    """The shape every list shares: the project's table markup, each row
    carrying its record's reference (the browser tests find rows by it)."""

    class Meta:
        template_name = "web/table.html"
        attrs = {"class": "table"}


def configure(request: HttpRequest, table: ListTable) -> ListTable:
    """Order by the `sort` parameter and show the asked page; the page size
    is bounded so one request cannot ask for every row at once."""
    try:
        per_page = int(request.GET.get("per_page", PER_PAGE))
    except ValueError:
        per_page = PER_PAGE
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    tables.RequestConfig(request, paginate={"per_page": per_page}).configure(table)
    table.per_page = per_page
    return table


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


def export_rows(table: ListTable) -> list[list[Any]]:
    """Every row of the table (not one page) in its order: the header row
    first, then each row's values (the columns' `value_*`, never HTML)."""
    return list(table.as_values())


def csv_response(rows: list[list[Any]], name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
