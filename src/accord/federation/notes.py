"""Notes between officers of two nodes (`core.note`) and channel tests
(`core.ping`): sending them, and keeping the notes that arrive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.services import LANGUAGE_CODES
from accord.federation import outbox
from accord.federation.models import Note, NoteRead, Peer
from accord.federation.policy import Action, enforce
from accord.federation.wire import (
    MAX_PADDING,
    MAX_SUBJECT,
    MAX_TEXT,
    NOTE_KIND,
    PING_KIND,
    NoteBody,
    PingBody,
)

MAX_PINGS = 100_000


def send_note(
    actor: Actor, peer: Peer, subject: str, text: str, language: str, *, ip: str = ""
) -> Note:
    enforce(actor, Action.SEND_NOTE, ip=ip)
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
        message = outbox.enqueue(peer, NOTE_KIND, body)
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
    enforce(actor, Action.SEND_PINGS)
    if not 1 <= count <= MAX_PINGS:
        raise ValidationError(_("Send between 1 and %(max)s pings.") % {"max": MAX_PINGS})
    if not 0 <= size <= MAX_PADDING:
        raise ValidationError(_("Padding must be between 0 and 65536 bytes."))
    bodies = [PingBody(n=n, padding="x" * size) for n in range(count)]
    with transaction.atomic():
        messages = outbox.enqueue_many(peer, PING_KIND, bodies)
        audit.record(
            actor,
            AuditAction.PING_SEND,
            peer,
            data={"count": count, "first_seq": messages[0].seq, "last_seq": messages[-1].seq},
        )
    return count


def record_received_note(peer: Peer, message_id: str, body: NoteBody) -> Note:
    """Keep a note a peer sent (inside the inbox's transaction; the inbox audits
    the message and signs its receipt)."""
    return Note.objects.create(
        direction=Note.Direction.IN,
        peer=peer,
        message_id=message_id,
        author_name=body.author,
        subject=body.subject,
        text=body.text,
        language=body.language,
    )


def unread(user: User) -> Any:
    """The received notes this user may read and has not opened yet."""
    received = Note.objects.restrict(user).filter(direction=Note.Direction.IN)
    return received.exclude(reads__user=user)


def mark_read(user: User, shown: Iterable[Note]) -> int:
    """Showing a user their notes is their reading them (as opening a request
    reads its reminders): the received ones among `shown` are read now."""
    fresh = [n for n in shown if n.direction == Note.Direction.IN]
    made = NoteRead.objects.bulk_create(
        [NoteRead(note=n, user=user) for n in fresh], ignore_conflicts=True
    )
    return len(made)
