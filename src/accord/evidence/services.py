"""The rules of evidence: the one door every change and every access to the
bytes goes through (pages, API, CLI alike). Each checks the policy, changes
the state, writes the signed custody record and the audit event in one
transaction; every refusal is audited and changes nothing.

Every public function here is a `refusals_kept` boundary: a refusal raised
inside a transaction is recorded after that transaction rolled back."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, BinaryIO, NoReturn

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import b64, this_node
from accord.core.policy import CONFLICT, UNPROCESSABLE, Refused
from accord.evidence import blobs, conditions, cover, custody, follow, policy, ranges, retention
from accord.evidence.models import NAME, Blob, CustodyRecordRow, EvidenceItem

FIELD = 300
# A MIME type as RFC 6838 spells one; anything else is stored as octet-stream.
CONTENT_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)
COLLECTED = ("how", "where", "by", "legal_basis", "when")


class EvidenceRefused(Refused):
    """Refused for who asks (403), the item's state (409) or what was given
    (422; 413 for too many bytes). Nothing changed; the refusal is audited."""


@dataclass(frozen=True)
class Collected:
    """How the material was obtained: a seizure record or a provider's production."""

    how: str = ""
    where: str = ""
    by: str = ""
    legal_basis: str = ""
    when: str = ""

    def details(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in COLLECTED}


@dataclass(frozen=True)
class NewItem:
    name: str
    content_type: str = "application/octet-stream"
    description: str = ""
    collected: Collected = field(default_factory=Collected)


def clean_text(value: str) -> str:
    """Text exactly as given, but for NUL: PostgreSQL cannot store it in a text
    column, so it becomes U+FFFD (the replacement character), visibly."""
    return str(value).replace("\x00", "\ufffd")


def clean_content_type(value: str) -> str:
    value = str(value or "").strip()
    return value if CONTENT_TYPE.match(value) else "application/octet-stream"


def actor_name(actor: Actor) -> str:
    if actor.user:
        return actor.user.username
    # The node's clock names itself (a purge at the end of retention); else the shell's operator.
    return "clock" if actor.label == "system:clock" else "operator"


# ---------------------------------------------------------------- add


@audit.refusals_kept()
def add_item(
    actor: Actor,
    stream: Any,
    new: NewItem,
    *,
    case: Any = None,
    request: Any = None,
    declared_size: int | None = None,
    sha256: str = "",
    ip: str = "",
) -> EvidenceItem:
    """Stream the bytes in (refused before reading if the declared size is over
    the limit, stopped as soon as the stream passes it otherwise), store them
    once, and record the item with its 'collected' custody record. Bytes
    whose hash is not `sha256` (when given) are refused, nothing stored."""
    enforce(actor, policy.ADD, None, ip, case=case, request=request)
    name = clean_text(new.name).strip() or "unnamed"
    if len(name) > NAME:
        refuse(actor, None, policy.ADD, _("The file name is too long."), UNPROCESSABLE, ip)
    collected = Collected(**{k: clean_text(v)[:FIELD] for k, v in new.collected.details().items()})
    try:
        pending = blobs.encrypt_stream(stream, declared_size=declared_size)
    except blobs.TooLarge as exc:
        refuse(actor, None, policy.ADD, exc.message, 413, ip, name=name[:200])
    if sha256 and pending.sha256 != sha256:
        pending.discard()
        message = _("The bytes received do not match the SHA-256 declared for them.")
        refuse(actor, None, policy.ADD, message, UNPROCESSABLE, ip, name=name[:200])
    stored: list[Blob] = []  # a blob this call put into the storage
    try:
        with transaction.atomic():
            if case is not None:
                lock_container(type(case), case.pk)
            elif request is not None:
                lock_container(type(request), request.pk)
            enforce(actor, policy.ADD, None, ip, case=case, request=request)
            blob, created = blobs.commit(pending)
            if created:
                stored.append(blob)
            item = EvidenceItem.objects.create(
                id=uuid.uuid4(),
                sha256=blob.sha256,
                size=blob.size,
                name=name,
                content_type=clean_content_type(new.content_type),
                description=clean_text(new.description),
                case=case,
                request=request,
                collected_how=collected.how,
                collected_where=collected.where,
                collected_by=collected.by,
                collected_when=collected.when,
                legal_basis=collected.legal_basis,
                created_by=actor.user,
                created_at=timezone.now(),
            )
            write_custody(item, "collected", actor, details=collected.details())
            audit.record(
                actor,
                AuditAction.EVIDENCE_ADD,
                item,
                data={
                    **container(item),
                    "sha256": item.sha256,
                    "size": item.size,
                    "stored_once": not created,
                },
                ip=ip,
            )
            if request is not None:
                follow.follow_on_commit(item, ip)  # if the request went already
    except BaseException:
        # The rows rolled back: the ciphertext this call stored would be an orphan.
        for blob in stored:
            blobs.storage().delete(blob.storage_name)
        raise
    finally:
        pending.discard()  # moved into the storage, or left over from a refusal
    return item


