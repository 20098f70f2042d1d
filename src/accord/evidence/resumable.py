"""Resumable uploads (docs/evidence.md, "Resumable uploads"): an upload
session, parts appended in order, and a finish that makes the item through
`services.add_item`, so the same rules, custody and audit as any upload.

The uploader declares the name, size and SHA-256 first; the size is checked
against the item limit before a byte is sent, each part's length against the
part limit before it is read. A part goes at the session's `received` offset
only: a client that lost its connection asks the session for that offset and
sends from there. A part cut short keeps nothing (the staging file is cut back
to `received` before each part), so a part is in or out, never half.

The staging file (DATA_DIR/evidence-uploads/<id>.part) is encrypted with
AES-256-CTR under a random key of the session, sealed under the node's secret
(purpose `evidence-upload:<id>`): CTR lets a part start at any byte offset,
and the whole is authenticated at the finish by the declared SHA-256. A
session waiting longer than ACCORD_EVIDENCE_UPLOAD_HOURS for its next part is
expired by the clock (`expire`) and its file removed."""

from __future__ import annotations

import base64
import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.policy import CONFLICT, UNPROCESSABLE
from accord.core.sealed import seal, unseal
from accord.evidence import blobs, policy, ranges, services
from accord.evidence.models import NAME, EvidenceItem, UploadSession, UploadStatus

PIECE = 65_536  # read from the request this much at a time
MAX_OPEN = 10  # sessions under way per user: each may fill its declared size on disk


@dataclass(frozen=True)
class Declared:
    """What the uploader says before sending: the item, its size and hash."""

    new: services.NewItem
    size: int
    sha256: str


def part_bytes() -> int:
    return int(settings.EVIDENCE_UPLOAD_PART_BYTES)


def root() -> Path:
    return Path(settings.DATA_DIR) / "evidence-uploads"


def staging_path(session: UploadSession) -> Path:
    return root() / f"{session.pk}.part"


def key_purpose(session_id: Any) -> str:
    return f"evidence-upload:{session_id}"


def keystream(session: UploadSession, offset: int) -> CipherContext:
    """AES-256-CTR positioned at byte `offset` of the staging file (the key
    serves one session: a counter from 0 never repeats under it)."""
    key = base64.b64decode(unseal(session.sealed_key, key_purpose(session.pk)))
    block, skip = divmod(offset, 16)
    context = Cipher(algorithms.AES(key), modes.CTR(block.to_bytes(16, "big"))).encryptor()
    context.update(b"\0" * skip)
    return context


def describe(session: UploadSession) -> dict[str, Any]:
    """The session as the API and the CLI show it; `offset` is where the next part goes."""
    return {
        "id": str(session.pk),
        "status": session.status,
        "name": session.name,
        "size": session.size,
        "sha256": session.sha256,
        "offset": session.received,
        "part_bytes": part_bytes(),
        "expires_at": session.expires_at,
        "item": str(session.item_id) if session.item_id else None,
    }


def refuse(actor: Actor, session: Any, reason: str, status: int, ip: str) -> NoReturn:
    """Audited (as a refused add), nothing changed."""
    extra = {"upload": str(session.pk)} if session is not None else {}
    services.refuse(actor, None, policy.ADD, reason, status, ip, **extra)


# ---------------------------------------------------------------- start


@audit.refusals_kept()
def start(
    actor: Actor, declared: Declared, *, case: Any = None, request: Any = None, ip: str = ""
) -> UploadSession:
    """A new session, once the declared item may be added here at all."""
    services.enforce(actor, policy.ADD, None, ip, case=case, request=request)
    if actor.user is None:
        refuse(actor, None, _("An upload belongs to a user: name one."), UNPROCESSABLE, ip)
    name = services.clean_text(declared.new.name).strip() or "unnamed"
    if len(name) > NAME:
        refuse(actor, None, _("The file name is too long."), UNPROCESSABLE, ip)
    try:
        blobs.check_declared(declared.size)
    except blobs.TooLarge as exc:
        refuse(actor, None, exc.message, 413, ip)
    under_way = UploadSession.objects.filter(created_by=actor.user, status=UploadStatus.OPEN)
    if under_way.count() >= MAX_OPEN:
        message = _("You have %(n)s uploads under way: finish or cancel one first.")
        refuse(actor, None, message % {"n": MAX_OPEN}, CONFLICT, ip)
    session_id, now = uuid.uuid4(), timezone.now()
    key = base64.b64encode(os.urandom(32)).decode()
    with transaction.atomic():
        session = UploadSession.objects.create(
            id=session_id,
            created_by=actor.user,
            case=case,
            request=request,
            name=name,
            content_type=services.clean_content_type(declared.new.content_type),
            description=services.clean_text(declared.new.description),
            collected=declared.new.collected.details(),
            size=declared.size,
            sha256=declared.sha256,
            sealed_key=seal(key, key_purpose(session_id)),
            created_at=now,
            updated_at=now,
            expires_at=now + lifetime(),
        )
        record(actor, AuditAction.EVIDENCE_UPLOAD_START, session, ip)
    return session


