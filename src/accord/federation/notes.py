"""Notes between officers of two nodes (`core.note`) and channel tests
(`core.ping`): sending them, and keeping the notes that arrive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.models import User
from accord.core.services import LANGUAGE_CODES
from accord.federation import outbox, threads
from accord.federation.models import Note, NoteRead, NoteThread, Peer
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
    actor: Actor,
    peer: Peer,
    subject: str,
    text: str,
    language: str,
    *,
    thread_id: UUID | str | None = None,
    request_id: UUID | str | None = None,
    case_id: UUID | str | None = None,
    ip: str = "",
) -> Note:
    """Send a note to `peer`: a reply in the thread `thread_id` (its subject and
    links are the thread's), or the first note of a new thread, about a request
    shared with `peer` and one of this node's cases if given (each one the
    sender may open)."""
    enforce(actor, Action.SEND_NOTE, ip=ip)
    if language not in LANGUAGE_CODES:
        raise ValidationError(_("Unknown language."))
    user = actor.user
    with transaction.atomic():
        if thread_id:
            thread = threads.reply_to(user, peer, thread_id)
            subject = thread.subject
        else:
            thread = None
            request_id = threads.shared_request(user, peer, request_id)
            case_id = threads.own_case(user, case_id)
        subject, text = subject.strip(), text.strip()
        if not subject or not text:
            raise ValidationError(_("A note needs a subject and a text."))
        if len(subject) > MAX_SUBJECT or len(text) > MAX_TEXT:
            raise ValidationError(_("The note is too long."))
        author = (user.get_full_name() or user.username) if user else actor.label
        linked = thread.request_id if thread else request_id
        body = NoteBody(
            subject=subject,
            text=text,
            language=language,
            author=author,
            thread=str(thread.pk) if thread else None,
            request=str(linked) if linked else None,
        )
        message = outbox.enqueue(peer, NOTE_KIND, body)
        now = timezone.now()
        if thread is None:
            thread = NoteThread.objects.create(
                id=message.id,
                peer=peer,
                subject=subject,
                request_id=request_id,
                case_id=case_id,
                started_at=now,
                last_at=now,
            )
        else:
            NoteThread.objects.filter(pk=thread.pk).update(last_at=now)
        note = Note.objects.create(
            direction=Note.Direction.OUT,
            peer=peer,
            message_id=message.id,
            author=user,
            author_name=author,
            subject=subject,
            text=text,
            language=language,
            thread=thread,
        )
        audit.record(
            actor,
            AuditAction.NOTE_SEND,
            note,
            data={
                "peer": peer.node_id,
                "seq": message.seq,
                "message_id": str(message.id),
                "thread": str(thread.pk),
                **({"request": str(linked)} if linked else {}),
                **({"case": str(thread.case_id)} if thread.case_id else {}),
            },
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
    the message and signs its receipt), in its thread: the one it names, else
    a new one it starts. A note from a node that sends no thread (protocol v1
    before threads) starts its own."""
    thread = threads.receiving_thread(peer, body.thread or message_id, body)
    note = Note.objects.create(
        direction=Note.Direction.IN,
        peer=peer,
        message_id=message_id,
        author_name=body.author,
        subject=body.subject,
        text=body.text,
        language=body.language,
        thread=thread,
    )
    return note


def unread(user: User) -> Any:
    """The received notes this user may read and has not opened yet."""
    received = Note.objects.restrict(user).filter(direction=Note.Direction.IN)
    return received.exclude(reads__user=user)


def mark_read(actor: Actor, shown: Iterable[Note], *, ip: str = "") -> int:
    """The received notes among `shown` that `actor` had not read are read now:
    an audited change of the reader's own inbox (one event, naming the notes)."""
    user = actor.user
    if user is None:
        return 0
    fresh = list(
        unread(user).filter(pk__in=[n.pk for n in shown if n.direction == Note.Direction.IN])
    )
    if not fresh:
        return 0
    with transaction.atomic():
        NoteRead.objects.bulk_create(
            [NoteRead(note=n, user=user) for n in fresh], ignore_conflicts=True
        )
        audit.record(
            actor,
            AuditAction.NOTE_MARK_READ,
            data={
                "count": len(fresh),
                "notes": [n.pk for n in fresh],
                "threads": sorted({str(n.thread_id) for n in fresh}),
            },
            ip=ip,
        )
    return len(fresh)
