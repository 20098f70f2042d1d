from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from accord.core.identity import this_node


@require_GET
def well_known(request: HttpRequest) -> JsonResponse:
    """This node's public identity (DESIGN.md, Federation protocol: Identity)."""
    document = this_node().public_document()
    document["endpoint"] = request.build_absolute_uri("/")
    return JsonResponse(document, json_dumps_params={"ensure_ascii": False})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "node_id": this_node().node_id})
