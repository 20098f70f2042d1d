"""Reading cases: what a user may see, one case (every read audited), lists
with search and filters, counts, and the correlations of a case with the
other cases of this node. Nothing here changes a case."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q

from accord.cases.models import Case, ImportJob, Observable
from accord.cases.observables import ObservableError, observable_types, parse_observable
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.roles import Permission
from accord.core.services import require


def visible(user: User | None, action: str = "view") -> Any:
    """The cases `user` may open (action "view") or list ("list"); None is the
    operator at the shell, who sees them all. The restriction joins the team,
    hence distinct()."""
    if user is None:
        return Case.objects.all()
    return Case.objects.restrict(user, action).distinct()


def open_case(actor: Actor, case_id: Any, *, how: str = "read", ip: str = "") -> Case:
    """One case, if the actor may open it; every read is audited, and so is
    every attempt at one the actor may not open (as for requests)."""
    require(actor, Permission.VIEW_CASES, what=f"case_{how}", ip=ip)
    try:
        case = visible(actor.user).get(pk=case_id)
    except (Case.DoesNotExist, ValidationError, ValueError):
        audit.record(
            actor,
            AuditAction.ACCESS_DENIED,
            target_type="cases.case",
            target_id=str(case_id)[:64],
            data={"what": f"case_{how}"},
            ip=ip,
        )
        raise Case.DoesNotExist from None
    audit.record(
        actor, AuditAction.CASE_READ, case, data={"reference": case.reference, "how": how}, ip=ip
    )
    return case


def find_case(actor: Actor, reference: str, *, how: str = "read") -> Case:
    """`open_case` by reference or id (the CLI's way of naming a case)."""
    match = visible(actor.user).filter(reference=reference.upper()).values_list("pk", flat=True)
    found = match.first()
    return open_case(actor, found if found is not None else reference, how=how)


def import_job(
    actor: Actor, case_id: Any, job_id: Any, *, with_report: bool, ip: str = ""
) -> ImportJob:
    """An import job, to those who may open its case. Its progress (counts
    only) is read without a case read in the log, since a progress bar asks
    every second or two; reading its report, which names rows of the case, is
    a case read like any other. An attempt at a job one may not see is audited
    and answered as a job that does not exist."""
    require(actor, Permission.VIEW_CASES, what="case_import", ip=ip)
    try:
        job = (
            ImportJob.objects.select_related("case")
            .filter(case__in=visible(actor.user), case_id=case_id)
            .get(pk=job_id)
        )
    except (ImportJob.DoesNotExist, ValidationError, ValueError):
        audit.record(
            actor,
            AuditAction.ACCESS_DENIED,
            target_type="cases.importjob",
            target_id=str(job_id)[:64],
            data={"what": "case_import"},
            ip=ip,
        )
        raise ImportJob.DoesNotExist from None
    if with_report:
        data = {"reference": job.case.reference, "how": "import-report", "job": str(job.pk)}
        audit.record(actor, AuditAction.CASE_READ, job.case, data=data, ip=ip)
    return job


def import_jobs(case: Case) -> list[ImportJob]:
    """For the case page (already an audited read): the case's imports still
    running and the last few finished ones."""
    jobs = ImportJob.objects.filter(case=case).select_related("created_by")
    running = list(jobs.filter(finished_at__isnull=True)[:10])
    return running + list(jobs.filter(finished_at__isnull=False)[:3])


@dataclass(frozen=True)
class Filters:
    status: str = ""
    category: str = ""
    search: str = ""

    def as_dict(self) -> dict[str, str]:
        return {key: value for key, value in self.__dict__.items() if value}


def list_cases(actor: Actor, filters: Filters, *, ip: str = "") -> Any:
    """The cases the actor may list, filtered. A confidential case appears
    only to those with need-to-know (Case.restriction)."""
    require(actor, Permission.VIEW_CASES, what="list_cases", ip=ip)
    return narrow(actor.user, visible(actor.user, "list"), filters)


def narrow(user: User | None, rows: Any, filters: Filters) -> Any:
    """`rows` (already restricted to what `user` may list) narrowed by the
    filters, for the API, the command line and the pages alike."""
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.category:
        # JSON containment differs between SQLite and PostgreSQL: match the
        # code as it is written in the list (codes are plain identifiers).
        rows = rows.filter(categories__icontains=f'"{filters.category}"')
    if filters.search:
        rows = rows.filter(search_condition(filters.search, user))
    return rows


def search_condition(text: str, user: User | None) -> Q:
    """Reference, title, or a value the case holds: the text is normalised as
    every observable type would normalise it, so "EXAMPLE.com." finds the
    case holding example.com. The values are matched only in the cases the
    user may open: a listed case they may not open shows its reference and
    title alone, and a search must not tell what else it holds (issue 14,
    finding 3)."""
    term = text.strip()[:200]
    forms = Q()
    for kind in observable_types():
        try:
            parsed = parse_observable(kind.code, term)
        except ObservableError:
            continue
        forms |= Q(code=parsed.code, normal=parsed.normal)
    condition = (
        Q(reference__icontains=term)
        | Q(title__icontains=term)
        | Q(title_translation__icontains=term)
    )
    if forms:
        holding = Observable.objects.filter(forms, case=OuterRef("pk"))
        opened = Q() if user is None else Q(pk__in=visible(user).values("pk"))
        condition |= Q(Exists(holding)) & opened
    return condition


def count_by_status(actor: Actor, *, ip: str = "") -> dict[str, int]:
    """How many cases the actor may list, per status (the list page's counts)."""
    rows = list_cases(actor, Filters(), ip=ip)
    return dict(Counter(rows.values_list("status", flat=True)))


def audit_list(
    actor: Actor, count: int, filters: Filters, ip: str = "", *, exported: list[str] | None = None
) -> None:
    """A list read; an export (CSV) names every case written out."""
    data: dict[str, Any] = {"count": count, "filters": filters.as_dict()}
    if exported is not None:
        data.update(how="csv", references=exported)
    audit.record(actor, AuditAction.CASE_LIST, target_type="cases.case", data=data, ip=ip)


# ---------------------------------------------------------------- correlation


@dataclass(frozen=True)
class Link:
    """Another case holding the same value, as far as the viewer may know it:
    a case they may open (its reference and title), or only the fact that a
    case they may not open holds it (no reference: ask the central
    authority). A confidential case they may not see gives no Link at all."""

    case_id: Any = None
    reference: str = ""
    title: str = ""

    @property
    def hidden(self) -> bool:
        return self.case_id is None


def correlations(user: User | None, case: Case) -> dict[int, list[Link]]:
    """For each observable of `case` (by id), the other cases of this node
    holding the same (code, normal), filtered by need-to-know. One query over
    the correlation index for the values, one for what the viewer may open
    and list: never one per observable."""
    mine = Observable.objects.filter(case=case, code=OuterRef("code"), normal=OuterRef("normal"))
    others = list(
        Observable.objects.filter(Exists(mine))
        .exclude(case=case)
        .values_list("code", "normal", "case_id", "case__reference", "case__title")
    )
    if not others:
        return {}
    ids = {row[2] for row in others}
    opens = set(visible(user).filter(pk__in=ids).values_list("pk", flat=True))
    lists = set(visible(user, "list").filter(pk__in=ids).values_list("pk", flat=True))
    by_value: dict[tuple[str, str], list[Link]] = {}
    for code, normal, case_id, reference, title in sorted(others, key=lambda r: r[3]):
        links = by_value.setdefault((code, normal), [])
        if case_id in opens:
            links.append(Link(case_id, reference, title))
        elif case_id in lists and not any(link.hidden for link in links):
            links.append(Link())
    ours = Observable.objects.filter(case=case).values_list("pk", "code", "normal")
    return {pk: by_value[(c, n)] for pk, c, n in ours if by_value.get((c, n))}
