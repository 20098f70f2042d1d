"""Pages for cases: thin, every change through services, every read through
queries (need-to-know and the audit of reads live there)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.assistance import casework
from accord.assistance.types import OffenceCategory
from accord.cases import imports, jobs, policy, queries, services
from accord.cases.filters import CaseFilter
from accord.cases.forms import CaseForm, SubjectForm, initial_from, type_choices
from accord.cases.models import Case, CaseStatus, ImportJob
from accord.cases.tables import CaseTable
from accord.core.audit import Actor
from accord.core.models import User
from accord.core.policy import Refused
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.evidence import views as evidence_views
from accord.matching import views as matching_views
from accord.web import lists
from accord.web.actions import act, attempt
from accord.web.guards import permission_required, signed_in_user

MAX_UPLOAD = imports.MAX_BYTES


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


def _open(request: HttpRequest, case_id: UUID, how: str = "read") -> Case:
    try:
        return queries.open_case(_actor(request), case_id, how=how, ip=client_ip(request))
    except Case.DoesNotExist:
        raise Http404(_("No such case, or it is not for you.")) from None


def _case_table(request: HttpRequest) -> tuple[CaseTable, CaseFilter, Actor]:
    actor = _actor(request)
    listed = queries.list_cases(actor, queries.Filters(), ip=client_ip(request))
    chosen = CaseFilter(request.GET, listed, user=actor.user)
    rows = chosen.qs.order_by("-created_at", "reference")
    return lists.configure(request, CaseTable(rows)), chosen, actor


@permission_required(Permission.VIEW_CASES)
def case_list(request: HttpRequest) -> HttpResponse:
    table, chosen, actor = _case_table(request)
    ip = client_ip(request)
    filters = chosen.as_filters()
    queries.audit_list(actor, table.paginator.count, filters, ip)
    context = {
        "table": table,
        "filter": chosen,
        "filters": filters,
        "statuses": CaseStatus.choices,
        "counts": queries.count_by_status(actor, ip=ip),
        "export_query": request.GET.urlencode(),
        "can_create": policy.allowed(request.user, policy.CREATE) is None,
    }
    return render(request, "cases/list.html", context)


@permission_required(Permission.VIEW_CASES)
def case_export(request: HttpRequest) -> HttpResponse:
    """Every case the list shows across its pages, as CSV."""
    table, chosen, actor = _case_table(request)
    filters, ip = chosen.as_filters(), client_ip(request)

    def record(references: list[str]) -> None:
        queries.audit_list(actor, len(references), filters, ip, exported=references)

    return lists.csv_export(table, "cases", record)


@permission_required(Permission.EDIT_CASES)
def case_create(request: HttpRequest) -> HttpResponse:
    initial = {"title_language": translation.get_language()}
    form = CaseForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.create_case(_actor(request), form.to_data(), ip=client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Case %(ref)s opened.") % {"ref": created.reference})
            return redirect("cases:detail", case_id=created.pk)
    return render(request, "cases/form.html", {"form": form, "editing": None})


@permission_required(Permission.EDIT_CASES)
def case_edit(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = _open(request, case_id, how="edit")
    refusal = policy.allowed(request.user, policy.EDIT, case)
    if refusal is not None:
        # Offered exactly when the change would be accepted (a closed case: no form).
        messages.error(request, refusal.reason)
        return redirect("cases:detail", case_id=case.pk)
    form = CaseForm(request.POST or None, initial=initial_from(case))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_case(_actor(request), case, form.to_data(), ip=client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Case saved."))
            return redirect("cases:detail", case_id=case.pk)
    return render(request, "cases/form.html", {"form": form, "editing": case})


@permission_required(Permission.VIEW_CASES)
def case_detail(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = _open(request, case_id)
    return render(request, "cases/detail.html", detail_context(case, request.user))


def detail_context(case: Case, user: Any, report: Any = None) -> dict[str, Any]:
    """What the detail page shows; which forms it offers is the policy's answer."""
    observables = list(case.observables.select_related("subject").order_by("code", "normal"))
    return {
        "case": case,
        "categories": [OffenceCategory(c).label for c in case.categories],
        "team": case.team.order_by("username"),
        "subjects": case.subjects.all(),
        "observables": observable_rows(user, case, observables),
        "may": policy.offered(user, case),
        "statuses": [c for c in CaseStatus.choices if c[0] != case.status],
        "types": type_choices(),
        "subject_form": SubjectForm(),
        "candidates": User.objects.filter(is_active=True, role__in=policy.TEAM_ROLES).exclude(
            pk__in=case.team.values("pk")
        ),
        "collections": _own_collections(user),
        "report": report,
        "imports": queries.import_jobs(case),
        # The requests filed under it that this user may see (assistance.casework).
        "requests": casework.requests_of(user, case),
        # Hit/no-hit with partner nodes (accord.matching): None hides the card.
        "matching": matching_views.case_card(user, case, observables),
        # Evidence items of the case (accord.evidence): None hides the card.
        "evidence": evidence_views.card(user, case=case),
    }