def lock_container(model: Any, pk: Any) -> None:
    """Hold the case or request while its evidence changes (its team, too)."""
    model.objects.select_for_update().filter(pk=pk).first()


# ---------------------------------------------------------------- reads


@audit.refusals_kept()
def view_item(actor: Actor, item: EvidenceItem, *, ip: str = "") -> EvidenceItem:
    """Looking at an item is a custody event too ('viewed'), signed and audited."""
    with transaction.atomic():
        locked = locked_for(actor, item, policy.VIEW, ip)
        write_custody(locked, "viewed", actor)
        audit.record(actor, AuditAction.EVIDENCE_VIEW, locked, data=container(locked), ip=ip)
    return locked


@audit.refusals_kept()
def download(
    actor: Actor, item: EvidenceItem, *, ip: str = "", wanted: ranges.Wanted | None = None
) -> blobs.Plaintext:
    """The plaintext (the bytes `wanted` names, else all), as an iterator of
    chunks, each authenticated before it is given out. The 'downloaded'
    record and the audit event are written first: the bytes are handed out
    only once the handing-out is on record. A range that resumes a download
    (`resumes`) is audited but adds no second custody record."""
    with transaction.atomic():
        locked = locked_for(actor, item, policy.DOWNLOAD, ip)
        bound_by_conditions(actor, locked, policy.DOWNLOAD, "", ip)
        blob = blob_of(actor, locked, policy.DOWNLOAD, ip)
        try:
            span = ranges.resolve(wanted, locked.size)
        except ranges.Unsatisfiable:
            message = _("The range asked for is not in the item (%(n)s bytes).") % {
                "n": locked.size
            }
            refuse(actor, locked, policy.DOWNLOAD, message, 416, ip, range=str(wanted)[:40])
        try:
            chunks = blobs.read_plaintext(blob, span.start, span.stop)  # missing bytes refuse here
        except blobs.BlobError as exc:
            refuse(actor, locked, policy.DOWNLOAD, exc.message, CONFLICT, ip)
        part = {} if span.whole else {"range": f"{span.start}-{span.stop - 1}"}
        if not resumes(actor, locked, span):
            write_custody(locked, "downloaded", actor, details=part)
        data = {**container(locked), **part}
        audit.record(actor, AuditAction.EVIDENCE_DOWNLOAD, locked, data=data, ip=ip)
    return chunks


def resumes(actor: Actor, item: EvidenceItem, span: ranges.Span) -> bool:
    """A range that starts past byte 0, asked by someone whose own last
    'downloaded' record for the item here is under EVIDENCE_RESUME_HOURS old:
    the rest of a download already on record. A range from byte 0 is a new
    download, and so is a late or stranger's range: each is recorded."""
    if span.start == 0:
        return False
    mine = CustodyRecordRow.objects.filter(
        item=item, node=this_node().node_id, event="downloaded", actor=actor_name(actor)
    )
    last = mine.order_by("-seq").first()
    if last is None:
        return False
    window = timedelta(hours=settings.EVIDENCE_RESUME_HOURS)
    return custody.parse_time(last.at) > timezone.now() - window


