"""The first upload handler of every multipart request: a body declared larger
than the biggest evidence item this node accepts (plus room for the form
around it) is not read at all. The view then finds no file and refuses with
413 and the reason; nothing was written to memory or to a temporary file.
A form posted by a browser fails the CSRF check first (its token is in the
unread body): `csrf_failure` (settings.CSRF_FAILURE_VIEW) says 413 then too."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.datastructures import MultiValueDict
from django.views import csrf

# Room for the multipart envelope and the text fields around the file.
FORM_SLACK = 65_536


def body_limit() -> int:
    from accord.evidence.blobs import max_item_bytes

    return max_item_bytes() + FORM_SLACK


class RefuseOversized(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict[str, Any]] | None:
        if content_length > body_limit():
            # Seen by the views, and by the CSRF check, which finds no token in
            # an unread body: `csrf_failure` then says what was wrong.
            self.request.evidence_too_large = True  # type: ignore[union-attr]
            return QueryDict(encoding=encoding), MultiValueDict()  # nothing parsed, nothing read
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data  # the next handler stores it

    def file_complete(self, file_size: int) -> None:
        return None


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF failure page, except for a body refused unread above: its
    token was never read, and the sender is told the real reason (413)."""
    if getattr(request, "evidence_too_large", False):
        from accord.evidence.blobs import max_item_bytes, too_large

        message = too_large(max_item_bytes()).message
        _audit_refusal(request, message)
        return render(request, "evidence/too_large.html", {"message": message}, status=413)
    return csrf.csrf_failure(request, reason)


def _audit_refusal(request: HttpRequest, message: str) -> None:
    from accord.core import audit
    from accord.core.audit import Actor, AuditAction
    from accord.core.models import User
    from accord.core.signals import client_ip

    user = getattr(request, "user", None)
    actor = Actor.of(user) if isinstance(user, User) else Actor(label="anonymous")
    audit.record(
        actor,
        AuditAction.EVIDENCE_REFUSED,
        target_type="evidence.evidenceitem",
        data={"action": "add", "reason": message, "status": 413, "path": request.path[:200]},
        ip=client_ip(request),
    )