def observable_rows(user: Any, case: Case, observables: Any) -> list[tuple[Any, str, str]]:
    """Each observable with its correlations, as HTML, and the URL of its
    remove form. Built here rather than by template tags per row: on a case
    of 1,000 values, most of them shared, some 3,000 `{% url %}` and the
    nested loop over the links took most of the page's time (bench/matching.py)."""
    links = queries.correlations(user, case)
    marker = 2_147_483_647  # an id no observable has, standing for the row's id (the
    # URL's last number: rpartition, so the case's id cannot be mistaken for it)
    pattern = reverse("cases:unobserve", args=[case.pk, marker])
    before, _sep, after = pattern.rpartition(str(marker))
    urls: dict[Any, str] = {}
    hidden = format_html(
        '<span class="muted" data-testid="hidden-correlation">{}</span>',
        _("Another case on this node holds this value; ask the central authority."),
    )

    def shown(link: queries.Link) -> str:
        if link.hidden:
            return hidden
        if link.case_id not in urls:
            urls[link.case_id] = reverse("cases:detail", args=[link.case_id])
        return format_html(
            '<a href="{}" data-testid="correlation">{}</a> <span class="muted">{}</span>',
            urls[link.case_id],
            link.reference,
            link.title,
        )

    return [
        (
            o,
            format_html_join(SafeString("<br>"), "{}", ((shown(k),) for k in links.get(o.pk, []))),
            f"{before}{o.pk}{after}",
        )
        for o in observables
    ]


def _own_collections(user: Any) -> list[Any]:
    from accord.intel.models import Collection
    from accord.intel.policy import Action
    from accord.intel.policy import allowed as intel_allowed

    if intel_allowed(user, Action.VIEW) is not None:
        return []
    return list(Collection.objects.restrict(user).filter(mirror__isnull=True))


