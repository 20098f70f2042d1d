"""Pages of the dialogue record: thin, every change through services."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.core import audit, pdf
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.indicators import all_indicators
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.dialogue import export, progress, services
from accord.dialogue.models import Commitment, Dialogue, Disagreement, Outcome, Round
from accord.dialogue.types import (
    CommitmentStatus,
    DelegationRole,
    DisagreementStatus,
    Topic,
    Track,
)
from accord.federation.models import Peer
from accord.web.guards import permission_required

DELEGATION_ROWS = 8


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(request.user)  # type: ignore[arg-type]


def _restricted(model: Any, request: HttpRequest, pk: UUID) -> Any:
    return get_object_or_404(model.objects.restrict(request.user), pk=pk)


def _attempt(request: HttpRequest, change: Callable[[], Any], done: str) -> None:
    """Run a change; a refusal or bad input becomes a message, never a half-change."""
    try:
        change()
    except services.NotYours as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)


# ---------------------------------------------------------------- pages


@permission_required(Permission.VIEW_DIALOGUE)
def home(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    dialogues = Dialogue.objects.restrict(request.user).select_related("peer")
    commitments = list(Commitment.objects.restrict(request.user).select_related("outcome__round"))
    rows = [
        (c, progress.commitment_progress(c, today), progress.is_overdue(c, today))
        for c in commitments
    ]
    context = {
        "tracks": [
            (label, [d for d in dialogues if d.track == value]) for value, label in Track.choices
        ],
        "rounds": Round.objects.restrict(request.user).select_related("dialogue").order_by("date"),
        "commitments": rows,
        "overdue": sum(1 for _c, _m, late in rows if late),
        "open_disagreements": Disagreement.objects.restrict(request.user)
        .exclude(status=DisagreementStatus.RESOLVED)
        .count(),
        "period": progress.period(today),
        "may_manage": request.user.has_permission(Permission.MANAGE_DIALOGUE),  # type: ignore[union-attr]
        "peers": Peer.objects.filter(active=True),
        "track_choices": Track.choices,
    }
    return render(request, "dialogue/home.html", context)


@permission_required(Permission.VIEW_DIALOGUE)
def detail(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = _restricted(Dialogue, request, dialogue_id)
    return render(request, "dialogue/detail.html", detail_context(dialogue, request.user))


def detail_context(dialogue: Dialogue, user: Any) -> dict[str, Any]:
    node = this_node().node_id
    sides = services.parties(dialogue)
    today = timezone.now().date()
    outcomes = []
    for outcome in Outcome.objects.filter(round__dialogue=dialogue).select_related("round"):
        versions = list(outcome.versions.order_by("-version").prefetch_related("signatures"))
        latest = versions[0] if versions else None
        signed_here = bool(latest and latest.signatures.filter(node=node).exists())
        outcomes.append(
            {
                "o": outcome,
                "latest": latest,
                "older": versions[1:],
                "status": services.status_of(latest, sides) if latest else "unsigned",
                "may_sign": latest is not None and not signed_here,
                "signed_here": signed_here,
                "may_amend": outcome.author_node == node,
            }
        )
    commitments = [
        (c, progress.commitment_progress(c, today), progress.is_overdue(c, today))
        for c in Commitment.objects.filter(outcome__round__dialogue=dialogue)
    ]
    return {
        "d": dialogue,
        "here": node,
        "sides": sides,
        "rounds": dialogue.rounds.order_by("number").prefetch_related("delegates"),
        "outcomes": outcomes,
        "commitments": commitments,
        "disagreements": dialogue.disagreements.prefetch_related("positions", "history"),
        "may_manage": user.has_permission(Permission.MANAGE_DIALOGUE),
        "may_sign": user.has_permission(Permission.SIGN_OUTCOMES),
        "topics": Topic.choices,
        "statuses": DisagreementStatus.choices,
        "commitment_statuses": CommitmentStatus.choices,
        "indicators": all_indicators(),
        "roles": DelegationRole.choices,
        "delegation_rows": range(DELEGATION_ROWS),
        "today": today,
    }


@permission_required(Permission.VIEW_DIALOGUE)
def round_page(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = _restricted(Round, request, round_id)
    node = this_node().node_id
    own = list(round_.delegates.filter(node=node))
    rows = own + [None] * max(0, DELEGATION_ROWS - len(own))
    context = {
        **detail_context(round_.dialogue, request.user),
        "r": round_,
        "own_rows": rows,
        "is_author": round_.author_node == node,
    }
    return render(request, "dialogue/round.html", context)


def factsheet_context(round_: Round, language: str) -> dict[str, Any]:
    dialogue = round_.dialogue
    sides = services.parties(dialogue)
    today = timezone.now().date()
    outcomes = []
    for outcome in round_.outcomes.all():
        latest = outcome.latest()
        outcomes.append(
            (
                outcome,
                latest,
                services.status_of(latest, sides) if latest else "",
                latest.signatures.all() if latest else [],
            )
        )
    commitments = [
        (c, progress.commitment_progress(c, today), progress.is_overdue(c, today))
        for c in Commitment.objects.filter(outcome__round=round_)
    ]
    return {
        "r": round_,
        "d": dialogue,
        "outcomes": outcomes,
        "pending": [row for row in outcomes if row[2] != "agreed" and row[1] is not None],
        "commitments": commitments,
        "disagreements": dialogue.disagreements.filter(round=round_).prefetch_related("positions"),
        "language": language,
        "zh": language == "zh-hans",
        "generated_at": timezone.now(),
        "period": progress.period(today),
    }


def _language(request: HttpRequest) -> str:
    language = request.GET.get("lang") or translation.get_language() or "en"
    return language if language in ("en", "zh-hans") else "en"


def _factsheet_html(request: HttpRequest, round_: Round, language: str) -> str:
    with translation.override(language):
        return render_to_string(
            "dialogue/factsheet.html", factsheet_context(round_, language), request=request
        )


@permission_required(Permission.VIEW_DIALOGUE)
def factsheet(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = _restricted(Round, request, round_id)
    return HttpResponse(_factsheet_html(request, round_, _language(request)))


@permission_required(Permission.VIEW_DIALOGUE)
def factsheet_pdf(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = _restricted(Round, request, round_id)
    language = _language(request)
    try:
        document = pdf.render(_factsheet_html(request, round_, language))
    except pdf.PdfUnavailable as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    audit.record(
        _actor(request),
        AuditAction.DIALOGUE_EXPORT,
        round_,
        ip=client_ip(request),
        data={"what": "factsheet-pdf", "language": language},
    )
    response = HttpResponse(document, content_type="application/pdf")
    name = f"fact-sheet-round-{round_.number}-{language}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@permission_required(Permission.VIEW_DIALOGUE)
def export_view(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = _restricted(Dialogue, request, dialogue_id)
    document = export.export_dialogue(dialogue)
    audit.record(
        _actor(request),
        AuditAction.DIALOGUE_EXPORT,
        dialogue,
        ip=client_ip(request),
        data={"what": "export"},
    )
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="dialogue-{dialogue.pk}.json"'
    return response


# ---------------------------------------------------------------- changes


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def create(request: HttpRequest) -> HttpResponse:
    peer = Peer.objects.filter(node_id=request.POST.get("peer", ""), active=True).first()
    result: dict[str, Any] = {}

    def change() -> None:
        if peer is None:
            raise ValidationError(_("Choose an active partner node."))
        result["d"] = services.create_dialogue(
            _actor(request),
            peer,
            request.POST.get("track", ""),
            request.POST.get("title_en", ""),
            request.POST.get("title_zh", ""),
            ip=client_ip(request),
        )

    _attempt(request, change, _("Dialogue created."))
    return (
        redirect("dialogue:detail", dialogue_id=result["d"].pk)
        if result
        else redirect("dialogue:home")
    )


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def round_save(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = _restricted(Dialogue, request, dialogue_id)
    post = request.POST
    existing = None
    if post.get("round_id"):
        existing = get_object_or_404(Round, pk=post["round_id"], dialogue=dialogue)
    data = {
        "number": post.get("number"),
        "date": post.get("date"),
        "venue_en": post.get("venue_en", ""),
        "venue_zh": post.get("venue_zh", ""),
        "topics": post.getlist("topics"),
        "documents": [
            {"title": t, "reference": ref}
            for t, ref in zip(
                post.getlist("doc_title"), post.getlist("doc_reference"), strict=False
            )
        ],
    }
    _attempt(
        request,
        lambda: services.save_round(
            _actor(request), dialogue, data, round_=existing, ip=client_ip(request)
        ),
        _("Round saved."),
    )
    return redirect("dialogue:detail", dialogue_id=dialogue.pk)


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def delegation(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = _restricted(Round, request, round_id)
    post = request.POST
    rows = zip(post.getlist("role"), post.getlist("name"), post.getlist("title"), strict=False)
    entries = [{"role": role, "name": name, "title": title} for role, name, title in rows]
    _attempt(
        request,
        lambda: services.set_delegation(_actor(request), round_, entries, ip=client_ip(request)),
        _("Your delegation is saved."),
    )
    return redirect("dialogue:round", round_id=round_.pk)


@require_POST
@permission_required(Permission.SIGN_OUTCOMES)
def propose(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = _restricted(Round, request, round_id)
    post = request.POST
    _attempt(
        request,
        lambda: services.propose_outcome(
            _actor(request),
            round_,
            post.get("topic", ""),
            post.get("text_en", ""),
            post.get("text_zh", ""),
            post.get("signer_title", ""),
            ip=client_ip(request),
        ),
        _("Outcome proposed and signed for this node."),
    )
    return redirect("dialogue:round", round_id=round_.pk)


@require_POST
@permission_required(Permission.SIGN_OUTCOMES)
def amend(request: HttpRequest, outcome_id: UUID) -> HttpResponse:
    outcome = _restricted(Outcome, request, outcome_id)
    post = request.POST
    _attempt(
        request,
        lambda: services.amend_outcome(
            _actor(request),
            outcome,
            post.get("text_en", ""),
            post.get("text_zh", ""),
            post.get("signer_title", ""),
            ip=client_ip(request),
        ),
        _("New version proposed; it needs both signatures again."),
    )
    return redirect("dialogue:detail", dialogue_id=outcome.round.dialogue_id)


@require_POST
@permission_required(Permission.SIGN_OUTCOMES)
def sign(request: HttpRequest, outcome_id: UUID) -> HttpResponse:
    outcome = _restricted(Outcome, request, outcome_id)
    post = request.POST
    try:
        number = int(post.get("version", ""))
    except ValueError:
        number = 0
    _attempt(
        request,
        lambda: services.sign_outcome(
            _actor(request), outcome, number, post.get("signer_title", ""), ip=client_ip(request)
        ),
        _("Signed for this node."),
    )
    return redirect("dialogue:detail", dialogue_id=outcome.round.dialogue_id)


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def disagreement(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = _restricted(Dialogue, request, dialogue_id)
    post = request.POST
    round_ = dialogue.rounds.filter(pk=post.get("round_id") or None).first()
    _attempt(
        request,
        lambda: services.open_disagreement(
            _actor(request),
            dialogue,
            post.get("topic", ""),
            post.get("issue_en", ""),
            post.get("issue_zh", ""),
            round_,
            ip=client_ip(request),
        ),
        _("Disagreement recorded."),
    )
    return redirect("dialogue:detail", dialogue_id=dialogue.pk)


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def position(request: HttpRequest, disagreement_id: UUID) -> HttpResponse:
    item = _restricted(Disagreement, request, disagreement_id)
    post = request.POST
    _attempt(
        request,
        lambda: services.state_position(
            _actor(request),
            item,
            post.get("text_en", ""),
            post.get("text_zh", ""),
            ip=client_ip(request),
        ),
        _("Your side's position is recorded."),
    )
    return redirect("dialogue:detail", dialogue_id=item.dialogue_id)


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def disagreement_status(request: HttpRequest, disagreement_id: UUID) -> HttpResponse:
    item = _restricted(Disagreement, request, disagreement_id)
    post = request.POST
    _attempt(
        request,
        lambda: services.set_disagreement_status(
            _actor(request),
            item,
            post.get("status", ""),
            post.get("note", ""),
            ip=client_ip(request),
        ),
        _("Status changed."),
    )
    return redirect("dialogue:detail", dialogue_id=item.dialogue_id)


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def commitment(request: HttpRequest, outcome_id: UUID) -> HttpResponse:
    outcome = _restricted(Outcome, request, outcome_id)
    post = request.POST
    links = []
    for code, topic, target in zip(
        post.getlist("indicator"),
        post.getlist("indicator_topic"),
        post.getlist("indicator_target"),
        strict=False,
    ):
        if code:
            try:
                number = float(target) if target else None
            except ValueError:
                number = target  # the service names the problem
            links.append({"code": code, "topic": topic, "target": number})
    data = {
        "title_en": post.get("title_en", ""),
        "title_zh": post.get("title_zh", ""),
        "owner_node": post.get("owner_node", ""),
        "due_date": post.get("due_date", ""),
        "indicators": links,
    }
    _attempt(
        request,
        lambda: services.create_commitment(_actor(request), outcome, data, ip=client_ip(request)),
        _("Commitment recorded."),
    )
    return redirect("dialogue:detail", dialogue_id=outcome.round.dialogue_id)


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def commitment_status(request: HttpRequest, commitment_id: UUID) -> HttpResponse:
    item = _restricted(Commitment, request, commitment_id)
    post = request.POST
    _attempt(
        request,
        lambda: services.set_commitment_status(
            _actor(request),
            item,
            post.get("status", ""),
            post.get("note", ""),
            ip=client_ip(request),
        ),
        _("Commitment updated."),
    )
    return redirect("dialogue:detail", dialogue_id=item.outcome.round.dialogue_id)
