"""The bulk path's HTTP endpoints (docs/evidence.md, "Bulk transfer"): a
peer asks what this node holds of an item it offered, and sends its parts.
Authenticated by the sending node's signature on each request, not by a
session; the rules are in bulk_inbound."""

from __future__ import annotations

import uuid

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from accord.core.signals import client_ip
from accord.evidence import bulk_body, bulk_inbound, bulk_wire
from accord.evidence.bulk_wire import PartRefused


def _headers(request: HttpRequest) -> dict[str, str]:
    return {name: request.headers[name] for name in bulk_wire.HEADERS if name in request.headers}


def _refused(refused: PartRefused) -> JsonResponse:
    return JsonResponse({"reason": refused.reason, "detail": refused.detail}, status=refused.status)


@csrf_exempt  # signed by the sending node, not a session
@require_GET
def transfer_state(request: HttpRequest, item_id: uuid.UUID) -> JsonResponse:
    ip = client_ip(request)
    try:
        peer = bulk_inbound.authenticate(_headers(request), "GET", request.path_info, ip)
        return JsonResponse(bulk_inbound.state(peer, item_id, ip))
    except PartRefused as refused:
        return _refused(refused)


@csrf_exempt  # signed by the sending node, not a session
@require_http_methods(["PUT"])
def part(request: HttpRequest, item_id: uuid.UUID, index: int) -> JsonResponse:
    ip = client_ip(request)
    headers = _headers(request)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    try:
        peer = bulk_inbound.authenticate(headers, "PUT", request.path_info, ip)
        sha256 = headers[bulk_wire.SHA256_HEADER]
        body = bulk_body.reader(request)
        result = bulk_inbound.store_part(peer, item_id, index, body, length, sha256, ip)
    except PartRefused as refused:
        return _refused(refused)
    except DatabaseError:
        return JsonResponse({"reason": "unavailable", "detail": "try again later"}, status=503)
    return JsonResponse(result)
