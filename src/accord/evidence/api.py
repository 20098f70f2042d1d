"""JSON API for evidence: the same services and queries as the pages and the
CLI, so the same rules, custody records and audit.

An upload is multipart (field `file`, plus `description`, `name`,
`content_type`, `how`, `where`, `by`, `legal_basis`, `when`). The handler
takes no parsed body: it checks the permission, the case or request and the
declared Content-Length first, and only then lets Django read the body (files
over FILE_UPLOAD_MAX_MEMORY_SIZE go to a temporary file, never into memory)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from accord.core.audit import Actor
from accord.core.roles import Permission
from accord.core.services import require
from accord.core.signals import client_ip
from accord.evidence import (
    blobs,
    conditions,
    downloads,
    exports,
    policy,
    queries,
    retention,
    services,
    transfer,
    uploads,
    usage,
)
from accord.evidence.models import EvidenceItem, KeptBundle, UseQuestion
from accord.web.guards import signed_in_user

router = Router(tags=["evidence"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **{
                            key: {"type": "string"}
                            for key in ("name", "description", "content_type", *services.COLLECTED)
                        },
                    },
                }
            }
        },
    }
}


class PurgeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class AskIn(Schema):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=usage.TEXT)


class AnswerIn(Schema):
    model_config = ConfigDict(extra="forbid")

    question_id: UUID
    answer: str = Field(min_length=1, max_length=usage.TEXT)


class SendIn(Schema):
    model_config = ConfigDict(extra="forbid")

    # The peer's node id; by default the partner of the item's request.
    peer: str = Field(default="", max_length=100)


class ExportIn(Schema):
    model_config = ConfigDict(extra="forbid")

    items: list[UUID] = Field(min_length=1, max_length=500)
    # A bilingual cover sheet (cover.pdf) for the people who receive it.
    cover: bool = True
    # What the export is for; items under conditions of use need one (conditions.py).
    purpose: str = Field(default="", max_length=2000)


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


def _item(request: HttpRequest, item_id: UUID, how: str) -> EvidenceItem:
    try:
        return queries.open_item(_actor(request), item_id, how=how, ip=client_ip(request))
    except EvidenceItem.DoesNotExist:
        raise Http404 from None


def summary(item: EvidenceItem) -> dict[str, Any]:
    return {
        "id": str(item.pk),
        "name": item.name,
        "size": item.size,
        "sha256": item.sha256,
        "content_type": item.content_type,
        "description": item.description,
        "case": item.case.reference if item.case else None,
        "request": item.request.reference if item.request else None,
        "created_at": item.created_at,
        "purged_at": item.purged_at,
    }


def detail(item: EvidenceItem, user: Any) -> dict[str, Any]:
    return {
        **summary(item),
        "collected": {
            "how": item.collected_how,
            "where": item.collected_where,
            "by": item.collected_by,
            "legal_basis": item.legal_basis,
            "when": item.collected_when,
        },
        "purge_reason": item.purge_reason,
        "conditions": [c.to_json() for c in conditions.conditions_of(item)],
        "retention": retention_of(item),
        "use_questions": [question_json(q) for q in item.use_questions.all()],
        "may": conditions.offered(user, item, policy.offered(user, item)),
        "custody": [row.to_json() for row in queries.custody_of(item)],
        "transfers": transfer.progress(item),
    }


def question_json(question: UseQuestion) -> dict[str, Any]:
    return {
        "id": str(question.pk),
        "asked_node": question.asked_node,
        "question": question.question,
        "asked_by": question.asked_by,
        "asked_at": question.asked_at,
        "answer": question.answer,
        "answered_by": question.answered_by,
        "answered_at": question.answered_at,
    }


def question_of(item: EvidenceItem, question_id: Any) -> UseQuestion:
    """One question on an item the caller may see (else 404)."""
    try:
        return item.use_questions.select_related("item").get(pk=question_id)
    except (UseQuestion.DoesNotExist, ValueError, ValidationError):
        raise Http404 from None


def retention_of(item: EvidenceItem) -> dict[str, Any]:
    end = retention.end_of(item)
    return {
        "until": end.on,
        "why": end.why,
        "closed_on": end.closed_on,
        "days": retention.days(),
        "text": end.describe(),
    }


def declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def upload(request: HttpRequest, owner: dict[str, Any]) -> Status:
    """Refuse by role, need-to-know and declared size before a byte is read."""
    actor, ip = _actor(request), client_ip(request)
    services.enforce(actor, policy.ADD, None, ip, **owner)
    length = declared_length(request)
    if length is not None and length > uploads.body_limit():
        message = blobs.too_large(blobs.max_item_bytes()).message
        services.refuse(actor, None, policy.ADD, message, 413, ip)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        message = _("Send the file in the multipart field 'file'.")
        services.refuse(actor, None, policy.ADD, message, 422, ip)
    form = request.POST
    new = services.NewItem(
        name=form.get("name") or uploaded.name or "",
        content_type=form.get("content_type") or uploaded.content_type or "",
        description=form.get("description", ""),
        collected=services.Collected(**{key: form.get(key, "") for key in services.COLLECTED}),
    )
    with uploaded:
        item = services.add_item(actor, uploaded, new, declared_size=uploaded.size, ip=ip, **owner)
    return Status(201, detail(item, actor.user))


@router.post(
    "/evidence/cases/{case_id}/items", response={201: dict[str, Any]}, openapi_extra=UPLOAD_BODY
)
def upload_to_case(request: HttpRequest, case_id: UUID) -> Status:
    return upload(request, {"case": _case(request, case_id)})


@router.post(
    "/evidence/requests/{request_id}/items",
    response={201: dict[str, Any]},
    openapi_extra=UPLOAD_BODY,
)
def upload_to_request(request: HttpRequest, request_id: UUID) -> Status:
    return upload(request, {"request": _request(request, request_id)})


@router.get("/evidence/cases/{case_id}/items", response=list[dict[str, Any]])
def list_for_case(request: HttpRequest, case_id: UUID) -> list[dict[str, Any]]:
    case = _case(request, case_id)
    rows = queries.list_items(_actor(request), case=case, ip=client_ip(request))
    return [summary(row) for row in rows]


@router.get("/evidence/requests/{request_id}/items", response=list[dict[str, Any]])
def list_for_request(request: HttpRequest, request_id: UUID) -> list[dict[str, Any]]:
    found = _request(request, request_id)
    rows = queries.list_items(_actor(request), request=found, ip=client_ip(request))
    return [summary(row) for row in rows]


@router.get("/evidence/items/{item_id}", response=dict[str, Any])
def get_item(request: HttpRequest, item_id: UUID) -> dict[str, Any]:
    item = _item(request, item_id, "read")
    viewed = services.view_item(_actor(request), item, ip=client_ip(request))
    return detail(viewed, request.user)


@router.get("/evidence/items/{item_id}/content", response={200: None, 206: None, 416: None})
def download(request: HttpRequest, item_id: UUID) -> HttpResponse:
    """The bytes; resumable with Range and If-Range (downloads.py)."""
    item = _item(request, item_id, "download")
    return downloads.serve(request, _actor(request), item, client_ip(request))


@router.post("/evidence/items/{item_id}/purge", response=dict[str, Any])
def purge(request: HttpRequest, item_id: UUID, payload: PurgeIn) -> dict[str, Any]:
    item = _item(request, item_id, "purge")
    purged = services.purge_item(_actor(request), item, payload.reason, ip=client_ip(request))
    return detail(purged, request.user)


@router.post("/evidence/items/{item_id}/use-questions", response={201: dict[str, Any]})
def ask_use(request: HttpRequest, item_id: UUID, payload: AskIn) -> Status:
    """The provider's central authority asks the partner how the item was used."""
    item = _item(request, item_id, "ask_use")
    asked = usage.ask_use(_actor(request), item, payload.question, ip=client_ip(request))
    return Status(201, question_json(asked))


