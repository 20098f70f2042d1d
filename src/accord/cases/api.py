"""JSON API for cases: the same services and queries as the pages and the
CLI, so the same rules and the same audit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from accord.assistance.types import OffenceCategory
from accord.cases import imports, jobs, policy, queries, services
from accord.cases.models import Case, CaseStatus, ImportJob, SubjectKind
from accord.cases.observables import observable_types
from accord.core.apischema import Page
from accord.core.audit import Actor
from accord.core.ijson import Positive
from accord.core.models import User
from accord.core.roles import Permission
from accord.core.services import require
from accord.core.signals import client_ip
from accord.web.guards import signed_in_user

router = Router(tags=["cases"])


class CaseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=300)
    title_language: Literal["en", "zh-hans"]
    title_translation: str = Field(default="", max_length=300)
    categories: list[OffenceCategory] = Field(default_factory=list, max_length=20)
    confidential: bool = False
    # A made-up example (the demo's), marked as such wherever the case is shown.
    synthetic: bool = False


class StatusIn(Schema):
    model_config = ConfigDict(extra="forbid")

    status: CaseStatus


class MemberIn(Schema):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=150)


class ObservableIn(Schema):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=32, description="a code from /cases/vocabulary")
    value: str = Field(max_length=4096)
    context: dict[str, str] = Field(
        default_factory=dict, description="e.g. the issuing country of a document"
    )


class DocumentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=32)
    value: str = Field(max_length=200)
    country: str = Field(default="", max_length=3)


class SubjectIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: SubjectKind
    display_name: str = Field(default="", max_length=200)
    family_name: str = Field(default="", max_length=200)
    given_name: str = Field(default="", max_length=200)
    birth_date: date | None = None
    documents: list[DocumentIn] = Field(default_factory=list, max_length=services.MAX_DOCUMENTS)


class CsvIn(Schema):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="CSV: type,value[,subject] per line")


class StixIn(Schema):
    model_config = ConfigDict(extra="forbid")

    bundle: dict[str, Any] | None = Field(default=None, description="a STIX 2.1 bundle")
    collection: UUID | None = Field(default=None, description="one of this node's collections")


class CaseOut(Schema):
    id: UUID
    reference: str
    title: str
    title_language: str
    title_translation: str
    categories: list[str]
    status: str
    confidential: bool
    synthetic: bool
    created_at: datetime


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


def _open(request: HttpRequest, case_id: UUID, how: str = "read") -> Case:
    try:
        return queries.open_case(_actor(request), case_id, how=how, ip=client_ip(request))
    except Case.DoesNotExist:
        raise Http404 from None


def _changing(request: HttpRequest, case_id: UUID, what: str) -> Case:
    """The door of every change: the permission first (403 for those who may
    not change cases at all), then need-to-know (404)."""
    require(_actor(request), Permission.EDIT_CASES, what=what, ip=client_ip(request))
    return _open(request, case_id, how=what)


def detail(case: Case, user: Any) -> dict[str, Any]:
    links = queries.correlations(user, case)
    return {
        **CaseOut.from_orm(case).dict(),
        "team": sorted(u.username for u in case.team.all()),
        "actions": sorted(action for action, ok in policy.offered(user, case).items() if ok),
        "subjects": [
            {
                "id": s.pk,
                "kind": s.kind,
                "display_name": s.display_name,
                "family_name": s.family_name,
                "given_name": s.given_name,
                "birth_date": s.birth_date,
                "documents": s.documents,
            }
            for s in case.subjects.all()
        ],
        "observables": [
            {
                "id": o.pk,
                "type": o.code,
                "normal": o.normal,
                "display": o.display,
                "subject": o.subject_id,
                "source": o.source,
                "correlations": [_link(link) for link in links.get(o.pk, [])],
            }
            for o in case.observables.order_by("code", "normal")
        ],
    }


def _link(link: queries.Link) -> dict[str, Any]:
    if link.hidden:
        return {"hidden": True, "note": "another case on this node holds this value"}
    return {"hidden": False, "case": str(link.case_id), "reference": link.reference}


@router.get("/cases", response=list[CaseOut])
@paginate(Page)
def list_cases(request: HttpRequest, status: str = "", category: str = "", q: str = "") -> Any:
    actor = _actor(request)
    filters = queries.Filters(status, category, q)
    rows = list(queries.list_cases(actor, filters, ip=client_ip(request)))
    queries.audit_list(actor, len(rows), filters, client_ip(request))
    return rows


@router.post("/cases", response={201: dict[str, Any]})
def create_case(request: HttpRequest, payload: CaseIn) -> Status:
    data = payload.model_dump(mode="json", exclude={"synthetic"})
    created = services.create_case(
        _actor(request), data, synthetic=payload.synthetic, ip=client_ip(request)
    )
    return Status(201, detail(created, request.user))


@router.get("/cases/vocabulary", response=dict[str, Any])
def vocabulary(request: HttpRequest) -> dict[str, Any]:
    """Codes and labels for other tools: observable types, subject kinds,
    statuses and the offence categories requests share."""
    require(_actor(request), Permission.VIEW_CASES, what="case_vocabulary", ip=client_ip(request))

    def pairs(choices: Any) -> list[dict[str, str]]:
        return [{"code": value, "label": str(label)} for value, label in choices.choices]

    return {
        "observable_types": [{"code": t.code, "label": str(t.label)} for t in observable_types()],
        "subject_kinds": pairs(SubjectKind),
        "statuses": pairs(CaseStatus),
        "offence_categories": pairs(OffenceCategory),
    }


@router.get("/cases/{case_id}", response=dict[str, Any])
def get_case(request: HttpRequest, case_id: UUID) -> dict[str, Any]:
    return detail(_open(request, case_id), request.user)


@router.put("/cases/{case_id}", response=dict[str, Any])
def update_case(request: HttpRequest, case_id: UUID, payload: CaseIn) -> dict[str, Any]:
    case = _changing(request, case_id, "update_case")
    data = payload.model_dump(mode="json")
    updated = services.update_case(_actor(request), case, data, ip=client_ip(request))
    return detail(updated, request.user)


@router.post("/cases/{case_id}/status", response=dict[str, Any])
def change_status(request: HttpRequest, case_id: UUID, payload: StatusIn) -> dict[str, Any]:
    case = _changing(request, case_id, "case_status")
    updated = services.change_status(
        _actor(request), case, payload.status.value, ip=client_ip(request)
    )
    return detail(updated, request.user)


@router.post("/cases/{case_id}/team", response=dict[str, Any])
def add_member(request: HttpRequest, case_id: UUID, payload: MemberIn) -> dict[str, Any]:
    case = _changing(request, case_id, "case_team")
    user = User.objects.filter(username=payload.username, is_active=True).first()
    if user is None:
        raise ValidationError(f"No active user {payload.username}.")
    services.add_member(_actor(request), case, user, ip=client_ip(request))
    return detail(case, request.user)


@router.post("/cases/{case_id}/observables", response={201: dict[str, Any]})
def add_observable(request: HttpRequest, case_id: UUID, payload: ObservableIn) -> Status:
    case = _changing(request, case_id, "add_observable")
    row = services.add_observable(
        _actor(request),
        case,
        payload.type,
        payload.value,
        context=payload.context,
        ip=client_ip(request),
    )
    return Status(201, {"id": row.pk, "type": row.code, "normal": row.normal})


@router.delete("/cases/{case_id}/observables/{observable_id}", response={204: None})
def remove_observable(request: HttpRequest, case_id: UUID, observable_id: Positive) -> Status:
    case = _changing(request, case_id, "remove_observable")
    services.remove_observable(_actor(request), case, observable_id, ip=client_ip(request))
    return Status(204, None)


@router.post("/cases/{case_id}/subjects", response={201: dict[str, Any]})
def add_subject(request: HttpRequest, case_id: UUID, payload: SubjectIn) -> Status:
    case = _changing(request, case_id, "add_subject")
    subject = services.add_subject(
        _actor(request), case, payload.model_dump(mode="json"), ip=client_ip(request)
    )
    return Status(201, {"id": subject.pk, "observables": subject.observables.count()})


def _started(job: ImportJob) -> Status:
    """201 with the report when the import ran at once; 202 with the job's id
    when it goes on in the background (GET the job for its progress)."""
    return Status(201 if job.finished else 202, jobs.job_view(job))


@router.post("/cases/{case_id}/imports/csv", response={201: dict[str, Any], 202: dict[str, Any]})
def import_csv(request: HttpRequest, case_id: UUID, payload: CsvIn) -> Status:
    case = _changing(request, case_id, "import_observables")
    return _started(imports.import_csv(_actor(request), case, payload.text, ip=client_ip(request)))


@router.post("/cases/{case_id}/imports/stix", response={201: dict[str, Any], 202: dict[str, Any]})
def import_stix(request: HttpRequest, case_id: UUID, payload: StixIn) -> Status:
    case = _changing(request, case_id, "import_observables")
    actor, ip = _actor(request), client_ip(request)
    if (payload.bundle is None) == (payload.collection is None):
        raise ValidationError("Give either a bundle or a collection.")
    if payload.collection is not None:
        return _started(imports.import_collection(actor, case, payload.collection, ip=ip))
    objects = imports.bundle_objects(payload.bundle)
    return _started(imports.import_stix(actor, case, objects, ip=ip))


@router.get("/cases/{case_id}/imports/{job_id}", response=dict[str, Any])
def import_job(request: HttpRequest, case_id: UUID, job_id: UUID) -> dict[str, Any]:
    """An import's status and progress (total and done rows) and, once it has
    ended, its report; only to those who may open the case."""
    try:
        job = queries.import_job(
            _actor(request), case_id, job_id, with_report=True, ip=client_ip(request)
        )
    except ImportJob.DoesNotExist:
        raise Http404 from None
    return jobs.job_view(job)
