"""The rules of cases. Every change goes through here: it checks the actor's
permission and the policy (team, status), changes the case, writes the audit
event in the same transaction, and writes observables in their normal form
only, so the correlation index (`Observable` on (code, normal)) is current the
moment the change commits. Every refusal is audited and leaves the case as it
was; a value that does not parse is refused with the reason, never stored
half-normalised.

Every public function here is a `refusals_kept` boundary: a refusal raised
inside the case's transaction is recorded after that transaction rolled back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.assistance.types import OffenceCategory
from accord.cases import policy
from accord.cases.models import (
    NAME,
    TITLE,
    Case,
    CaseStatus,
    Observable,
    Source,
    Subject,
    SubjectKind,
    TitleLanguage,
)
from accord.cases.observables import ObservableError, parse_observable
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.policy import UNPROCESSABLE, Refused
from accord.core.references import insert_with_reference
from accord.core.roles import Permission
from accord.core.services import require

MAX_DOCUMENTS = 20


class CaseRefused(Refused):
    """A change refused for who asks (403), the case's status (409) or what it
    carries (422). Nothing changed; the refusal is audited."""


@dataclass(frozen=True)
class CaseContent:
    """What the author writes: the fields `create_case` and `update_case` take."""

    title: str
    title_language: str
    title_translation: str
    categories: list[str]
    confidential: bool


def parse_case(data: dict[str, Any]) -> CaseContent:
    """The case's own fields, checked; every problem named at once."""
    problems = []
    title = str(data.get("title") or "").strip()
    if not title or len(title) > TITLE:
        problems.append(_("Give the case a title of at most %(n)s characters.") % {"n": TITLE})
    language = str(data.get("title_language") or "")
    if language not in TitleLanguage.values:
        problems.append(_("Say which language the title is written in."))
    translation = str(data.get("title_translation") or "").strip()
    if len(translation) > TITLE:
        problems.append(_("The translated title is too long."))
    categories = list(dict.fromkeys(data.get("categories") or []))
    unknown = [str(c) for c in categories if c not in OffenceCategory.values]
    if unknown:
        problems.append(_("Unknown offence category: %(c)s.") % {"c": ", ".join(unknown)})
    if problems:
        raise ValidationError(problems)
    return CaseContent(title, language, translation, categories, bool(data.get("confidential")))


@audit.refusals_kept()
def create_case(
    actor: Actor, data: dict[str, Any], *, synthetic: bool = False, ip: str = ""
) -> Case:
    """Someone who works on cases opens one; they are its first team member."""
    require(actor, Permission.EDIT_CASES, what="create_case", ip=ip)
    enforce(actor, policy.CREATE, None, ip)
    content = parse_case(data)
    now = timezone.now()
    with transaction.atomic():
        case = Case(
            id=uuid.uuid4(),
            created_by=actor.user,
            created_at=now,
            synthetic=synthetic,
            **content.__dict__,
        )
        insert_with_reference(case, f"{this_node().node_id.upper()}-C-{now.year}-")
        if actor.user:
            case.team.add(actor.user)
        audit.record(
            actor,
            AuditAction.CASE_CREATE,
            case,
            data={"reference": case.reference, "confidential": case.confidential},
            ip=ip,
        )
    return case


@audit.refusals_kept()
def update_case(actor: Actor, case: Case, data: dict[str, Any], *, ip: str = "") -> Case:
    require(actor, Permission.EDIT_CASES, what="update_case", ip=ip)
    content = parse_case(data)
    with transaction.atomic():
        locked = locked_for(actor, case, policy.EDIT, ip)
        fields = content.__dict__
        changed = sorted(key for key, value in fields.items() if getattr(locked, key) != value)
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.save()
        audit.record(
            actor,
            AuditAction.CASE_UPDATE,
            locked,
            data={"reference": locked.reference, "changed": changed},
            ip=ip,
        )
    return locked


@audit.refusals_kept()
def change_status(actor: Actor, case: Case, status: str, *, ip: str = "") -> Case:
    """Open, suspended, closed, in any order; a closed case takes no new
    observables until it is reopened."""
    require(actor, Permission.EDIT_CASES, what="case_status", ip=ip)
    if status not in CaseStatus.values:
        refuse(actor, case, policy.STATUS, _("Unknown status %(s)s.") % {"s": status}, 422, ip)
    with transaction.atomic():
        locked = locked_for(actor, case, policy.STATUS, ip)
        if locked.status == status:
            message = _("The case is %(s)s already.") % {"s": locked.get_status_display()}
            refuse(actor, case, policy.STATUS, message, 409, ip)
        before, locked.status = locked.status, status
        locked.save(update_fields=["status"])
        audit.record(
            actor,
            AuditAction.CASE_STATUS,
            locked,
            data={"reference": locked.reference, "from": before, "to": status},
            ip=ip,
        )
    return locked