@router.post("/evidence/items/{item_id}/use-answers", response=dict[str, Any])
def answer_use(request: HttpRequest, item_id: UUID, payload: AnswerIn) -> dict[str, Any]:
    """The receiving node answers the provider's question on the item."""
    item = _item(request, item_id, "answer_use")
    question = question_of(item, payload.question_id)
    done = usage.answer_use(_actor(request), question, payload.answer, ip=client_ip(request))
    return question_json(done)


@router.post("/evidence/items/{item_id}/send", response={202: dict[str, Any]})
def send(request: HttpRequest, item_id: UUID, payload: SendIn) -> Status:
    """Start (or go on with) the item's transfer to the partner; it runs on
    in the background: GET the item for its progress."""
    item = _item(request, item_id, "send")
    transfer.send_to(_actor(request), item, payload.peer, ip=client_ip(request))
    return Status(202, detail(item, request.user))


@router.get("/evidence/items/{item_id}/transfers", response=list[dict[str, Any]])
def transfers(request: HttpRequest, item_id: UUID) -> list[dict[str, Any]]:
    """The item's transfers and their progress. Not a look at the evidence
    itself: no custody record (polling it leaves the chain alone)."""
    return transfer.progress(_item(request, item_id, "transfers"))


@router.post("/evidence/exports", response={200: None})
def export(request: HttpRequest, payload: ExportIn) -> HttpResponse:
    """The bundle; `Content-Location` names where to fetch it again (GET, with Range)."""
    items = [_item(request, key, "export") for key in payload.items]
    return bundle_response(request, items, with_cover=payload.cover, purpose=payload.purpose)


