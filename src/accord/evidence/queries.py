"""Reading evidence: which items a user may see (need-to-know follows the
case or request), one item by id (a refused attempt is audited), lists, and an
item's custody. Nothing here changes anything."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.roles import Permission
from accord.core.services import require
from accord.evidence.models import CustodyRecordRow, EvidenceItem, KeptBundle, UploadSession


def visible(user: User | None) -> Any:
    if user is None:  # the operator at the shell
        return EvidenceItem.objects.all()
    return EvidenceItem.objects.restrict(user, "view")


def open_item(actor: Actor, item_id: Any, *, how: str = "read", ip: str = "") -> EvidenceItem:
    """One item the actor may see, else DoesNotExist (and the attempt audited)."""
    require(actor, Permission.VIEW_EVIDENCE, what=f"evidence_{how}", ip=ip)
    try:
        return visible(actor.user).select_related("case", "request").get(pk=item_id)
    except (EvidenceItem.DoesNotExist, ValidationError, ValueError):
        _denied(actor, "evidence.evidenceitem", item_id, f"evidence_{how}", ip)
        raise EvidenceItem.DoesNotExist from None


def open_upload(actor: Actor, upload_id: Any, *, ip: str = "") -> UploadSession:
    """One upload session: its owner's only (it names bytes not yet evidence)."""
    require(actor, Permission.VIEW_EVIDENCE, what="evidence_upload", ip=ip)
    rows = UploadSession.objects.select_related("case", "request", "item")
    try:
        return rows.get(pk=upload_id, created_by=actor.user)
    except (UploadSession.DoesNotExist, ValidationError, ValueError):
        _denied(actor, "evidence.uploadsession", upload_id, "evidence_upload", ip)
        raise UploadSession.DoesNotExist from None


def open_export(actor: Actor, bundle_id: Any, *, ip: str = "") -> KeptBundle:
    """A kept court bundle: only for who exported it."""
    require(actor, Permission.VIEW_EVIDENCE, what="evidence_export", ip=ip)
    try:
        return KeptBundle.objects.get(pk=bundle_id, created_by=actor.user)
    except (KeptBundle.DoesNotExist, ValidationError, ValueError):
        _denied(actor, "evidence.keptbundle", bundle_id, "evidence_export", ip)
        raise KeptBundle.DoesNotExist from None


def _denied(actor: Actor, target_type: str, target_id: Any, what: str, ip: str) -> None:
    audit.record(
        actor,
        AuditAction.ACCESS_DENIED,
        target_type=target_type,
        target_id=str(target_id)[:64],
        data={"what": what},
        ip=ip,
    )


def list_items(
    actor: Actor, *, case: Any = None, request: Any = None, ip: str = ""
) -> list[EvidenceItem]:
    """The items of a case or a request (or all the actor may see), audited."""
    require(actor, Permission.VIEW_EVIDENCE, what="evidence_list", ip=ip)
    rows = visible(actor.user).select_related("case", "request")
    if case is not None:
        rows = rows.filter(case=case)
    if request is not None:
        rows = rows.filter(request=request)
    found = list(rows.order_by("-created_at")[:1000])
    audit.record(
        actor,
        AuditAction.EVIDENCE_LIST,
        target_type="evidence.evidenceitem",
        data={
            "count": len(found),
            "case": case.reference if case is not None else "",
            "request": request.reference if request is not None else "",
        },
        ip=ip,
    )
    return found


def custody_of(item: EvidenceItem) -> list[CustodyRecordRow]:
    """The item's custody records: each node's chain in order, oldest first."""
    return list(item.custody.order_by("at", "node", "seq"))


__all__ = ["custody_of", "list_items", "open_export", "open_item", "open_upload", "visible"]
