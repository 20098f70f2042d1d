"""The first message kinds: `core.note`, a signed text note from an officer of
one node to the other node, and `core.ping`, a channel test."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from pydantic import Field

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.roles import Permission
from accord.core.services import LANGUAGE_CODES, require
from accord.federation import kinds, services
from accord.federation.models import Note, Peer

NOTE_KIND = "core.note"
PING_KIND = "core.ping"
MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_PINGS = 100_000


class NoteBody(kinds.StrictBody):
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    language: str = Field(pattern=r"^(en|zh-hans)$")
    author: str = Field(min_length=1, max_length=300)


class PingBody(kinds.StrictBody):
    n: int = Field(ge=0)
    padding: str = Field(default="", max_length=65_536)


@kinds.register(NOTE_KIND, NoteBody)
def receive_note(context: kinds.InboundContext, body: NoteBody) -> None:
    Note.objects.create(
        direction=Note.Direction.IN,
        peer=context.peer,
        message_id=context.message_id,
        author_name=body.author,
        subject=body.subject,
        text=body.text,
        language=body.language,
    )


@kinds.register(PING_KIND, PingBody)
def receive_ping(context: kinds.InboundContext, body: PingBody) -> None:
    """Nothing to apply: the inbox record and its receipt are the result."""


def send_note(
    actor: Actor, peer: Peer, subject: str, text: str, language: str, *, ip: str = ""
) -> Note:
    require(actor, Permission.EXCHANGE_NOTES, what="send_note", ip=ip)
    if language not in LANGUAGE_CODES:
        raise ValidationError(_("Unknown language."))
    subject, text = subject.strip(), text.strip()
    if not subject or not text:
        raise ValidationError(_("A note needs a subject and a text."))
    if len(subject) > MAX_SUBJECT or len(text) > MAX_TEXT:
        raise ValidationError(_("The note is too long."))
    user = actor.user
    author = (user.get_full_name() or user.username) if user else actor.label
    body = NoteBody(subject=subject, text=text, language=language, author=author)
    with transaction.atomic():
        message = services.enqueue(peer, NOTE_KIND, body)
        note = Note.objects.create(
            direction=Note.Direction.OUT,
            peer=peer,
            message_id=message.id,
            author=user,
            author_name=author,
            subject=subject,
            text=text,
            language=language,
        )
        audit.record(
            actor,
            AuditAction.NOTE_SEND,
            note,
            data={"peer": peer.node_id, "seq": message.seq, "message_id": str(message.id)},
            ip=ip,
        )
    return note


def send_pings(actor: Actor, peer: Peer, count: int, size: int = 0) -> int:
    """Queue `count` channel-test messages in one transaction (for operators
    checking a channel, and for the reliability tests and benchmark)."""
    require(actor, Permission.MANAGE_FEDERATION, what="send_pings")
    if not 1 <= count <= MAX_PINGS:
        raise ValidationError(_("Send between 1 and %(max)s pings.") % {"max": MAX_PINGS})
    if not 0 <= size <= 65_536:
        raise ValidationError(_("Padding must be between 0 and 65536 bytes."))
    bodies = [PingBody(n=n, padding="x" * size) for n in range(count)]
    with transaction.atomic():
        messages = services.enqueue_many(peer, PING_KIND, bodies)
        audit.record(
            actor,
            AuditAction.PING_SEND,
            peer,
            data={"count": count, "first_seq": messages[0].seq, "last_seq": messages[-1].seq},
        )
    return count
