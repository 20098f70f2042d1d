"""Intel pages: search by value and type, object detail with its versions and
relationships, bundle import (with upload progress) and export. The marking is
shown on every object."""

from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.core.audit import Actor
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.intel import services, stix
from accord.intel.models import Collection, HandlingCode, StixObject
from accord.web.guards import permission_required

MAX_UPLOAD = 50 * 1024 * 1024
PAGE = 100


@permission_required(Permission.VIEW_INTEL)
def home(request: HttpRequest) -> HttpResponse:
    collections = Collection.objects.restrict(request.user)
    rows = StixObject.objects.restrict(request.user).filter(latest=True)
    q = request.GET.get("q", "").strip()[:200].lower()
    kind = request.GET.get("type", "").strip()[:100]
    if q:
        rows = rows.filter(Q(search_text__contains=q) | Q(stix_id__contains=q))
    if kind:
        rows = rows.filter(stix_type=kind)
    results = list(rows.select_related("collection").order_by("-date_added", "-pk")[:PAGE])
    types = (
        StixObject.objects.restrict(request.user)
        .values_list("stix_type", flat=True)
        .distinct()
        .order_by("stix_type")
    )
    context = {
        "collections": [
            (c, StixObject.objects.filter(collection=c, latest=True).count()) for c in collections
        ],
        "results": [(row, title_of(json.loads(row.body), row.stix_id)) for row in results],
        "q": q,
        "kind": kind,
        "types": list(types)[:200],
        "handling_codes": HandlingCode.choices,
        "reliability": list(stix.RELIABILITY.items()),
        "accuracy": list(stix.ACCURACY.items()),
    }
    return render(request, "intel/home.html", context)


@permission_required(Permission.VIEW_INTEL)
def object_detail(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(StixObject.objects.restrict(request.user), pk=pk)
    versions = StixObject.objects.filter(collection=row.collection, stix_id=row.stix_id).order_by(
        "-version"
    )
    related = StixObject.objects.filter(
        collection=row.collection, latest=True, stix_type__in=("relationship", "sighting")
    )
    links = []
    for rel in related.filter(body__contains=row.stix_id).exclude(pk=row.pk)[:100]:
        data = json.loads(rel.body)
        other = (
            data.get("target_ref")
            if data.get("source_ref") == row.stix_id
            else (data.get("source_ref") or data.get("sighting_of_ref"))
        )
        links.append((rel, data.get("relationship_type") or rel.stix_type, other))
    data = json.loads(row.body)
    try:
        handling = stix.handling_of(data)
    except ValueError:  # stored before the rules were checked on the way in
        handling = None
    ways = {
        services.Audience.PARTNER: _("this node's TAXII partner accounts"),
        services.Audience.PEER: _("partner nodes abroad"),
        services.Audience.EXPORT: _("bundle exports"),
    }
    this = StixObject.objects.filter(pk=row.pk)
    open_to = [
        label for audience, label in ways.items() if services.released(this, audience).exists()
    ]
    context = {
        "row": row,
        "handling": handling,
        "reliability_label": stix.RELIABILITY.get(handling.reliability, "") if handling else "",
        "accuracy_label": stix.ACCURACY.get(handling.accuracy, "")
        if handling and handling.accuracy
        else "",
        "released_to": ", ".join(str(x) for x in open_to) or _("nobody: it stays on this node"),
        "title": title_of(data, row.stix_type),
        "versions": versions,
        "links": links,
        "pretty": json.dumps(data, indent=2, ensure_ascii=False),
    }
    return render(request, "intel/object.html", context)


def title_of(data: dict, fallback: str) -> str:
    return str(data.get("name") or data.get("value") or data.get("pattern") or fallback)


@require_POST
@permission_required(Permission.VIEW_INTEL)
def import_bundle(request: HttpRequest) -> HttpResponse:
    wants_json = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    collection = (
        Collection.objects.restrict(request.user)
        .filter(pk=_uuid(request.POST.get("collection", "")))
        .first()
    )
    upload = request.FILES.get("bundle")
    problem = ""
    if collection is None:
        problem = _("Choose a collection.")
    elif upload is None:
        problem = _("Choose a STIX 2.1 bundle file.")
    elif upload.size > MAX_UPLOAD:
        problem = _("The file is larger than 50 MB.")
    items = None
    if not problem:
        try:
            document = json.loads(upload.read())
            items = document.get("objects") if isinstance(document, dict) else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            items = None
        if not isinstance(items, list):
            problem = _("This is not a STIX bundle: no list of objects found.")
    handling = None
    if not problem:
        try:
            handling = services.handling_from(
                *(
                    request.POST.get(name, "")
                    for name in ("handling_code", "reliability", "accuracy", "purpose", "expires")
                )
            )
        except ValidationError as exc:
            problem = " ".join(exc.messages)
    if problem:
        if wants_json:
            return JsonResponse({"error": problem}, status=422)
        messages.error(request, problem)
        return redirect("intel:home")
    items = services.with_conditions(items, handling)  # type: ignore[arg-type]
    status = services.ingest(collection, items, None, Actor.of(request.user))  # type: ignore[arg-type]
    text = _("%(ok)s objects stored or already known, %(bad)s refused.") % {
        "ok": status.success_count,
        "bad": status.failure_count,
    }
    if wants_json:
        return JsonResponse({"message": text, "failures": status.failures[:50]})
    messages.success(request, text)
    return redirect("intel:home")


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@permission_required(Permission.VIEW_INTEL)
def export_bundle(request: HttpRequest, collection_id: uuid.UUID) -> HttpResponse:
    collection = get_object_or_404(Collection.objects.restrict(request.user), pk=collection_id)
    export = services.export_bundle(collection, Actor.of(request.user), client_ip(request))  # type: ignore[arg-type]
    response = HttpResponse(export.bundle, content_type="application/stix+json;version=2.1")
    response["Content-Disposition"] = f'attachment; filename="{collection.alias}.json"'
    response["X-Accord-Withheld"] = str(export.withheld)
    return response
