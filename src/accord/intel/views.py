"""Intel pages: search by value and type, object detail with its versions and
relationships, bundle import (with upload progress) and export. The marking is
shown on every object."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.core.audit import Actor
from accord.core.models import User
from accord.core.policy import Refused, offered
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.federation import parties
from accord.intel import reads, relations, stix
from accord.intel.conditions import handling_from, with_conditions
from accord.intel.exports import export_bundle as bundle_of
from accord.intel.ingest import ingest
from accord.intel.models import Collection, HandlingCode, Status, StixObject
from accord.intel.policy import Action, allowed
from accord.intel.relations import title_of
from accord.intel.release import Audience, open_to
from accord.intel.store import source_of
from accord.web.guards import permission_required, signed_in_user

MAX_UPLOAD = 50 * 1024 * 1024
PAGE = 100


@permission_required(Permission.VIEW_INTEL)
def home(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    collections = Collection.objects.restrict(user)
    rows = StixObject.objects.restrict(user).filter(latest=True)
    q = request.GET.get("q", "").strip()[:200].lower()
    kind = request.GET.get("type", "").strip()[:100]
    if q:
        rows = rows.filter(Q(search_text__contains=q) | Q(stix_id__contains=q))
    if kind:
        rows = rows.filter(stix_type=kind)
    results = list(rows.select_related("collection").order_by("-date_added", "-pk")[:PAGE])
    reads.record(
        Actor.of(user), "search", results, filters={"q": q, "type": kind}, ip=client_ip(request)
    )
    types = (
        StixObject.objects.restrict(user)
        .values_list("stix_type", flat=True)
        .distinct()
        .order_by("stix_type")
    )
    context = {
        "collections": [
            (
                c,
                StixObject.objects.filter(collection=c, latest=True).count(),
                offered(allowed(user, Action.EXPORT, c)),
            )
            for c in collections
        ],
        "may_import": offered(allowed(user, Action.IMPORT)),
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
    user = signed_in_user(request)
    row = get_object_or_404(StixObject.objects.restrict(user), pk=pk)
    reads.record(Actor.of(user), "page", [row], collection=row.collection, ip=client_ip(request))
    versions = StixObject.objects.filter(collection=row.collection, stix_id=row.stix_id).order_by(
        "-version"
    )
    data = json.loads(row.body)
    try:
        handling = stix.handling_of(data)
    except ValueError:  # stored before the rules were checked on the way in
        handling = None
    ways = {
        Audience.PARTNER: _("this node's TAXII partner accounts"),
        Audience.PEER: _("partner nodes abroad"),
        Audience.EXPORT: _("bundle exports"),
    }
    released_to = [str(ways[audience]) for audience in open_to(row)]
    source = source_of(row.collection)
    context = {
        "row": row,
        "source": source,
        "source_label": parties.label(source) if source else "",
        "handling": handling,
        "reliability_label": stix.RELIABILITY.get(handling.reliability, "") if handling else "",
        "accuracy_label": stix.ACCURACY.get(handling.accuracy, "")
        if handling and handling.accuracy
        else "",
        "released_to": ", ".join(released_to) or _("nobody: it stays on this node"),
        "title": title_of(data, row.stix_type),
        "versions": versions,
        "links": relations.links_of(user, row),
        "pretty": json.dumps(data, indent=2, ensure_ascii=False),
    }
    return render(request, "intel/object.html", context)


@require_POST
@permission_required(Permission.VIEW_INTEL)
def import_bundle(request: HttpRequest) -> HttpResponse:
    """The import form, posted plainly or by the upload script (which wants JSON
    back, to show the outcome under its progress bar)."""
    wants_json = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    user = signed_in_user(request)
    try:
        collection, items = _bundle(request, user)
        status = ingest(collection, items, None, Actor.of(user))
    except ValidationError as exc:
        problem = " ".join(exc.messages)
    except Refused as exc:
        problem = exc.message
    else:
        text = _("%(ok)s objects stored or already known, %(bad)s refused.") % {
            "ok": status.success_count,
            "bad": status.failure_count,
        }
        if wants_json:
            return JsonResponse(status_document(status, text))
        (messages.warning if status.failure_count else messages.success)(request, text)
        if status.failure_count:
            return redirect("intel:status", status_id=status.pk)
        return redirect("intel:home")
    if wants_json:
        return JsonResponse({"error": problem}, status=422)
    messages.error(request, problem)
    return redirect("intel:home")


def _bundle(request: HttpRequest, user: User) -> tuple[Collection, list[Any]]:
    """The chosen collection and the uploaded bundle's objects, with the
    analyst's handling conditions; ValidationError says what is missing or wrong."""
    collection = (
        Collection.objects.restrict(user)
        .filter(pk=_uuid(request.POST.get("collection", "")))
        .first()
    )
    upload = request.FILES.get("bundle")
    if collection is None:
        raise ValidationError(_("Choose a collection."))
    if upload is None:
        raise ValidationError(_("Choose a STIX 2.1 bundle file."))
    if (upload.size or 0) > MAX_UPLOAD:
        raise ValidationError(_("The file is larger than 50 MB."))
    try:
        document = json.loads(upload.read())
        items = document.get("objects") if isinstance(document, dict) else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        items = None
    if not isinstance(items, list):
        raise ValidationError(_("This is not a STIX bundle: no list of objects found."))
    handling = handling_from(
        *(
            request.POST.get(name, "")
            for name in ("handling_code", "reliability", "accuracy", "purpose", "expires")
        )
    )
    return collection, with_conditions(items, handling)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@permission_required(Permission.VIEW_INTEL)
def export_bundle(request: HttpRequest, collection_id: uuid.UUID) -> HttpResponse:
    user = signed_in_user(request)
    collection = get_object_or_404(Collection.objects.restrict(user), pk=collection_id)
    export = bundle_of(collection, Actor.of(user), client_ip(request))
    response = HttpResponse(export.bundle, content_type="application/stix+json;version=2.1")
    response["Content-Disposition"] = f'attachment; filename="{collection.alias}.json"'
    response["X-Accord-Withheld"] = str(export.withheld)
    return response


def status_document(status: Status, message: str = "") -> dict[str, Any]:
    """An import's outcome as the page's script and API clients read it: every
    refused object with its reason."""
    return {
        "id": str(status.pk),
        "message": message,
        "collection": status.collection.alias,
        "total": status.total_count,
        "stored": status.success_count,
        "refused": status.failure_count,
        "failures": [
            {"id": f.get("id", ""), "reason": f.get("message", "")} for f in status.failures
        ],
        "url": reverse("intel:status", args=[status.pk]),
    }


@permission_required(Permission.VIEW_INTEL)
def import_status(request: HttpRequest, status_id: uuid.UUID) -> HttpResponse:
    """One import's outcome (what a partner tool's status resource says, for
    the analyst): the refused objects, each with its reason. JSON on request."""
    user = signed_in_user(request)
    status = get_object_or_404(
        Status.objects.select_related("collection").filter(
            collection__in=Collection.objects.restrict(user)
        ),
        pk=status_id,
    )
    document = status_document(status)
    if request.GET.get("format") == "json" or "json" in request.headers.get("Accept", ""):
        return JsonResponse(document)
    return render(request, "intel/status.html", {"status": status, "doc": document})
