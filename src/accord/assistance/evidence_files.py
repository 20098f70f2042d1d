"""Files that travel with a request are evidence items of the request
(docs/evidence.md): streamed into encrypted storage with their custody, and
sent to the partner by the evidence transfer (chunked, resumable, receipted).

- A response's files become items of the request on the responding node, and
  the response lists them (name, size, sha256) in its `files`: that list is
  what the replica shares; the bytes and their custody are the items'.
- Items the requesting node attached to its request (a court order, a photo
  array, a translation) go to the requested node when the request is
  submitted, right after the submission.

Neither path reads a file whole: an upload is a stream (Django spools one
over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file) that the evidence
storage encrypts chunk by chunk, refused before reading when its declared
size is over the limit."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.assistance.models import AssistanceRequest, ResponseFile
from accord.core.audit import Actor
from accord.evidence import api as evidence_api
from accord.evidence import blobs, custody, transfer
from accord.evidence import policy as evidence_policy
from accord.evidence import services as evidence
from accord.evidence import uploads as upload_limits
from accord.evidence.models import EvidenceItem, TransferStatus

MAX_FILES = 20
# As FileRef reads them on the partner's node (machine.FileRef).
REF_NAME = 255
REF_TYPE = 100


@dataclass(frozen=True)
class Upload:
    """One file as it came in: a readable stream and the size it declares."""

    name: str
    content_type: str
    stream: Any
    size: int | None = None

    @classmethod
    def of_file(cls, uploaded: Any) -> Upload:
        """A Django UploadedFile (in memory below 2.5 MB, a temporary file above)."""
        return cls(uploaded.name or "", uploaded.content_type or "", uploaded, uploaded.size)

    @classmethod
    def of_bytes(cls, name: str, content_type: str, data: bytes) -> Upload:
        return cls(name, content_type, io.BytesIO(data), len(data))


def add_response_files(
    actor: Actor,
    request: AssistanceRequest,
    payload: dict[str, Any],
    uploads: list[Upload],
    ip: str,
) -> tuple[dict[str, Any], list[EvidenceItem]]:
    """Each file as an evidence item of the request, 'collected' as the
    provider's production by the responding officer; the payload then lists
    them. Call inside the step's transaction: a refusal undoes the step."""
    if not uploads:
        return ({**payload, "files": []} if "files" in payload else payload), []
    if len(uploads) > MAX_FILES:
        raise ValidationError(_("Attach at most %(n)s files.") % {"n": MAX_FILES})
    now = custody.format_time(timezone.now())
    how = evidence.Collected(how="production", by=evidence.actor_name(actor), when=now)
    items = []
    for upload in uploads:
        new = evidence.NewItem(
            name=upload.name,
            content_type=upload.content_type,
            description=_("Sent with the response to %(ref)s") % {"ref": request.reference},
            collected=how,
        )
        with upload.stream:
            items.append(
                evidence.add_item(
                    actor, upload.stream, new, request=request, declared_size=upload.size, ip=ip
                )
            )
    return {**payload, "files": [file_ref(item) for item in items]}, items


def too_large(http_request: HttpRequest) -> str:
    """Why a step's body is refused unread ('' if it is not): declared larger
    than the biggest evidence item (the upload handler then parsed nothing)."""
    declared = evidence_api.declared_length(http_request) or 0
    if getattr(http_request, "evidence_too_large", False) or declared > upload_limits.body_limit():
        return blobs.too_large(blobs.max_item_bytes()).message
    return ""


def refuse_upload(actor: Actor, request: AssistanceRequest, message: str, ip: str) -> NoReturn:
    """Refused, audited, before a byte of the body was read."""
    evidence.refuse(actor, None, evidence_policy.ADD, message, 413, ip, request=request.reference)


def file_ref(item: EvidenceItem) -> dict[str, Any]:
    return {
        "name": item.name.strip()[:REF_NAME].strip() or item.sha256,
        "content_type": item.content_type[:REF_TYPE],
        "size": item.size,
        "sha256": item.sha256,
    }


def send_items(items: list[EvidenceItem], request: AssistanceRequest, ip: str = "") -> None:
    """Start the evidence transfer of each item to the request's partner, as
    the node (the step that sends them was the user's, and is audited)."""
    node = Actor.system("assistance")
    for item in items:
        transfer.transfer_item(node, item, request.peer, ip=ip)


def send_attachments(request: AssistanceRequest, ip: str = "") -> int:
    """On submission: the items this node attached to its request, not yet on
    their way, follow the submission to the partner."""
    waiting = [
        item
        for item in EvidenceItem.objects.filter(request=request, purged_at=None).order_by(
            "created_at"
        )
        if not item.transfers.filter(
            peer=request.peer, status__in=[TransferStatus.ACTIVE, TransferStatus.DONE]
        ).exists()
    ]
    send_items(waiting, request, ip)
    return len(waiting)


def delete_files(request: AssistanceRequest) -> int:
    """The provider required deletion: the listed files are marked deleted;
    the items' conditions refuse every use and the clock purges them
    (evidence/retention.py)."""
    return request.files.filter(deleted=False).update(deleted=True)


def item_for(request: AssistanceRequest, sha256: str) -> EvidenceItem | None:
    """The evidence item holding a listed file on this node (None while it is
    still on its way)."""
    return (
        EvidenceItem.objects.filter(request=request, sha256=sha256)
        .order_by(F("purged_at").desc(nulls_first=True), "created_at")
        .first()
    )


def listed(request: AssistanceRequest) -> list[tuple[ResponseFile, EvidenceItem | None]]:
    """The response files with the item that holds each here, for the page."""
    items = {
        item.sha256: item
        for item in EvidenceItem.objects.filter(request=request).order_by(
            F("purged_at").asc(nulls_last=True), "-created_at"
        )
    }
    return [(row, items.get(row.sha256)) for row in request.files.all()]
