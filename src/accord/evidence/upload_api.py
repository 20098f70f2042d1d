"""JSON API for resumable uploads (resumable.py; docs/evidence.md,
"Resumable uploads"): start a session with the declared name, size and
SHA-256, PUT the parts in order (Content-Range, or ?offset=), GET the session
for the offset to resume from, then finish it into an item. A part's body is
the raw bytes (application/octet-stream), read as a stream: never parsed,
never whole in memory, not read at all when refused."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from accord.core.ijson import Count
from accord.core.signals import client_ip
from accord.evidence import api, queries, resumable, services
from accord.evidence.models import NAME, UploadSession

router = Router(tags=["evidence"])

PART_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class UploadIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME)
    size: Count
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str = Field(default="application/octet-stream", max_length=255)
    description: str = Field(default="", max_length=10_000)
    how: str = Field(default="", max_length=services.FIELD)
    where: str = Field(default="", max_length=services.FIELD)
    by: str = Field(default="", max_length=services.FIELD)
    legal_basis: str = Field(default="", max_length=services.FIELD)
    when: str = Field(default="", max_length=services.FIELD)

    def declared(self) -> resumable.Declared:
        new = services.NewItem(
            name=self.name,
            content_type=self.content_type,
            description=self.description,
            collected=services.Collected(**{key: getattr(self, key) for key in services.COLLECTED}),
        )
        return resumable.Declared(new, self.size, self.sha256)


def _session(request: HttpRequest, upload_id: UUID) -> UploadSession:
    try:
        return queries.open_upload(api._actor(request), upload_id, ip=client_ip(request))
    except UploadSession.DoesNotExist:
        raise Http404 from None


def _start(request: HttpRequest, payload: UploadIn, owner: dict[str, Any]) -> Status:
    actor, ip = api._actor(request), client_ip(request)
    session = resumable.start(actor, payload.declared(), ip=ip, **owner)
    return Status(201, resumable.describe(session))


@router.post("/evidence/cases/{case_id}/uploads", response={201: dict[str, Any]})
def start_for_case(request: HttpRequest, case_id: UUID, payload: UploadIn) -> Status:
    return _start(request, payload, {"case": api._case(request, case_id)})


@router.post("/evidence/requests/{request_id}/uploads", response={201: dict[str, Any]})
def start_for_request(request: HttpRequest, request_id: UUID, payload: UploadIn) -> Status:
    return _start(request, payload, {"request": api._request(request, request_id)})


@router.get("/evidence/uploads/{upload_id}", response=dict[str, Any])
def get_upload(request: HttpRequest, upload_id: UUID) -> dict[str, Any]:
    """The session; `offset` is where the next part goes (resume from there)."""
    return resumable.describe(_session(request, upload_id))


@router.put("/evidence/uploads/{upload_id}", response=dict[str, Any], openapi_extra=PART_BODY)
def put_part(request: HttpRequest, upload_id: UUID, offset: Count | None = None) -> dict[str, Any]:
    session = _session(request, upload_id)
    where: int | str | None = request.headers.get("Content-Range") or offset
    done = resumable.append(
        api._actor(request),
        session,
        request,
        length=api.declared_length(request),
        where=where,
        ip=client_ip(request),
    )
    return resumable.describe(done)


@router.post("/evidence/uploads/{upload_id}/finish", response={201: dict[str, Any]})
def finish(request: HttpRequest, upload_id: UUID) -> Status:
    session = _session(request, upload_id)
    item = resumable.finish(api._actor(request), session, ip=client_ip(request))
    return Status(201, api.detail(item, request.user))


@router.delete("/evidence/uploads/{upload_id}", response=dict[str, Any])
def cancel(request: HttpRequest, upload_id: UUID) -> dict[str, Any]:
    session = _session(request, upload_id)
    return resumable.describe(resumable.cancel(api._actor(request), session, ip=client_ip(request)))
