"""An item's bytes over HTTP, resumable: the page's download and the API's
content both come here (docs/evidence.md, "Resumable downloads").

The ETag is the item's SHA-256 (its bytes never change), so a client that
lost the connection asks again with `Range: bytes=N-` and `If-Range: "<sha256>"`
and gets 206 with the rest. An If-Range that does not match (or a date: the
validator here is the hash) gets the whole item, 200. A range that does not
overlap the item gets 416 with `Content-Range: bytes */size`, refused and
audited. Every request goes through `services.download`: the same policy,
conditions of use, custody and audit as a whole download.

A court bundle is served the same way from the copy kept of it
(`exports.py`), its ETag the bundle's SHA-256."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from accord.core.audit import Actor
from accord.evidence import blobs, exports, ranges, services
from accord.evidence.models import EvidenceItem, KeptBundle


def etag(sha256: str) -> str:
    return f'"{sha256}"'


def wanted(request: HttpRequest, sha256: str) -> ranges.Wanted | None:
    """The range asked for, if it still applies to these bytes (If-Range)."""
    header = request.META.get("HTTP_RANGE", "")
    if not header:
        return None
    condition = request.META.get("HTTP_IF_RANGE")
    if condition is not None and condition.strip() != etag(sha256):
        return None
    return ranges.parse(header)


def serve(request: HttpRequest, actor: Actor, item: EvidenceItem, ip: str) -> HttpResponse:
    """The item's bytes (or the range asked for); other refusals are raised."""
    try:
        chunks = services.download(actor, item, ip=ip, wanted=wanted(request, item.sha256))
    except services.EvidenceRefused as exc:
        return unsatisfiable(exc, item.size)
    return attachment(item, chunks)


def serve_bundle(
    request: HttpRequest, actor: Actor, kept: KeptBundle, ip: str, location: str
) -> HttpResponse:
    """A kept court bundle (or the range asked for); other refusals are raised."""
    try:
        chunks = exports.fetch(actor, kept, wanted=wanted(request, kept.sha256), ip=ip)
    except services.EvidenceRefused as exc:
        return unsatisfiable(exc, kept.size)
    return bundle_attachment(kept, chunks, location)


def unsatisfiable(exc: services.EvidenceRefused, size: int) -> HttpResponse:
    if exc.status != 416:
        raise exc
    response = JsonResponse({"detail": exc.message}, status=416)
    response["Content-Range"] = f"bytes */{size}"
    return response


def attachment(item: EvidenceItem, chunks: blobs.Plaintext) -> HttpResponse:
    return respond(chunks, name=item.name, content_type=item.content_type, sha256=item.sha256)


def bundle_attachment(kept: KeptBundle, chunks: blobs.Plaintext, location: str) -> HttpResponse:
    """The bundle, with where to fetch it again (Content-Location, RFC 9110
    §8.7): the first response may be cut off like any later one."""
    zip_type = "application/zip"
    response = respond(chunks, name=exports.NAME, content_type=zip_type, sha256=kept.sha256)
    response["Content-Location"] = location
    return response


def respond(chunks: blobs.Plaintext, *, name: str, content_type: str, sha256: str) -> HttpResponse:
    """The bytes, always as an attachment (never shown inline, whatever type
    the uploader claimed); the name as given, encoded safely by Django
    (`filename*=` for anything beyond plain printable ASCII: CR/LF, controls)."""
    response = StreamingHttpResponse(
        chunks, content_type=content_type, status=200 if chunks.whole else 206
    )
    response["Content-Length"] = str(chunks.stop - chunks.start)
    if not chunks.whole:
        span = ranges.Span(chunks.start, chunks.stop, chunks.blob.size)
        response["Content-Range"] = span.content_range()
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag(sha256)
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    # Streamed: the guards' type says HttpResponse, a StreamingHttpResponse serves alike.
    return response  # type: ignore[return-value]


__all__ = ["attachment", "bundle_attachment", "etag", "serve", "serve_bundle", "wanted"]