@require_POST
@permission_required(Permission.EDIT_CASES)
def case_status(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = _open(request, case_id, how="status")
    status = request.POST.get("status", "")
    return act(
        request,
        lambda: services.change_status(_actor(request), case, status, ip=client_ip(request)),
        done=_("Status changed."),
        to="cases:detail",
        case_id=case.pk,
    )


@require_POST
@permission_required(Permission.EDIT_CASES)
def case_member(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = _open(request, case_id, how="team")
    username = request.POST.get("username", "")
    user = User.objects.filter(username=username, is_active=True).first()

    def add() -> None:
        if user is None:
            raise ValidationError(_("Choose an active user."))
        services.add_member(_actor(request), case, user, ip=client_ip(request))

    return act(
        request,
        add,
        done=_("%(user)s added to the team.") % {"user": username},
        to="cases:detail",
        case_id=case.pk,
    )


@require_POST
@permission_required(Permission.EDIT_CASES)
def case_observe(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = _open(request, case_id, how="observe")
    post = request.POST
    context = {k: post[k] for k in ("country", "region") if post.get(k)}
    return act(
        request,
        lambda: services.add_observable(
            _actor(request),
            case,
            post.get("code", ""),
            post.get("value", ""),
            context=context,
            ip=client_ip(request),
        ),
        done=_("Observable added."),
        to="cases:detail",
        case_id=case.pk,
    )


@require_POST
@permission_required(Permission.EDIT_CASES)
def case_unobserve(request: HttpRequest, case_id: UUID, observable_id: int) -> HttpResponse:
    case = _open(request, case_id, how="observe")
    return act(
        request,
        lambda: services.remove_observable(
            _actor(request), case, observable_id, ip=client_ip(request)
        ),
        done=_("Observable removed."),
        to="cases:detail",
        case_id=case.pk,
    )


@require_POST
@permission_required(Permission.EDIT_CASES)
def case_subject(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = _open(request, case_id, how="subject")
    form = SubjectForm(request.POST)

    def add() -> None:
        if not form.is_valid():
            raise ValidationError([e for errors in form.errors.values() for e in errors])
        services.add_subject(_actor(request), case, form.to_data(), ip=client_ip(request))

    return act(request, add, done=_("Subject added."), to="cases:detail", case_id=case.pk)


@require_POST
@permission_required(Permission.EDIT_CASES)
def case_import(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """CSV or STIX (an uploaded file or one of this node's collections). A
    small import: the page comes back with the per-row report; a large one
    goes on in the background and its page shows a progress bar."""
    case = _open(request, case_id, how="import")
    actor, ip = _actor(request), client_ip(request)
    upload = request.FILES.get("file")
    fmt = request.POST.get("format", "csv")
    started: list[ImportJob] = []

    def run() -> None:
        if fmt == "collection":
            started.append(
                imports.import_collection(actor, case, request.POST.get("collection"), ip=ip)
            )
            return
        if upload is None:
            raise ValidationError(_("Choose a file."))
        if (upload.size or 0) > MAX_UPLOAD:
            raise ValidationError(_("The file is larger than 50 MB."))
        data = upload.read()
        if fmt == "stix":
            started.append(imports.import_stix(actor, case, imports.bundle_objects(data), ip=ip))
            return
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(_("The file is not UTF-8 text.")) from None
        started.append(imports.import_csv(actor, case, text, ip=ip))

    if not attempt(request, run):
        return redirect("cases:detail", case_id=case.pk)
    job = started[0]
    if not job.finished:
        # A large import runs in the background: its page shows the progress.
        messages.info(request, _("Import started: %(n)s rows.") % {"n": job.total})
        return redirect("cases:import-job", case_id=case.pk, job_id=job.pk)
    report = job.report
    messages.success(
        request,
        _("Imported %(added)s, %(dup)s already held, %(failed)s not imported.")
        % {"added": report["added"], "dup": report["duplicates"], "failed": report["failed"]},
    )
    case.refresh_from_db()
    return render(request, "cases/detail.html", detail_context(case, request.user, report))


def _job(request: HttpRequest, case_id: UUID, job_id: UUID, *, with_report: bool) -> ImportJob:
    try:
        return queries.import_job(
            _actor(request), case_id, job_id, with_report=with_report, ip=client_ip(request)
        )
    except ImportJob.DoesNotExist:
        raise Http404(_("No such import, or it is not for you.")) from None


@permission_required(Permission.VIEW_CASES)
def case_import_job(request: HttpRequest, case_id: UUID, job_id: UUID) -> HttpResponse:
    """An import's progress bar while it runs (refreshed by a script, or by
    the page itself without one), then its report."""
    job = _job(request, case_id, job_id, with_report=False)
    if job.finished:
        job = _job(request, case_id, job_id, with_report=True)
    return render(request, "cases/import_job.html", {"job": job, "case": job.case})


@permission_required(Permission.VIEW_CASES)
def case_import_status(request: HttpRequest, case_id: UUID, job_id: UUID) -> JsonResponse:
    """The progress bar's JSON: counts and status, no rows."""
    job = _job(request, case_id, job_id, with_report=False)
    return JsonResponse(jobs.job_view(job, report=False))
