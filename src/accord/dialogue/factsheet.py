"""The fact sheet of a round: one page, in English or Chinese, for print or PDF."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accord.core import audit, pdf
from accord.core.audit import AuditAction
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.dialogue import progress
from accord.dialogue.models import Commitment, Round
from accord.dialogue.signing import required_signers, status_of
from accord.dialogue.views import actor_of, restricted
from accord.web.guards import permission_required


def factsheet_context(round_: Round, language: str) -> dict[str, Any]:
    dialogue = round_.dialogue
    required = required_signers(round_)
    today = timezone.now().date()
    outcomes = []
    for outcome in round_.outcomes.all():
        latest = outcome.latest()
        outcomes.append(
            (
                outcome,
                latest,
                status_of(latest, required) if latest else "",
                latest.signatures.all() if latest else [],
            )
        )
    measured = [
        (c, progress.commitment_progress(c, today))
        for c in Commitment.objects.filter(outcome__round=round_)
    ]
    commitments = [(c, m, progress.standing(c, m)) for c, m in measured]
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
    round_ = restricted(Round, request, round_id)
    return HttpResponse(_factsheet_html(request, round_, _language(request)))


@permission_required(Permission.VIEW_DIALOGUE)
def factsheet_pdf(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = restricted(Round, request, round_id)
    language = _language(request)
    try:
        document = pdf.render(_factsheet_html(request, round_, language))
    except pdf.PdfUnavailable as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    audit.record(
        actor_of(request),
        AuditAction.DIALOGUE_EXPORT,
        round_,
        ip=client_ip(request),
        data={"what": "factsheet-pdf", "language": language},
    )
    response = HttpResponse(document, content_type="application/pdf")
    name = f"fact-sheet-round-{round_.number}-{language}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