@audit.refusals_kept()
def add_member(actor: Actor, case: Case, user: User, *, ip: str = "") -> None:
    """A team member brings in a colleague who works on cases."""
    require(actor, Permission.EDIT_CASES, what="case_team", ip=ip)
    with transaction.atomic():
        locked = locked_for(actor, case, policy.TEAM, ip)
        if not user.is_active or not user.has_permission(Permission.EDIT_CASES):
            message = _("%(user)s does not work on cases.") % {"user": user.username}
            refuse(actor, case, policy.TEAM, message, UNPROCESSABLE, ip)
        locked.team.add(user)
        audit.record(
            actor,
            AuditAction.CASE_TEAM,
            locked,
            data={"reference": locked.reference, "added": user.username},
            ip=ip,
        )


# ---------------------------------------------------------------- observables


@audit.refusals_kept()
def add_observable(
    actor: Actor,
    case: Case,
    code: str,
    raw: str,
    *,
    subject: Subject | None = None,
    context: dict[str, Any] | None = None,
    ip: str = "",
) -> Observable:
    """One value, normalised; refused if it does not parse or the case holds
    it already (nothing is stored twice)."""
    require(actor, Permission.EDIT_CASES, what="add_observable", ip=ip)
    try:
        parsed = parse_observable(code, raw, **(context or {}))
    except ObservableError as exc:
        refuse(actor, case, policy.OBSERVE, str(exc), UNPROCESSABLE, ip, code=code)
    with transaction.atomic():
        locked = locked_for(actor, case, policy.OBSERVE, ip)
        if subject is not None and subject.case_id != locked.pk:
            refuse(actor, case, policy.OBSERVE, _("No such subject in this case."), 422, ip)
        row = Observable(
            case=locked,
            code=parsed.code,
            normal=parsed.normal,
            display=raw.strip()[:512],
            subject=subject,
            source=Source.MANUAL,
            added_by=actor.user,
        )
        if not store_new([row]):
            refuse(actor, case, policy.OBSERVE, _("The case holds this value already."), 409, ip)
        audit.record(
            actor,
            AuditAction.OBSERVABLE_ADD,
            locked,
            data={"reference": locked.reference, "code": row.code, "observable": row.pk},
            ip=ip,
        )
    return row


@audit.refusals_kept()
def remove_observable(actor: Actor, case: Case, observable_id: int, *, ip: str = "") -> None:
    require(actor, Permission.EDIT_CASES, what="remove_observable", ip=ip)
    with transaction.atomic():
        locked = locked_for(actor, case, policy.OBSERVE, ip)
        row = Observable.objects.filter(case=locked, pk=observable_id).first()
        if row is None:
            refuse(actor, case, policy.OBSERVE, _("No such observable in this case."), 422, ip)
        row.delete()
        audit.record(
            actor,
            AuditAction.OBSERVABLE_REMOVE,
            locked,
            data={"reference": locked.reference, "code": row.code, "observable": observable_id},
            ip=ip,
        )


def store_new(rows: list[Observable]) -> list[Observable]:
    """Insert the rows the case does not hold yet; return those inserted.
    Call inside a transaction holding the case's lock (so no other writer
    adds to the same case meanwhile)."""
    if not rows:
        return []
    case = rows[0].case
    held = set(
        Observable.objects.filter(case=case, normal__in={r.normal for r in rows}).values_list(
            "code", "normal"
        )
    )
    fresh: dict[tuple[str, str], Observable] = {}
    for row in rows:
        key = (row.code, row.normal)
        if key not in held and key not in fresh:
            fresh[key] = row
    # The case's lock keeps other writers out, so a unique-constraint error
    # here is a bug to see, not a race to retry. bulk_create sets primary keys
    # on PostgreSQL and SQLite 3.35+.
    Observable.objects.bulk_create(list(fresh.values()))
    return list(fresh.values())


# ---------------------------------------------------------------- subjects


@dataclass(frozen=True)
class SubjectContent:
    kind: str
    display_name: str
    family_name: str
    given_name: str
    birth_date: date | None
    documents: list[dict[str, str]]


