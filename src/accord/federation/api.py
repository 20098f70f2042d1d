"""JSON API of the federation channel: peers, outbox and inbox for node
administrators; notes for the officers who exchange them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from accord.core.apischema import Page
from accord.core.audit import Actor
from accord.core.signals import client_ip
from accord.federation import notes, peering, threads, wire
from accord.federation.models import InboxMessage, Note, OutboxMessage, Peer
from accord.federation.policy import Action, enforce
from accord.federation.queries import channel_summary
from accord.web.guards import signed_in_user

router = Router(tags=["federation"])


class ChannelOut(Schema):
    node_id: str
    url: str
    party: str
    agency: str
    central_authority: bool
    fingerprint: str
    active: bool
    blocked: bool
    outbox_depth: int
    oldest_undelivered_at: datetime | None
    last_delivery_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    error_resolved: bool
    next_attempt_at: datetime | None
    next_out_seq: int
    next_in_seq: int


class PeerIn(Schema):
    url: str = Field(max_length=500)
    fingerprint: str = Field(max_length=120)


class OutboxOut(Schema):
    id: UUID
    peer: str = Field(validation_alias="peer.node_id")
    seq: int
    kind: str
    status: str
    created_at: datetime
    delivered_at: datetime | None
    refusal_reason: str
    receipt: dict[str, Any] | None


class InboxOut(Schema):
    id: UUID
    peer: str = Field(validation_alias="peer.node_id")
    seq: int
    kind: str
    status: str
    received_at: datetime
    refusal_reason: str
    receipt: dict[str, Any]


class NoteIn(Schema):
    peer: str = Field(max_length=100)
    subject: str = Field(default="", max_length=wire.MAX_SUBJECT)
    text: str = Field(max_length=wire.MAX_TEXT)
    language: str = Field(default="en", max_length=16)
    # A reply names its thread (its subject is the thread's); a new thread may
    # be about a request shared with the peer, and one of this node's cases.
    thread: UUID | None = None
    request: UUID | None = None
    case: UUID | None = None


class NotesReadIn(Schema):
    # One thread's notes, or (none named) every note waiting for this reader.
    thread: UUID | None = None


class NotesReadOut(Schema):
    marked: int
    unread: int


class NoteOut(Schema):
    id: int
    direction: str
    peer: str = Field(validation_alias="peer.node_id")
    message_id: UUID
    author_name: str
    subject: str
    text: str
    language: str
    created_at: datetime
    thread: UUID | None = Field(validation_alias="thread_id")
    thread_subject: str = Field("", validation_alias="thread.subject")
    # Shown only to a reader who may open the request (need-to-know).
    request: UUID | None = None
    read: bool = True

    @staticmethod
    def resolve_request(obj: Note, context: dict[str, Any]) -> UUID | None:
        thread = obj.thread
        if thread is None or thread.request_id is None:
            return None
        openable, _cases = threads.links(context["request"].user, [thread])
        return thread.request_id if thread.request_id in openable else None

    @staticmethod
    def resolve_read(obj: Note, context: dict[str, Any]) -> bool:
        user = context["request"].user
        return obj.direction == Note.Direction.OUT or obj.reads.filter(user=user).exists()


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


@router.get("/federation/peers", response=list[ChannelOut])
def list_peers(request: HttpRequest) -> list[dict]:
    enforce(_actor(request), Action.VIEW_CHANNEL, what="list_peers")
    return [channel_summary(p) for p in Peer.objects.restrict(request.user)]


@router.post("/federation/peers", response={201: ChannelOut})
def add_peer(request: HttpRequest, payload: PeerIn) -> Status:
    peer = peering.add_peer(
        _actor(request), payload.url, payload.fingerprint, ip=client_ip(request)
    )
    return Status(201, channel_summary(peer))


@router.get("/federation/outbox", response=list[OutboxOut])
@paginate(Page)
def list_outbox(request: HttpRequest, peer: str = "", status: str = "") -> Any:
    enforce(_actor(request), Action.VIEW_CHANNEL, what="list_outbox")
    rows = (
        OutboxMessage.objects.restrict(request.user).select_related("peer").order_by("peer", "seq")
    )
    rows = rows.filter(peer__node_id=peer) if peer else rows
    return rows.filter(status=status) if status else rows


@router.get("/federation/outbox/{message_id}", response=OutboxOut)
def get_outbox_message(request: HttpRequest, message_id: UUID) -> Any:
    """One message by the id its sender was given (a note's `message_id`, say),
    so an administrator can see its receipt without paging the whole outbox."""
    enforce(_actor(request), Action.VIEW_CHANNEL, what="get_outbox_message")
    rows = OutboxMessage.objects.restrict(request.user).select_related("peer")
    return get_object_or_404(rows, id=message_id)


@router.get("/federation/inbox", response=list[InboxOut])
@paginate(Page)
def list_inbox(request: HttpRequest, peer: str = "") -> Any:
    enforce(_actor(request), Action.VIEW_CHANNEL, what="list_inbox")
    rows = (
        InboxMessage.objects.restrict(request.user).select_related("peer").order_by("peer", "seq")
    )
    return rows.filter(peer__node_id=peer) if peer else rows


@router.get("/federation/notes", response=list[NoteOut])
@paginate(Page)
def list_notes(request: HttpRequest, thread: str = "") -> Any:
    actor = _actor(request)
    enforce(actor, Action.VIEW_NOTES, what="list_notes")
    threads.record_list(actor, None, ip=client_ip(request), via="api")
    rows = Note.objects.restrict(request.user).select_related("peer", "thread")
    return rows.filter(thread_id=threads.as_id(thread)) if thread else rows


@router.post("/federation/notes", response={201: NoteOut})
def send_note(request: HttpRequest, payload: NoteIn) -> Status:
    actor = _actor(request)
    enforce(actor, Action.SEND_NOTE)
    peer = get_object_or_404(Peer.objects.restrict(request.user, "message"), node_id=payload.peer)
    note = notes.send_note(
        actor,
        peer,
        payload.subject,
        payload.text,
        payload.language,
        thread_id=payload.thread,
        request_id=payload.request,
        case_id=payload.case,
        ip=client_ip(request),
    )
    return Status(201, note)


@router.post("/federation/notes/read", response=NotesReadOut)
def read_notes(request: HttpRequest, payload: NotesReadIn) -> Any:
    """Mark as read, for the caller, the received notes of one thread or all
    that wait: the same audited change as the notes page's button. Returns how
    many were marked and how many still wait."""
    actor = _actor(request)
    enforce(actor, Action.VIEW_NOTES, what="read_notes")
    user = actor.user
    if user is None:  # enforce lets only a signed-in reader through
        raise Http404
    waiting = notes.unread(user)
    if payload.thread is not None:
        thread = threads.visible(user).filter(pk=payload.thread).first()
        if thread is None:
            raise Http404
        waiting = waiting.filter(thread=thread)
    marked = notes.mark_read(actor, list(waiting), ip=client_ip(request))
    return {"marked": marked, "unread": notes.unread(user).count()}
