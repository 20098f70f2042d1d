"""Bulk import of observables into a case: from CSV (columns type, value and
optionally subject) and from STIX 2.1 (an uploaded bundle, or this node's own
intel collections). This module reads the input into rows; `accord.cases.jobs`
imports them as a job (at once when small, in the background with a progress
bar when large). Good rows are imported, bad ones reported with their line
(or object id) and reason, rows the case holds already counted as duplicates;
the start and the end of an import are audited, the end with its counts.
Every value goes through `parse_observable`, as when entered by hand."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accord.cases import policy
from accord.cases.models import Case, ImportKind, Observable, Source, Subject
from accord.cases.observables import ObservableError, parse_observable
from accord.cases.services import refuse
from accord.cases.stixmap import map_object
from accord.core import audit
from accord.core.audit import Actor
from accord.core.policy import FORBIDDEN, UNPROCESSABLE
from accord.core.roles import Permission
from accord.core.services import require

MAX_ROWS = 200_000
MAX_BYTES = 50 * 1024 * 1024
# The report lists this many problems; the counts cover them all.
MAX_LISTED = 500

if TYPE_CHECKING:
    from accord.cases.models import ImportJob


@dataclass(frozen=True)
class Problem:
    where: str  # "line 7", or a STIX object id
    reason: str


@dataclass
class Report:
    added: int = 0
    duplicates: int = 0
    failed: int = 0
    problems: list[Problem] = field(default_factory=list)

    def problem(self, where: str, reason: str) -> None:
        self.failed += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(Problem(where, str(reason)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "problems": [{"where": p.where, "reason": p.reason} for p in self.problems],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            added=int(data.get("added", 0)),
            duplicates=int(data.get("duplicates", 0)),
            failed=int(data.get("failed", 0)),
            problems=[Problem(p["where"], p["reason"]) for p in data.get("problems", [])],
        )


@dataclass(frozen=True)
class Row:
    where: str
    code: str
    raw: str
    subject: str = ""


# ---------------------------------------------------------------- CSV


def csv_rows(text: str, report: Report) -> list[Row]:
    """The rows of a CSV text; a first line `type,value[,subject]` is a header."""
    rows = []
    for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] == ["type", "value"]:
            continue
        if len(cells) < 2 or len(cells) > 3:
            report.problem(
                _("line %(n)s") % {"n": number}, _("Expected: type, value and optionally subject.")
            )
            continue
        rows.append(Row(_("line %(n)s") % {"n": number}, cells[0].lower(), cells[1], *cells[2:]))
        if len(rows) > MAX_ROWS:
            break
    return rows


@audit.refusals_kept()
def import_csv(actor: Actor, case: Case, text: str, *, ip: str = "") -> ImportJob:
    require(actor, Permission.EDIT_CASES, what="import_observables", ip=ip)
    policy_check(actor, case, ip)
    if len(text.encode()) > MAX_BYTES:
        refuse(actor, case, policy.OBSERVE, _("The file is too large."), UNPROCESSABLE, ip)
    report = Report()
    rows = csv_rows(text, report)
    if len(rows) > MAX_ROWS:
        message = _("At most %(n)s rows per import.") % {"n": MAX_ROWS}
        refuse(actor, case, policy.OBSERVE, message, UNPROCESSABLE, ip)
    return _start(actor, case, ImportKind.CSV, rows, report, ip)


# ---------------------------------------------------------------- STIX


def bundle_objects(data: Any) -> list[dict[str, Any]]:
    """The objects of a STIX bundle (or of a bare list of objects)."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            data = None
    objects = data.get("objects") if isinstance(data, dict) else data
    if not isinstance(objects, list):
        raise ValidationError(_("This is not a STIX bundle: no list of objects found."))
    return [o for o in objects if isinstance(o, dict)]


@audit.refusals_kept()
def import_stix(
    actor: Actor,
    case: Case,
    objects: list[dict[str, Any]],
    *,
    ip: str = "",
    kind: ImportKind = ImportKind.STIX,
) -> ImportJob:
    require(actor, Permission.EDIT_CASES, what="import_observables", ip=ip)
    policy_check(actor, case, ip)
    report = Report()
    rows: list[Row] = []
    for obj in objects[:MAX_ROWS]:
        mapped = map_object(obj)
        if mapped.problem:
            report.problem(mapped.stix_id, mapped.problem)
        rows.extend(Row(mapped.stix_id, code, raw) for code, raw in mapped.values)
    return _start(actor, case, kind, rows, report, ip)


@audit.refusals_kept()
def import_collection(actor: Actor, case: Case, collection_id: Any, *, ip: str = "") -> ImportJob:
    """The indicators and observables of one of this node's own intel
    collections (a partner's mirrored collection is not this node's to copy
    into a case), read as the user may read them."""
    from accord.intel.models import Collection, StixObject
    from accord.intel.policy import Action, is_mirror
    from accord.intel.policy import allowed as intel_allowed

    require(actor, Permission.EDIT_CASES, what="import_observables", ip=ip)
    policy_check(actor, case, ip)
    refusal = intel_allowed(actor, Action.VIEW)
    if refusal is not None:
        refuse(actor, case, policy.OBSERVE, refusal.reason, FORBIDDEN, ip)
    readable = Collection.objects.restrict(actor.user) if actor.user else Collection.objects
    collection = readable.filter(pk=collection_id).first() if _uuid(collection_id) else None
    if collection is None or is_mirror(collection):
        message = _("Choose one of this node's own intel collections.")
        refuse(actor, case, policy.OBSERVE, message, UNPROCESSABLE, ip)
    rows = StixObject.objects.filter(collection=collection, latest=True, revoked=False)
    objects = [json.loads(body) for body in rows.values_list("body", flat=True)[:MAX_ROWS]]
    return import_stix(actor, case, objects, ip=ip, kind=ImportKind.COLLECTION)


def _uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- storing


def policy_check(actor: Actor, case: Case, ip: str) -> None:
    """Refuse before reading a large file if the case cannot take it anyway."""
    refusal = policy.allowed(actor.user, policy.OBSERVE, case)
    if refusal is not None:
        refuse(actor, case, policy.OBSERVE, refusal.reason, refusal.status, ip)


def _start(
    actor: Actor, case: Case, kind: ImportKind, rows: list[Row], report: Report, ip: str
) -> ImportJob:
    from accord.cases import jobs

    return jobs.start(actor, case, kind, rows, report, ip)


def build_observable(
    actor: Actor,
    case: Case,
    row: Row,
    source: Source,
    subjects: dict[str, Subject],
    report: Report,
) -> Observable | None:
    subject = subjects.get(row.subject.casefold()) if row.subject else None
    if row.subject and subject is None:
        report.problem(row.where, _("No subject of this case is named %(s)s.") % {"s": row.subject})
        return None
    try:
        parsed = parse_observable(row.code, row.raw)
    except ObservableError as exc:
        report.problem(row.where, str(exc))
        return None
    return Observable(
        case=case,
        code=parsed.code,
        normal=parsed.normal,
        display=row.raw.strip()[:512],
        subject=subject,
        source=source,
        added_by=actor.user,
    )
