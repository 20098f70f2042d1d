"""Evidence at rest (DOMAIN.md, "Evidence and custody"). An item belongs to a
case or a request and names its bytes by their SHA-256; the bytes themselves
are a `Blob`, stored once however many items hold them, encrypted under a key
of their own that is sealed under the node's secret (`blobs.py`). Every event
in an item's life is a signed, hash-chained `CustodyRecordRow`: exactly the
fields of `custody.Record`, so a row turns back into the record it was made
from and its signature still verifies."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accord.core.models import User
from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import Permission, Role

NAME = 1000


class Blob(models.Model):
    """Encrypted bytes in the evidence storage, named by the plaintext's hash."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    chunk_bytes = models.IntegerField()
    # The blob's own AES-256 key, sealed (accord.core.sealed) under the node's secret.
    sealed_key = models.TextField()
    # The name the storage gave the ciphertext; never derived from user input.
    storage_name = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256


class EvidenceItem(models.Model):
    id = models.UUIDField(primary_key=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    size = models.BigIntegerField(_("size"))
    # As the user gave it, any characters (NUL replaced: see services.clean_name);
    # shown and sent in Content-Disposition, never used in a path.
    name = models.TextField(_("file name"))
    content_type = models.CharField(_("content type"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="evidence"
    )
    request = models.ForeignKey(
        "assistance.AssistanceRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evidence",
    )
    # How the material was obtained: the 'collected' custody record says the same, signed.
    collected_how = models.CharField(_("how collected"), max_length=300, blank=True)
    collected_where = models.CharField(_("where collected"), max_length=300, blank=True)
    collected_by = models.CharField(_("collected by"), max_length=300, blank=True)
    collected_when = models.CharField(_("when collected"), max_length=64, blank=True)
    legal_basis = models.CharField(_("legal basis"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    purged_at = models.DateTimeField(null=True, blank=True)
    purge_reason = models.TextField(blank=True)
    retention_until = models.DateField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(case__isnull=False, request__isnull=True)
                | Q(case__isnull=True, request__isnull=False),
                name="evidence_case_or_request",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def purged(self) -> bool:
        return self.purged_at is not None

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        """Need-to-know follows the item's case or request: who may open the
        one may see the other's evidence (and only with VIEW_EVIDENCE)."""
        from accord.assistance.models import AssistanceRequest
        from accord.cases.models import Case

        if not user.has_permission(Permission.VIEW_EVIDENCE):
            return Q(pk__in=[])
        if user.role in (Role.CENTRAL_AUTHORITY, Role.AUDITOR):
            return Q()
        cases = Case.objects.restrict(user, "view").values("pk")
        requests = AssistanceRequest.objects.restrict(user, "view").values("pk")
        return Q(case__in=cases) | Q(request__in=requests)


class CustodyRecordRow(models.Model):
    """One `custody.Record`, stored field by field (`to_record` rebuilds it)."""

    item = models.ForeignKey(EvidenceItem, on_delete=models.PROTECT, related_name="custody")
    v = models.IntegerField(default=1)
    sha256 = models.CharField(max_length=64)
    node = models.CharField(max_length=100)
    seq = models.IntegerField()
    prev = models.CharField(max_length=64, blank=True)
    event = models.CharField(max_length=16)
    # Kept as the signed text ("...Z"), so the row gives back the signed bytes.
    at = models.CharField(max_length=32)
    actor = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict)
    sig = models.CharField(max_length=120)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["node", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["item", "node", "seq"], name="one_custody_seq")
        ]

    def __str__(self) -> str:
        return f"{self.item_id}/{self.node}#{self.seq} {self.event}"

    def to_json(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "item": str(self.item_id),
            "sha256": self.sha256,
            "node": self.node,
            "seq": self.seq,
            "prev": self.prev,
            "event": self.event,
            "at": self.at,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
            "sig": self.sig,
        }

    def to_record(self) -> Any:
        from accord.evidence import custody

        return custody.Record.from_json(self.to_json())

    @classmethod
    def of(cls, item: EvidenceItem, record: Any) -> CustodyRecordRow:
        data = record.to_json()
        return cls(
            item=item,
            v=data["v"],
            sha256=data["sha256"],
            node=data["node"],
            seq=data["seq"],
            prev=data["prev"],
            event=data["event"],
            at=data["at"],
            actor=data["actor"],
            reason=data["reason"],
            details=data["details"],
            sig=data["sig"],
            hash=record.hash,
        )


class UseQuestion(models.Model):
    """The provider asks how its material was used; the receiver answers. The
    same row (same id) on both nodes: asked on the providing node, answered
    on the receiving one, each carried to the other (evidence.use-question,
    evidence.use-answer). No custody record: it is about the use, not the bytes."""

    id = models.UUIDField(primary_key=True)
    item = models.ForeignKey(EvidenceItem, on_delete=models.PROTECT, related_name="use_questions")
    # The providing node, which asks.
    asked_node = models.CharField(max_length=100)
    question = models.TextField(_("question"))
    asked_by = models.CharField(max_length=200)
    asked_at = models.DateTimeField()
    answer = models.TextField(_("answer"), blank=True)
    answered_by = models.CharField(max_length=200, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["asked_at"]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.question[:40]}"


class TransferStatus(models.TextChoices):
    ACTIVE = "active", _("Under way")
    DONE = "done", _("Confirmed by the receiver")
    FAILED = "failed", _("Failed")
    ABANDONED = "abandoned", _("Abandoned")


class Transfer(models.Model):
    """An item on its way to a peer (transfer.py): chunks are queued a window
    at a time as the earlier ones are applied, so the outbox never holds the
    whole item. `next_index` is the next chunk to queue, `confirmed` how many
    the receiver applied (in order: the channel keeps it)."""

    item = models.ForeignKey(EvidenceItem, on_delete=models.PROTECT, related_name="transfers")
    peer = models.ForeignKey("federation.Peer", on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    chunk_bytes = models.IntegerField()
    chunks = models.IntegerField()
    next_index = models.IntegerField(default=0)
    confirmed = models.IntegerField(default=0)
    # (outbox seq, chunk index) of each chunk queued and not yet applied.
    in_flight = models.JSONField(default=list)
    # The bulk path (bulk.py): the SHA-256 of each sealed part as the offer
    # named them (empty: JSON chunks), which parts the receiver said it holds
    # ('0'/'1' per part), and until when a pusher is at work on it.
    parts = models.JSONField(default=list, blank=True)
    held = models.TextField(blank=True)
    push_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=TransferStatus.choices, default=TransferStatus.ACTIVE
    )
    reason = models.TextField(blank=True)
    # How many records of this node's chain for the item the peer was sent.
    records_sent = models.IntegerField(default=0)
    started_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "peer"], name="one_transfer_per_peer")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} -> {self.peer_id} {self.status}"