# ---------------------------------------------------------------- shared with the pages


def bundle_response(
    request: HttpRequest,
    items: list[EvidenceItem],
    *,
    with_cover: bool = True,
    purpose: str = "",
    page: bool = False,
) -> HttpResponse:
    """Export the items, keep the bundle (exports.py), and stream it from the
    kept copy, naming where to fetch it again (with Range) if cut off."""
    actor, ip = _actor(request), client_ip(request)
    kept = exports.keep(actor, items, with_cover=with_cover, purpose=purpose, ip=ip)
    chunks = blobs.read_plaintext(exports.stored(kept))
    return downloads.bundle_attachment(kept, chunks, bundle_location(kept, page=page))


def bundle_location(kept: KeptBundle, *, page: bool = False) -> str:
    if page:
        return reverse("evidence:bundle", kwargs={"bundle_id": kept.pk})
    return reverse("api:get_bundle", kwargs={"bundle_id": kept.pk})


@router.get("/evidence/exports/{bundle_id}", response={200: None, 206: None, 416: None})
def get_bundle(request: HttpRequest, bundle_id: UUID) -> HttpResponse:
    """A bundle exported here, again (for who exported it), resumable with Range."""
    actor, ip = _actor(request), client_ip(request)
    try:
        kept = queries.open_export(actor, bundle_id, ip=ip)
    except KeptBundle.DoesNotExist:
        raise Http404 from None
    return downloads.serve_bundle(request, actor, kept, ip, bundle_location(kept))


def _case(request: HttpRequest, case_id: UUID) -> Any:
    from accord.cases import queries as cases
    from accord.cases.models import Case

    require(_actor(request), Permission.VIEW_EVIDENCE, what="evidence_case", ip=client_ip(request))
    try:
        return cases.open_case(_actor(request), case_id, how="evidence", ip=client_ip(request))
    except Case.DoesNotExist:
        raise Http404 from None


def _request(request: HttpRequest, request_id: UUID) -> Any:
    from accord.assistance import queries as requests
    from accord.assistance.models import AssistanceRequest

    require(
        _actor(request), Permission.VIEW_EVIDENCE, what="evidence_request", ip=client_ip(request)
    )
    try:
        return requests.open_request(
            _actor(request), request_id, how="evidence", ip=client_ip(request)
        )
    except AssistanceRequest.DoesNotExist:
        raise Http404 from None