def parse_subject(data: dict[str, Any]) -> SubjectContent:
    problems = []
    kind = str(data.get("kind") or "")
    if kind not in SubjectKind.values:
        problems.append(_("Say what kind of subject this is."))
    family = str(data.get("family_name") or "").strip()[:NAME]
    given = str(data.get("given_name") or "").strip()[:NAME]
    name = str(data.get("display_name") or "").strip()[:NAME] or f"{family} {given}".strip()
    if not name:
        problems.append(_("Give the subject a name."))
    born = data.get("birth_date") or None
    if isinstance(born, str):
        try:
            born = date.fromisoformat(born)
        except ValueError:
            problems.append(_("The date of birth is not a date (YYYY-MM-DD)."))
            born = None
    if born is not None and kind != SubjectKind.PERSON:
        problems.append(_("Only a person has a date of birth."))
    documents = [
        {k: str(v or "").strip() for k, v in doc.items() if k in ("code", "value", "country")}
        for doc in (data.get("documents") or [])
        if isinstance(doc, dict)
    ]
    if len(documents) > MAX_DOCUMENTS:
        problems.append(_("At most %(n)s documents per subject.") % {"n": MAX_DOCUMENTS})
    if problems:
        raise ValidationError(problems)
    return SubjectContent(kind, name, family, given, born, documents)


def subject_observables(content: SubjectContent) -> list[Any]:
    """What the subject adds to the correlation index: a person with a date of
    birth (name key plus date of birth, DOMAIN.md "Observables"), and each
    identity document. Raises ObservableError naming what does not parse."""
    found = []
    if content.kind == SubjectKind.PERSON and content.birth_date is not None:
        # A name given in one field is written family name first.
        family = content.family_name or content.display_name
        given = content.given_name if content.family_name else ""
        born = content.birth_date.isoformat()
        found.append(parse_observable("person", f"{family}|{given}|{born}"))
    for document in content.documents:
        context = {"country": document["country"]} if document.get("country") else {}
        found.append(
            parse_observable(document.get("code", ""), document.get("value", ""), **context)
        )
    return found


@audit.refusals_kept()
def add_subject(actor: Actor, case: Case, data: dict[str, Any], *, ip: str = "") -> Subject:
    """A subject with the observables it implies, all or nothing."""
    require(actor, Permission.EDIT_CASES, what="add_subject", ip=ip)
    content = parse_subject(data)
    try:
        parsed = subject_observables(content)
    except ObservableError as exc:
        refuse(actor, case, policy.OBSERVE, str(exc), UNPROCESSABLE, ip)
    with transaction.atomic():
        locked = locked_for(actor, case, policy.OBSERVE, ip)
        subject = Subject.objects.create(case=locked, added_by=actor.user, **content.__dict__)
        added = store_new(
            [
                Observable(
                    case=locked,
                    code=p.code,
                    normal=p.normal,
                    display=p.display[:512],
                    subject=subject,
                    source=Source.SUBJECT,
                    added_by=actor.user,
                )
                for p in parsed
            ]
        )
        audit.record(
            actor,
            AuditAction.SUBJECT_ADD,
            locked,
            data={
                "reference": locked.reference,
                "subject": subject.pk,
                "kind": subject.kind,
                "observables": len(added),
            },
            ip=ip,
        )
    return subject


# ---------------------------------------------------------------- the door


def locked_for(actor: Actor, case: Case, action: str, ip: str) -> Case:
    """The case, locked, if the policy allows the action on it as it is now.
    Call inside a transaction."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    enforce(actor, action, locked, ip)
    return locked


def enforce(actor: Actor, action: str, case: Case | None, ip: str) -> None:
    """Refuse (audited) unless the policy allows the action now."""
    refusal = policy.allowed(actor.user, action, case)
    if refusal is not None:
        refuse(actor, case, action, refusal.reason, refusal.status, ip)


def refuse(
    actor: Actor,
    case: Case | None,
    action: str,
    reason: str,
    status: int,
    ip: str,
    **extra: str,
) -> NoReturn:
    """Refuse, audited: the record survives the transaction it is raised in."""
    entry = audit.make_entry(
        actor,
        AuditAction.CASE_REFUSED,
        case,
        target_type="" if case else "cases.case",
        data={
            "action": action,
            "reason": str(reason),
            "status": status,
            "reference": case.reference if case else "",
            **extra,
        },
        ip=ip,
    )
    audit.refuse(entry, CaseRefused(str(reason), status))