def lifetime() -> timedelta:
    return timedelta(hours=settings.EVIDENCE_UPLOAD_HOURS)


def record(actor: Actor, action: AuditAction, session: UploadSession, ip: str, **data: Any) -> None:
    owner = {"case": session.case.reference if session.case else ""}
    owner["request"] = session.request.reference if session.request else ""
    base = {**owner, "name": session.name[:200], "size": session.size, "sha256": session.sha256}
    audit.record(actor, action, session, data={**base, **data}, ip=ip)


def resume_or_start(
    actor: Actor, declared: Declared, *, case: Any = None, request: Any = None, ip: str = ""
) -> UploadSession:
    """The actor's open session for the same bytes, name and owner, else a new one."""
    same = UploadSession.objects.filter(
        created_by=actor.user,
        status=UploadStatus.OPEN,
        expires_at__gt=timezone.now(),
        case=case,
        request=request,
        size=declared.size,
        sha256=declared.sha256,
        name=services.clean_text(declared.new.name).strip() or "unnamed",
    )
    found = same.order_by("-updated_at").first() if actor.user is not None else None
    return found or start(actor, declared, case=case, request=request, ip=ip)


# ---------------------------------------------------------------- parts


def usable(actor: Actor, session: UploadSession, ip: str) -> None:
    """Refuse a session that takes no more parts, or whose owner may no longer add."""
    owner = {"case": session.case, "request": session.request}
    services.enforce(actor, policy.ADD, None, ip, **owner)
    if session.status != UploadStatus.OPEN:
        message = _("This upload takes no more parts: it is %(s)s.")
        refuse(actor, session, message % {"s": session.get_status_display()}, CONFLICT, ip)
    if session.expires_at <= timezone.now():
        message = _("This upload expired: start again.")
        refuse(actor, session, message, CONFLICT, ip)


def placed(
    actor: Actor, session: UploadSession, length: int | None, where: Any, ip: str
) -> tuple[int, int]:
    """Where the part goes and how long it is, checked before it is read:
    `where` is a Content-Range header (text) or an offset (a number)."""
    if length is None:
        refuse(actor, session, _("Say the part's length (Content-Length)."), 411, ip)
    if isinstance(where, str):
        place = ranges.parse_part(where)
        if place is None or place.last - place.first + 1 != length:
            message = _("The Content-Range does not match the part's length.")
            refuse(actor, session, message, UNPROCESSABLE, ip)
        if place.total is not None and place.total != session.size:
            message = _("The total in Content-Range is not the size declared at the start.")
            refuse(actor, session, message, UNPROCESSABLE, ip)
        where = place.first
    if where is None:
        message = _("Say where the part goes: a Content-Range header or an offset.")
        refuse(actor, session, message, UNPROCESSABLE, ip)
    if length <= 0 or length > part_bytes():
        message = _("A part holds 1 to %(n)s bytes.") % {"n": part_bytes()}
        refuse(actor, session, message, 413 if length > 0 else UNPROCESSABLE, ip)
    if where + length > session.size:
        message = _("The part runs past the size declared at the start.")
        refuse(actor, session, message, UNPROCESSABLE, ip)
    if where != session.received:
        message = _("The upload has %(n)s bytes: send the next part from there.")
        refuse(actor, session, message % {"n": session.received}, CONFLICT, ip)
    return where, length


@audit.refusals_kept()
def append(
    actor: Actor,
    session: UploadSession,
    stream: Any,
    *,
    length: int | None,
    where: int | str | None,
    ip: str = "",
) -> UploadSession:
    """Write the next part from `stream` (exactly `length` bytes, at
    `session.received`). The session is held while the part is written, so
    two parts for the same offset cannot both go in."""
    usable(actor, session, ip)
    offset, length = placed(actor, session, length, where, ip)
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        usable(actor, locked, ip)
        placed(actor, locked, length, offset, ip)
        got = write_part(locked, offset, length, stream)
        if got < length:
            message = _(
                "The part ended after %(got)s of %(n)s bytes; none of it was kept: "
                "send it again from byte %(at)s."
            )
            refuse(actor, locked, message % {"got": got, "n": length, "at": offset}, 400, ip)
        locked.received, locked.updated_at = offset + length, timezone.now()
        locked.expires_at = locked.updated_at + lifetime()
        locked.save(update_fields=["received", "updated_at", "expires_at"])
        record(actor, AuditAction.EVIDENCE_UPLOAD_PART, locked, ip, offset=offset, length=length)
    return locked


