"""Pages for evidence: the item page (details, custody timeline), the evidence
card on the case and request pages (list, upload, export), download and
purge. Thin: every read through queries, every change through services."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accord.core.audit import Actor
from accord.core.policy import Refused
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.evidence import (
    api,
    blobs,
    conditions,
    downloads,
    follow,
    policy,
    queries,
    retention,
    services,
    transfer,
    usage,
)
from accord.evidence.models import EvidenceItem, KeptBundle
from accord.web.actions import attempt
from accord.web.guards import permission_required, signed_in_user

# The custody events, named in the reader's language on the timeline.
EVENT_LABELS = {
    "collected": gettext_lazy("Collected"),
    "received": gettext_lazy("Received"),
    "transferred": gettext_lazy("Transferred"),
    "viewed": gettext_lazy("Viewed"),
    "downloaded": gettext_lazy("Downloaded"),
    "exported": gettext_lazy("Exported"),
    "sealed": gettext_lazy("Sealed"),
    "released": gettext_lazy("Released"),
    "purged": gettext_lazy("Purged"),
    "discarded": gettext_lazy("Partial copy removed"),
}

# The keys of a custody record's details, named in the reader's language; a
# key from a newer node that is not here is shown as it is.
DETAIL_LABELS = {
    "how": gettext_lazy("How it was collected"),
    "where": gettext_lazy("Where"),
    "by": gettext_lazy("Collected by"),
    "legal_basis": gettext_lazy("Legal basis"),
    "when": gettext_lazy("When"),
    "from": gettext_lazy("From"),
    "to": gettext_lazy("To"),
    "chunks": gettext_lazy("Chunks"),
    "items": gettext_lazy("Items"),
    "purpose": gettext_lazy("Purpose"),
    "bytes_removed": gettext_lazy("Bytes removed"),
    "what": gettext_lazy("What"),
}


def _details(details: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(DETAIL_LABELS.get(key, key), value) for key, value in details.items()]


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


def _open(request: HttpRequest, item_id: UUID | str, how: str) -> EvidenceItem:
    try:
        return queries.open_item(_actor(request), item_id, how=how, ip=client_ip(request))
    except EvidenceItem.DoesNotExist:
        raise Http404(_("No such evidence item, or it is not for you.")) from None


def card(user: Any, *, case: Any = None, request: Any = None) -> dict[str, Any] | None:
    """What the evidence card on a case or request page shows; None hides it."""
    owner = {"case": case} if case is not None else {"request": request}
    if user is None or policy.allowed(user, policy.VIEW, **owner) is not None:
        return None
    rows = queries.visible(user).filter(**owner).order_by("-created_at")
    add_url = (
        reverse("evidence:add-to-case", kwargs={"case_id": case.pk})
        if case is not None
        else reverse("evidence:add-to-request", kwargs={"request_id": request.pk})
    )
    return {
        "items": list(rows[:200]),
        "add_url": add_url,
        "may_add": policy.allowed(user, policy.ADD, **owner) is None,
        "limit_mb": blobs.max_item_bytes() // 1_048_576,
        "limit_bytes": blobs.max_item_bytes(),
        "too_large": blobs.too_large(blobs.max_item_bytes()).message,
        # The request went to its partner: what is added now follows (follow.py).
        "follows_to": request.peer.node_id if request and follow.went_at(request) else "",
    }


@permission_required(Permission.VIEW_EVIDENCE)
def item_list(request: HttpRequest) -> HttpResponse:
    """Every item this user may see, newest first (the sidebar's Evidence)."""
    rows = queries.list_items(_actor(request), ip=client_ip(request))
    return render(request, "evidence/list.html", {"items": rows})


@permission_required(Permission.VIEW_EVIDENCE)
def item_page(request: HttpRequest, item_id: UUID) -> HttpResponse:
    item = _open(request, item_id, "read")
    try:
        item = services.view_item(_actor(request), item, ip=client_ip(request))
    except Refused as exc:
        raise Http404(exc.message) from None
    rows = queries.custody_of(item)
    context = {
        "item": item,
        "custody": [
            (row, EVENT_LABELS.get(row.event, row.event), _details(row.details)) for row in rows
        ],
        "may": conditions.offered(request.user, item, policy.offered(request.user, item)),
        "conditions": conditions.conditions_of(item),
        "retention": retention.end_of(item),
        "proceedings": conditions.proceedings(item) if item.request_id else [],
        "questions": [
            (q, usage.may_answer(request.user, q) is None) for q in item.use_questions.all()
        ],
        "may_ask": usage.may_ask(request.user, item) is None,
        "transfers": transfer.progress(item),
        "partner": item.request.peer.node_id if item.request else "",
    }
    return render(request, "evidence/item.html", context)


@require_POST
@permission_required(Permission.VIEW_EVIDENCE)
def item_send(request: HttpRequest, item_id: UUID) -> HttpResponse:
    item = _open(request, item_id, "send")
    attempt(
        request,
        lambda: transfer.send_to(_actor(request), item, ip=client_ip(request)),
        _("The item is on its way to the partner; its progress shows below."),
    )
    return redirect("evidence:item", item_id=item.pk)


@permission_required(Permission.VIEW_EVIDENCE)
def item_download(request: HttpRequest, item_id: UUID) -> HttpResponse:
    item = _open(request, item_id, "download")
    try:
        return downloads.serve(request, _actor(request), item, client_ip(request))
    except (Refused, blobs.BlobError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("evidence:item", item_id=item.pk)


@require_POST
@permission_required(Permission.VIEW_EVIDENCE)
def item_purge(request: HttpRequest, item_id: UUID) -> HttpResponse:
    item = _open(request, item_id, "purge")
    reason = request.POST.get("reason", "")
    attempt(
        request,
        lambda: services.purge_item(_actor(request), item, reason, ip=client_ip(request)),
        _("The item's bytes were purged; its custody record stays."),
    )
    return redirect("evidence:item", item_id=item.pk)


@require_POST
@permission_required(Permission.VIEW_EVIDENCE)
def ask_use(request: HttpRequest, item_id: UUID) -> HttpResponse:
    item = _open(request, item_id, "ask_use")
    question = request.POST.get("question", "")
    attempt(
        request,
        lambda: usage.ask_use(_actor(request), item, question, ip=client_ip(request)),
        _("The question was sent to the partner."),
    )
    return redirect("evidence:item", item_id=item.pk)


@require_POST
@permission_required(Permission.VIEW_EVIDENCE)
def answer_use(request: HttpRequest, item_id: UUID) -> HttpResponse:
    item = _open(request, item_id, "answer_use")
    question = api.question_of(item, request.POST.get("question", ""))
    answer = request.POST.get("answer", "")
    attempt(
        request,
        lambda: usage.answer_use(_actor(request), question, answer, ip=client_ip(request)),
        _("The answer was sent to the provider."),
    )
    return redirect("evidence:item", item_id=item.pk)


@require_POST
@permission_required(Permission.VIEW_EVIDENCE)
def export(request: HttpRequest) -> HttpResponse:
    chosen = request.POST.getlist("item")
    items = [_open(request, key, "export") for key in chosen[:500]]
    try:
        purpose = request.POST.get("purpose", "")
        return api.bundle_response(request, items, purpose=purpose, page=True)
    except (Refused, blobs.BlobError) as exc:
        if not items:
            raise Http404(_("Choose at least one item.")) from None
        messages.error(request, getattr(exc, "message", str(exc)))
        return _back(items[0])


@permission_required(Permission.VIEW_EVIDENCE)
def bundle(request: HttpRequest, bundle_id: UUID) -> HttpResponse:
    """A bundle exported from these pages, again: a cut-off download resumes here."""
    actor, ip = _actor(request), client_ip(request)
    try:
        kept = queries.open_export(actor, bundle_id, ip=ip)
    except KeptBundle.DoesNotExist:
        raise Http404(_("No such bundle, or it is not yours.")) from None
    try:
        return downloads.serve_bundle(request, actor, kept, ip, request.path)
    except (Refused, blobs.BlobError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("evidence:list")


def _back(item: EvidenceItem) -> HttpResponse:
    if item.case_id:
        return redirect("cases:detail", case_id=item.case_id)
    return redirect("assistance:detail", request_id=item.request_id)


def _upload(request: HttpRequest, owner: dict[str, Any], back: HttpResponse) -> HttpResponse:
    uploaded = request.FILES.get("file")
    actor, ip = _actor(request), client_ip(request)
    if uploaded is None:
        too_big = (api.declared_length(request) or 0) > api.uploads.body_limit()
        message = (
            blobs.too_large(blobs.max_item_bytes()).message if too_big else _("Choose a file.")
        )
        attempt(request, lambda: services.refuse(actor, None, policy.ADD, message, 413, ip))
        return back
    form = request.POST
    new = services.NewItem(
        name=uploaded.name or "",
        content_type=uploaded.content_type or "",
        description=form.get("description", ""),
        collected=services.Collected(**{key: form.get(key, "") for key in services.COLLECTED}),
    )
    with uploaded:
        attempt(
            request,
            lambda: services.add_item(
                actor, uploaded, new, declared_size=uploaded.size, ip=ip, **owner
            ),
            _("Evidence item added."),
        )
    return back


@require_POST
@permission_required(Permission.VIEW_EVIDENCE)
def upload_to_case(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = api._case(request, case_id)
    return _upload(request, {"case": case}, redirect("cases:detail", case_id=case.pk))


@require_POST
@permission_required(Permission.VIEW_EVIDENCE)
def upload_to_request(request: HttpRequest, request_id: UUID) -> HttpResponse:
    found = api._request(request, request_id)
    return _upload(request, {"request": found}, redirect("assistance:detail", request_id=found.pk))