class IncomingTransfer(models.Model):
    """An item arriving from a peer: what its offer said, how many chunks are
    in the partial file (encrypted as they arrive, in the blob format), and
    the key they are encrypted under, sealed. The item exists once the last
    chunk is in and the whole checks against its SHA-256."""

    peer = models.ForeignKey("federation.Peer", on_delete=models.PROTECT, related_name="+")
    item_id = models.UUIDField()
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    chunk_bytes = models.IntegerField()
    chunks = models.IntegerField()
    received = models.IntegerField(default=0)
    name = models.TextField()
    content_type = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    request = models.ForeignKey(
        "assistance.AssistanceRequest", on_delete=models.PROTECT, related_name="+"
    )
    # The bulk path (bulk_inbound.py): ciphertext bytes per part, the SHA-256
    # of each part's tags from the signed offer (empty: JSON chunks), and which
    # parts are held ('0'/'1' per part). `chunks` and `received` count parts then.
    part_bytes = models.BigIntegerField(default=0)
    parts = models.JSONField(default=list, blank=True)
    held = models.TextField(blank=True)
    # The machine's boot id when a part was last recorded held without an
    # fsync of its own (bulk_disk.py): after a restart of the machine, the
    # parts held are checked again on disk before any counts.
    unsynced_boot = models.CharField(max_length=64, blank=True, default="")
    # The sender's custody records as the offer carried them.
    custody = models.JSONField(default=list)
    sealed_key = models.TextField()
    status = models.CharField(
        max_length=16, choices=TransferStatus.choices, default=TransferStatus.ACTIVE
    )
    reason = models.TextField(blank=True)
    records_sent = models.IntegerField(default=0)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["peer", "item_id"], name="one_incoming_per_peer")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} <- {self.peer_id} {self.status}"


class UploadStatus(models.TextChoices):
    OPEN = "open", _("Receiving parts")
    DONE = "done", _("Finished: the item is added")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class UploadSession(models.Model):
    """A resumable upload (resumable.py): what the uploader declared at the
    start, and how many bytes are in its staging file (encrypted under a key
    of its own, sealed). Parts come in order at `received`; the item is made
    when all `size` bytes are in and they match `sha256`."""

    id = models.UUIDField(primary_key=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    request = models.ForeignKey(
        "assistance.AssistanceRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    name = models.TextField()
    content_type = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    # How the material was collected (services.Collected), as declared.
    collected = models.JSONField(default=dict)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    received = models.BigIntegerField(default=0)
    sealed_key = models.TextField()
    status = models.CharField(
        max_length=16, choices=UploadStatus.choices, default=UploadStatus.OPEN
    )
    item = models.ForeignKey(
        EvidenceItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.pk} {self.received}/{self.size} {self.status}"


class KeptBundle(models.Model):
    """A court bundle kept after its export so its download can resume
    (exports.py): encrypted as a blob is (its own key, sealed), fetched again
    only by who exported it, until `expires_at`."""

    id = models.UUIDField(primary_key=True)
    # None: the operator at the shell.
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    items = models.JSONField(default=list)
    purpose = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    chunk_bytes = models.IntegerField()
    sealed_key = models.TextField()
    storage_name = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"bundle {self.pk}"


__all__ = [
    "Blob",
    "CustodyRecordRow",
    "EvidenceItem",
    "IncomingTransfer",
    "KeptBundle",
    "Transfer",
    "TransferStatus",
    "UploadSession",
    "UploadStatus",
    "UseQuestion",
]
