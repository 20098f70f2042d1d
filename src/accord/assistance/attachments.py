"""Files that travel with a response: checked and stored on the way in,
sent ahead of the response in chunks, put together and checked on arrival,
removed when the provider requires it."""

from __future__ import annotations

import base64
import functools
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accord.assistance import files
from accord.assistance.models import (
    AssistanceRequest,
    FileChunk,
    ResponseFile,
)
from accord.assistance.wire import CHUNK_KIND, ChunkBody
from accord.federation import services as federation
from accord.federation.kinds import Refusal
from accord.federation.models import Peer

MAX_FILES = 20
MAX_FILE_BYTES = 25 * 1024 * 1024


def attach_files(
    request: AssistanceRequest, payload: dict[str, Any], uploads: list[tuple[str, str, bytes]]
) -> dict[str, Any]:
    if not uploads:
        return {**payload, "files": []} if "files" in payload else payload
    if len(uploads) > MAX_FILES:
        raise ValidationError(_("Attach at most %(n)s files.") % {"n": MAX_FILES})
    refs = []
    for name, content_type, data in uploads:
        if len(data) > MAX_FILE_BYTES:
            raise ValidationError(
                _("%(name)s is larger than 25 MB; send it as evidence.") % {"name": name}
            )
        digest = files.store(data)
        # As FileRef reads them on the partner's node (stripped, not empty).
        kind = (content_type or "").strip()[:100].strip() or "application/octet-stream"
        refs.append(
            {
                "name": name.strip()[:255].strip() or digest,
                "content_type": kind,
                "size": len(data),
                "sha256": digest,
            }
        )
    return {**payload, "files": refs}


def send_files(request: AssistanceRequest, payload: dict[str, Any]) -> None:
    """Each file travels in chunks ahead of the response that lists it."""
    for ref in payload.get("files", []):
        pieces = files.chunks(files.load(ref["sha256"]), files.chunk_bytes())
        bodies = [
            ChunkBody(
                request_id=str(request.pk),
                sha256=ref["sha256"],
                index=i,
                total=len(pieces),
                data=base64.b64encode(piece).decode(),
            )
            for i, piece in enumerate(pieces)
        ]
        for body in bodies:
            federation.enqueue(request.peer, CHUNK_KIND, body)


def store_chunk(peer: Peer, body: ChunkBody) -> None:
    if body.index >= body.total:
        raise Refusal("invalid_chunk: index beyond total")
    if not AssistanceRequest.objects.filter(pk=body.request_id, peer=peer, outgoing=True).exists():
        raise Refusal("unknown_request: a file for a request this node did not send")
    FileChunk.objects.update_or_create(
        request_id=uuid.UUID(body.request_id),
        sha256=body.sha256,
        index=body.index,
        defaults={"data": base64.b64decode(body.data)},
    )


def assemble(request: AssistanceRequest, ref: dict[str, Any]) -> None:
    """Put an arrived file together and check it is intact before keeping it."""
    from accord.federation.kinds import Refusal

    if files.exists(ref["sha256"]):
        FileChunk.objects.filter(request_id=request.pk, sha256=ref["sha256"]).delete()
        return
    pieces = FileChunk.objects.filter(request_id=request.pk, sha256=ref["sha256"]).order_by("index")
    data = b"".join(bytes(piece.data) for piece in pieces)
    if len(data) != ref["size"] or files.sha256_of(data) != ref["sha256"]:
        raise Refusal(f"file_damaged: {ref['name']} does not match its SHA-256")
    files.store(data)
    pieces.delete()


def delete_files(request: AssistanceRequest) -> int:
    """The provider required deletion: remove every file it sent for this request."""
    rows = list(request.files.filter(deleted=False))
    for row in rows:
        row.deleted = True
        row.save(update_fields=["deleted"])
        if not ResponseFile.objects.filter(sha256=row.sha256, deleted=False).exists():
            transaction.on_commit(functools.partial(files.remove, row.sha256))
    return len(rows)