def write_part(session: UploadSession, offset: int, length: int, stream: Any) -> int:
    """Encrypt up to `length` bytes of `stream` into the staging file at
    `offset`; how many came. The file is cut back to `offset` first (the rest
    of a part cut short earlier) and again if this one is cut short."""
    path = staging_path(session)
    path.parent.mkdir(parents=True, exist_ok=True)
    context = keystream(session, offset)
    got = 0
    with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as out:
        out.truncate(offset)
        out.seek(offset)
        try:
            while got < length:
                piece = stream.read(min(PIECE, length - got))
                if not piece:
                    break
                out.write(context.update(piece))
                got += len(piece)
        except OSError:  # the client went away (Django's UnreadablePostError is one)
            pass
        if got < length:
            out.truncate(offset)
            return got
        out.flush()
        os.fsync(out.fileno())
    return got


# ---------------------------------------------------------------- finish, cancel, expire


@audit.refusals_kept()
def finish(actor: Actor, session: UploadSession, *, ip: str = "") -> EvidenceItem:
    """Make the item from the staged bytes (their SHA-256 must be the one
    declared). Asked again after it succeeded, it gives the same item."""
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == UploadStatus.DONE and locked.item is not None:
            return locked.item
        usable(actor, locked, ip)
        if locked.received != locked.size:
            message = _("The upload has %(got)s of %(n)s bytes: send the rest first.")
            refuse(actor, locked, message % {"got": locked.received, "n": locked.size}, 409, ip)
        new = services.NewItem(
            name=locked.name,
            content_type=locked.content_type,
            description=locked.description,
            collected=services.Collected(**locked.collected),
        )
        with staged(actor, locked, ip) as stream:
            item = services.add_item(
                actor,
                stream,
                new,
                case=locked.case,
                request=locked.request,
                declared_size=locked.size,
                sha256=locked.sha256,
                ip=ip,
            )
        locked.status, locked.item, locked.updated_at = UploadStatus.DONE, item, timezone.now()
        locked.save(update_fields=["status", "item", "updated_at"])
        record(actor, AuditAction.EVIDENCE_UPLOAD_DONE, locked, ip, item=str(item.pk))
        discard_on_commit(locked)
    return item


class Staged:
    """The staging file read back as plaintext, in order."""

    def __init__(self, handle: Any, context: CipherContext) -> None:
        self.handle, self.context = handle, context

    def read(self, size: int = -1, /) -> bytes:
        return self.context.update(self.handle.read(size))


@contextmanager
def staged(actor: Actor, session: UploadSession, ip: str) -> Iterator[Staged]:
    path = staging_path(session)
    if session.size == 0 and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        refuse(actor, session, _("The bytes of this upload are gone: start again."), 409, ip)
    with handle:
        yield Staged(handle, keystream(session, 0))


def discard_on_commit(session: UploadSession) -> None:
    transaction.on_commit(functools.partial(staging_path(session).unlink, missing_ok=True))


@audit.refusals_kept()
def cancel(actor: Actor, session: UploadSession, *, ip: str = "") -> UploadSession:
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.status != UploadStatus.OPEN:
            message = _("This upload takes no more parts: it is %(s)s.")
            refuse(actor, locked, message % {"s": locked.get_status_display()}, CONFLICT, ip)
        locked.status, locked.updated_at = UploadStatus.CANCELLED, timezone.now()
        locked.save(update_fields=["status", "updated_at"])
        record(actor, AuditAction.EVIDENCE_UPLOAD_CANCEL, locked, ip, received=locked.received)
        discard_on_commit(locked)
    return locked


def expire(now: datetime | None = None) -> int:
    """The clock: sessions past their time are expired and their files
    removed, and any staging file no open session owns (a removal that did
    not happen) goes too. Returns how many sessions expired."""
    now = now or timezone.now()
    files = list(root().glob("*.part")) if root().exists() else []
    expired = 0
    late = UploadSession.objects.filter(status=UploadStatus.OPEN, expires_at__lt=now)
    for pk in late.values_list("pk", flat=True):
        with transaction.atomic():
            session = UploadSession.objects.select_for_update().get(pk=pk)
            if session.status != UploadStatus.OPEN or session.expires_at >= now:
                continue
            session.status, session.updated_at = UploadStatus.EXPIRED, now
            session.save(update_fields=["status", "updated_at"])
            clock, received = Actor.system("clock"), session.received
            record(clock, AuditAction.EVIDENCE_UPLOAD_EXPIRED, session, "", received=received)
            discard_on_commit(session)
        expired += 1
    # Asked after the listing: a file seen there belongs to a session already committed.
    still_open = UploadSession.objects.filter(status=UploadStatus.OPEN).values_list("pk", flat=True)
    open_ids = {str(pk) for pk in still_open}
    for path in files:
        if path.stem not in open_ids:
            path.unlink(missing_ok=True)
    return expired


__all__ = [
    "Declared",
    "append",
    "cancel",
    "describe",
    "expire",
    "finish",
    "resume_or_start",
    "start",
]
