"""The request list page and its CSV export: the same rows (what the user
may list, filtered), the same order; each read is audited."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accord.assistance import policy, queries
from accord.assistance.filters import RequestFilter
from accord.assistance.tables import RequestTable
from accord.core.audit import Actor
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.web import lists
from accord.web.guards import permission_required, signed_in_user


def _table(request: HttpRequest) -> tuple[RequestTable, RequestFilter, Actor]:
    actor = Actor.of(signed_in_user(request))
    listed = queries.list_requests(actor, queries.Filters(), ip=client_ip(request))
    chosen = RequestFilter(request.GET, listed, user=actor.user)
    rows = queries.with_list_columns(actor.user, chosen.qs).order_by("-created_at", "reference")
    return lists.configure(request, RequestTable(rows)), chosen, actor


@permission_required(Permission.VIEW_REQUESTS)
def request_list(request: HttpRequest) -> HttpResponse:
    table, chosen, actor = _table(request)
    filters = chosen.as_filters()
    queries.audit_list(actor, table.paginator.count, filters, client_ip(request))
    context: dict[str, Any] = {
        "table": table,
        "filter": chosen,
        "filters": filters,
        "now": timezone.now(),
        "export_query": request.GET.urlencode(),
        "can_create": policy.allowed(request.user, policy.CREATE) is None,
    }
    return render(request, "assistance/list.html", context)


@permission_required(Permission.VIEW_REQUESTS)
def request_export(request: HttpRequest) -> HttpResponse:
    """Every row the list shows across its pages, as CSV."""
    table, chosen, actor = _table(request)
    filters, ip = chosen.as_filters(), client_ip(request)
    return lists.csv_export(
        table, "requests", lambda references: queries.audit_export(actor, references, filters, ip)
    )
