from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accord.core.models import User
from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import Permission


def _admins_only(user: User) -> Q:
    return Q() if user.has_permission(Permission.MANAGE_FEDERATION) else Q(pk__in=[])


class Peer(models.Model):
    """Another node whose keys this node has pinned (after an out-of-band
    fingerprint check), and the state of the channel with it."""

    node_id = models.CharField(_("node id"), max_length=100, unique=True)
    url = models.URLField(_("address"), max_length=500)
    party = models.CharField(_("party"), max_length=200)
    agency = models.CharField(_("agency"), max_length=200)
    # From its signed identity document: whether it holds its party's central
    # authority (accord.federation.parties).
    central_authority = models.BooleanField(_("central authority"), default=True)
    signing_key = models.CharField(max_length=64)
    previous_signing_key = models.CharField(max_length=64, blank=True)
    encryption_key = models.CharField(max_length=64)
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    # The working calendar its identity document publishes (accord.core.calendars):
    # the deadlines the peer owns are counted in it.
    calendar = models.JSONField(default=dict, blank=True)
    added_at = models.DateTimeField(_("added"), auto_now_add=True)
    active = models.BooleanField(_("active"), default=True)
    # After this node rotates its keys: keep signing for this peer with the
    # previous key until the peer has applied the rotation announcement.
    sign_with_previous = models.BooleanField(default=False)
    # Outgoing: the seq the next message to this peer gets.
    next_out_seq = models.BigIntegerField(default=1)
    # Incoming: the seq this node expects next from the peer.
    next_in_seq = models.BigIntegerField(default=1)
    # Delivery state, kept by the deliverer.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failures = models.IntegerField(default=0)
    blocked = models.BooleanField(
        default=False,
        help_text=_("A permanent failure stopped delivery until an operator retries."),
    )
    last_delivery_at = models.DateTimeField(_("last delivery"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # When this node last sent the peer the digest of their shared items (replicas).
    reconciled_at = models.DateTimeField(null=True, blank=True)
    # When this node last sent the peer a checkpoint of its audit head (anchoring).
    checkpoint_sent_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["node_id"]

    def __str__(self) -> str:
        return self.node_id

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        if action == "message" and user.has_permission(Permission.EXCHANGE_NOTES):
            return Q(active=True)
        return _admins_only(user)


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for delivery")
    APPLIED = "applied", _("Delivered and applied")
    REFUSED = "refused", _("Delivered and refused")


class OutboxMessage(models.Model):
    """A message to a peer, written in the transaction of the change that caused
    it. The body is encrypted once, here, so every retry carries the same
    ciphertext and the receipt's body hash stays valid."""

    id = models.UUIDField(primary_key=True)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="outbox")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=100)
    in_reply_to = models.UUIDField(null=True, blank=True)
    body = models.TextField()
    body_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    attempts = models.IntegerField(default=0)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    receipt = models.JSONField(null=True, blank=True)
    refusal_reason = models.TextField(blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["peer", "seq"], name="outbox_peer_seq")]
        indexes = [models.Index(fields=["peer", "status", "seq"], name="outbox_pending")]
        ordering = ["peer", "seq"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} to {self.peer_id}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _admins_only(user)


class InboxMessage(models.Model):
    """A message a peer sent, recorded in the transaction that applied (or
    refused) it, with the signed receipt this node answered."""

    id = models.UUIDField(primary_key=True)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="inbox")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=100)
    in_reply_to = models.UUIDField(null=True, blank=True)
    body_sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    refusal_reason = models.TextField(blank=True)
    receipt = models.JSONField()
    envelope = models.JSONField(help_text=_("The envelope as received, signature included."))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["peer", "seq"], name="inbox_peer_seq")]
        ordering = ["peer", "seq"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} from {self.peer_id}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _admins_only(user)


def _note_readers(user: User) -> Q:
    if user.has_permission(Permission.EXCHANGE_NOTES) or user.has_permission(
        Permission.MANAGE_FEDERATION
    ):
        return Q()
    return Q(pk__in=[])