def bound_by_conditions(actor: Actor, item: EvidenceItem, use: str, purpose: str, ip: str) -> None:
    """Refuse, audited with the reason, a use the item's conditions forbid."""
    refusal = conditions.check_use(actor, item, use, purpose)
    if refusal is not None:
        refuse(actor, item, use, refusal.reason, refusal.status, ip, conditions="1")


def blob_of(actor: Actor, item: EvidenceItem, action: str, ip: str) -> Blob:
    blob = Blob.objects.filter(pk=item.sha256).first()
    if blob is None or not blob.sealed_key:
        message = _("The stored bytes of this item are missing.")
        refuse(actor, item, action, message, CONFLICT, ip)
    return blob


# ---------------------------------------------------------------- export


@audit.refusals_kept()
def export_bundle(
    actor: Actor,
    items: list[EvidenceItem],
    out: BinaryIO,
    *,
    with_cover: bool = False,
    purpose: str = "",
    ip: str = "",
) -> dict[str, Any]:
    """A court bundle of the items: each gets its 'exported' custody record
    (inside the bundle too), the export is audited, then the bundle is written
    by streaming each item's plaintext out of the storage. `with_cover` adds
    the bilingual cover sheet when Chromium can print it. `purpose` is what the
    export is for: the items' conditions of use may require one (conditions.py)."""
    from accord.evidence import bundle

    if not items:
        refuse(actor, None, policy.EXPORT, _("Choose at least one item."), UNPROCESSABLE, ip)
    purpose = clean_text(purpose).strip()
    if len(purpose) > FIELD:
        # Kept whole in each item's signed custody record, which travels with
        # the chain (300 records to a message): never cut short.
        reason = _(
            "The purpose of an export is at most %(limit)s characters; this one has %(count)s."
        )
        reason = reason % {"limit": FIELD, "count": len(purpose)}
        refuse(actor, items[0], policy.EXPORT, reason, UNPROCESSABLE, ip)
    node = this_node()
    sources = []
    with transaction.atomic():
        for item in sorted(items, key=lambda i: str(i.pk)):
            locked = locked_for(actor, item, policy.EXPORT, ip)
            bound_by_conditions(actor, locked, policy.EXPORT, purpose, ip)
            blob = blob_of(actor, locked, policy.EXPORT, ip)
            details: dict[str, Any] = {"items": len(items)}
            if purpose:
                details["purpose"] = purpose
            write_custody(locked, "exported", actor, details=details)
            sources.append(item_source(locked, blob))
        audit.record(
            actor,
            AuditAction.EVIDENCE_EXPORT,
            target_type="evidence.evidenceitem",
            target_id=",".join(s.id for s in sources)[:200],
            data={"items": [s.id for s in sources], "purpose": purpose},
            ip=ip,
        )
    now = timezone.now()
    return bundle.write_bundle(
        out,
        items=sources,
        nodes=node_keys({r.node for s in sources for r in s.records}),
        exporter=node.node_id,
        actor=actor_name(actor),
        signing_key=node.signing_key,
        created_at=now,
        cover_pdf=cover.render_cover(sources, actor_name(actor), now) if with_cover else None,
    )


def item_source(item: EvidenceItem, blob: Blob) -> Any:
    from accord.evidence import bundle

    def reference(owner: Any) -> dict[str, str] | None:
        return None if owner is None else {"reference": owner.reference, "title": title_of(owner)}

    return bundle.ItemSource(
        id=str(item.pk),
        sha256=item.sha256,
        size=item.size,
        name=item.name,
        content_type=item.content_type,
        description=item.description,
        case=reference(item.case),
        request=reference(item.request),
        conditions=conditions.manifest_lines(item),
        open=lambda: blobs.read_plaintext(blob),
        records=[row.to_record() for row in item.custody.order_by("node", "seq")],
    )


def title_of(owner: Any) -> str:
    title = getattr(owner, "title", None)
    if title is None:  # a request has no title: its purpose says what it is for
        title = getattr(owner, "purpose", "")
    return str(title)[:300]


