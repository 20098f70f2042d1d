"""An item's bytes over HTTP, resumable: the page's download and the API's
content both come here (docs/evidence.md, "Resumable downloads").

The ETag is the item's SHA-256 (its bytes never change), so a client that
lost the connection asks again with `Range: bytes=N-` and `If-Range: "<sha256>"`
and gets 206 with the rest. An If-Range that does not match (or a date: the
validator here is the hash) gets the whole item, 200. A range that does not
overlap the item gets 416 with `Content-Range: bytes */size`, refused and
audited. Every request goes through `services.download`: the same policy,
conditions of use, custody and audit as a whole download."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from accord.core.audit import Actor
from accord.evidence import blobs, ranges, services
from accord.evidence.models import EvidenceItem


def etag(item: EvidenceItem) -> str:
    return f'"{item.sha256}"'


def wanted(request: HttpRequest, item: EvidenceItem) -> ranges.Wanted | None:
    """The range asked for, if it still applies to these bytes (If-Range)."""
    header = request.META.get("HTTP_RANGE", "")
    if not header:
        return None
    condition = request.META.get("HTTP_IF_RANGE")
    if condition is not None and condition.strip() != etag(item):
        return None
    return ranges.parse(header)


def serve(request: HttpRequest, actor: Actor, item: EvidenceItem, ip: str) -> HttpResponse:
    """The item's bytes (or the range asked for); other refusals are raised."""
    try:
        chunks = services.download(actor, item, ip=ip, wanted=wanted(request, item))
    except services.EvidenceRefused as exc:
        if exc.status != 416:
            raise
        response = JsonResponse({"detail": exc.message}, status=416)
        response["Content-Range"] = f"bytes */{item.size}"
        return response
    return attachment(item, chunks)


def attachment(item: EvidenceItem, chunks: blobs.Plaintext) -> HttpResponse:
    """The bytes, always as an attachment (never shown inline, whatever type
    the uploader claimed); the name as given, encoded safely by Django
    (`filename*=` for anything beyond plain printable ASCII: CR/LF, controls)."""
    response = StreamingHttpResponse(
        chunks, content_type=item.content_type, status=200 if chunks.whole else 206
    )
    response["Content-Length"] = str(chunks.stop - chunks.start)
    if not chunks.whole:
        span = ranges.Span(chunks.start, chunks.stop, item.size)
        response["Content-Range"] = span.content_range()
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag(item)
    response["Content-Disposition"] = content_disposition_header(True, item.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    # Streamed: the guards' type says HttpResponse, a StreamingHttpResponse serves alike.
    return response  # type: ignore[return-value]


__all__ = ["attachment", "etag", "serve", "wanted"]