class NoteThread(models.Model):
    """A conversation of notes with one peer. Its id is the message id of the
    note that started it, the same on both nodes; its subject is that note's.
    A thread may be about a request shared with the peer (the link travels
    with every note) and, on this node only, about one of its own cases."""

    id = models.UUIDField(primary_key=True)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="note_threads")
    subject = models.CharField(_("subject"), max_length=200)
    # assistance.AssistanceRequest's id, the same on both replicas.
    request_id = models.UUIDField(null=True, blank=True)
    # cases.Case's id: this node's own case, never sent.
    case_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField()
    last_at = models.DateTimeField(db_index=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-last_at", "-started_at"]

    def __str__(self) -> str:
        return self.subject

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _note_readers(user)


class Note(models.Model):
    """A signed text note between officers of two nodes (kind `core.note`),
    one of a thread."""

    class Direction(models.TextChoices):
        OUT = "out", _("Sent")
        IN = "in", _("Received")

    direction = models.CharField(max_length=3, choices=Direction.choices)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="notes")
    message_id = models.UUIDField(unique=True)
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT)
    author_name = models.CharField(_("from"), max_length=300)
    subject = models.CharField(_("subject"), max_length=200)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    thread = models.ForeignKey(
        NoteThread, null=True, on_delete=models.PROTECT, related_name="notes"
    )

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _note_readers(user)


class NoteRead(models.Model):
    """That one user has read one received note: each officer's own inbox
    state, so a note read by a colleague still waits for the others."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["note", "user"], name="one_read_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.note_id}"


class Divergence(models.Model):
    """An item this node holds with a peer whose copy differs from the owner's
    (federation.replicas): listed until the owner's snapshot repairs it or a
    later digest finds the two copies equal again."""

    class Status(models.TextChoices):
        FOUND = "found", _("Differed from the owner's copy")
        ASKED = "asked", _("Waiting for the owner's copy")
        ABSENT = "absent", _("The owner does not hold it")
        UNREPAIRED = "unrepaired", _("The owner's copy could not be applied")
        DISPUTED = "disputed", _("The two nodes disagree on its owner")
        TOO_LARGE = "too_large", _("Too large to send as one snapshot")

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="divergences")
    key = models.CharField(_("item"), max_length=200)
    owner = models.CharField(_("owner"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    local_sha256 = models.CharField(max_length=64, blank=True)
    detected_at = models.DateTimeField(_("detected"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    repaired = models.BooleanField(default=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at"]
        indexes = [models.Index(fields=["peer", "key"], name="divergence_peer_key")]

    def __str__(self) -> str:
        return f"{self.key} with {self.peer_id}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _admins_only(user)


class AuditCheckpoint(models.Model):
    """A peer's signed checkpoint of its audit head (federation.anchoring),
    kept here so that the peer's own `audit verify` can later find a rewrite
    of its log before it: a database administrator there cannot change this."""

    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="checkpoints")
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    at = models.CharField(max_length=32)
    sig = models.CharField(max_length=100)
    message_id = models.UUIDField()
    received_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["peer", "seq"], name="checkpoint_peer_seq")]
        ordering = ["peer", "-seq"]

    def __str__(self) -> str:
        return f"{self.peer_id} audit head #{self.seq}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _admins_only(user)


class ChannelRecovery(models.Model):
    """A channel this node must recover after a restore from a back-up
    (federation.recovery, docs/protocol.md "Recovery after a restore"): while
    the row exists, the node neither sends to the peer nor takes its
    deliveries, and asks it for what the back-up does not hold."""

    peer = models.OneToOneField(Peer, on_delete=models.CASCADE, related_name="recovery")
    # The restored next_out_seq: the peer may have applied seqs from here on.
    out_seq_at_restore = models.BigIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = RestrictedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"recovery of {self.peer_id}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _admins_only(user)