def node_keys(node_ids: set[str]) -> dict[str, dict[str, str]]:
    """Each node that wrote a record, with the key it signs with: this node's
    own, and a partner's as pinned in its Peer row."""
    from accord.federation.models import Peer

    node = this_node()
    nodes = {
        node.node_id: {
            "party": node.party,
            "agency": node.agency,
            "signing_key": b64(node.signing_public),
        }
    }
    for peer in Peer.objects.filter(node_id__in=node_ids - {node.node_id}):
        nodes[peer.node_id] = {
            "party": peer.party,
            "agency": peer.agency,
            "signing_key": peer.signing_key,
        }
    return nodes


# ---------------------------------------------------------------- purge


@audit.refusals_kept()
def purge_item(actor: Actor, item: EvidenceItem, reason: str, *, ip: str = "") -> EvidenceItem:
    """Remove the bytes and their key (when no other live item holds the same
    bytes); the item, its custody and a 'purged' record stay."""
    reason = clean_text(reason).strip()
    if not reason:
        refuse(actor, item, policy.PURGE, _("Say why the item is purged."), UNPROCESSABLE, ip)
    with transaction.atomic():
        retention.lock_channel(item)  # the partner's channel first: the purge is confirmed to it
        locked = locked_for(actor, item, policy.PURGE, ip)
        locked.purged_at, locked.purge_reason = timezone.now(), reason
        locked.save(update_fields=["purged_at", "purge_reason"])
        shared = EvidenceItem.objects.filter(sha256=locked.sha256, purged_at__isnull=True)
        blob = Blob.objects.select_for_update().filter(pk=locked.sha256).first()
        removed = False
        if blob is not None and not shared.exists():
            removed = True
            name = blob.storage_name
            blob.delete()
            # The ciphertext goes once the purge has committed: a rollback keeps it.
            transaction.on_commit(lambda: blobs.storage().delete(name))
        write_custody(
            locked, "purged", actor, reason=reason, details={"bytes_removed": int(removed)}
        )
        retention.confirm_purge(locked)
        audit.record(
            actor,
            AuditAction.EVIDENCE_PURGE,
            locked,
            data={**container(locked), "reason": reason, "bytes_removed": removed},
            ip=ip,
        )
    return locked


# ---------------------------------------------------------------- custody


def write_custody(
    item: EvidenceItem,
    event: str,
    actor: Actor,
    *,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> CustodyRecordRow:
    """The next record of this node's chain for the item, signed. Call inside
    a transaction holding the item's lock (one writer per chain)."""
    node = this_node()
    last = CustodyRecordRow.objects.filter(item=item, node=node.node_id).order_by("-seq").first()
    record = custody.make_record(
        item=str(item.pk),
        sha256=item.sha256,
        node=node.node_id,
        prev=last.to_record() if last else None,
        event=event,
        at=timezone.now(),
        actor=actor_name(actor),
        reason=reason,
        details=details or {},
        signing_key=node.signing_key,
    )
    row = CustodyRecordRow.of(item, record)
    row.save(force_insert=True)
    return row


# ---------------------------------------------------------------- the door


def container(item: EvidenceItem) -> dict[str, str]:
    return {
        "case": item.case.reference if item.case else "",
        "request": item.request.reference if item.request else "",
    }


def locked_for(actor: Actor, item: EvidenceItem, action: str, ip: str) -> EvidenceItem:
    """The item, locked, if the policy allows the action on it as it is now."""
    locked = EvidenceItem.objects.select_for_update().get(pk=item.pk)
    enforce(actor, action, locked, ip)
    return locked


def enforce(actor: Actor, action: str, item: EvidenceItem | None, ip: str, **owner: Any) -> None:
    refusal = policy.allowed(actor.user, action, item, **owner)
    if refusal is not None:
        refuse(actor, item, action, refusal.reason, refusal.status, ip)


def refuse(
    actor: Actor,
    item: EvidenceItem | None,
    action: str,
    reason: str,
    status: int,
    ip: str,
    **extra: str,
) -> NoReturn:
    """Refuse, audited: the record survives the transaction it is raised in."""
    entry = audit.make_entry(
        actor,
        AuditAction.EVIDENCE_REFUSED,
        item,
        target_type="" if item else "evidence.evidenceitem",
        data={"action": action, "reason": str(reason), "status": status, **extra},
        ip=ip,
    )
    audit.refuse(entry, EvidenceRefused(str(reason), status))
