"""A request printed: the page and the PDF, in either language, with the
same content as the request's page (views.detail_context)."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.http import content_disposition_header

from accord.assistance.models import AssistanceRequest
from accord.assistance.views import detail_context, opened
from accord.core import pdf
from accord.core.roles import Permission
from accord.web.guards import permission_required


def _print_language(request: HttpRequest, row: AssistanceRequest) -> str:
    language = request.GET.get("lang") or translation.get_language() or row.language
    return language if language in ("en", "zh-hans") else "en"


def _print_html(row: AssistanceRequest, language: str, request: HttpRequest) -> str:
    with translation.override(language):
        context = {
            **detail_context(row, None, offer=False),
            "language": language,
            "printed_at": timezone.now(),
        }
        return render_to_string("assistance/print.html", context, request=request)


@permission_required(Permission.VIEW_REQUESTS)
def request_print(request: HttpRequest, request_id: UUID) -> HttpResponse:
    row = opened(request, request_id, how="print")
    return HttpResponse(_print_html(row, _print_language(request, row), request))


@permission_required(Permission.VIEW_REQUESTS)
def request_pdf(request: HttpRequest, request_id: UUID) -> HttpResponse:
    row = opened(request, request_id, how="pdf")
    language = _print_language(request, row)
    try:
        document = pdf.render(_print_html(row, language, request))
    except pdf.PdfUnavailable as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(document, content_type="application/pdf")
    # The reference of an incoming request is the partner's text: RFC 6266, safely.
    name = f"{row.reference}-{language}.pdf"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
