"""A dialogue between agencies, held by every participating node (two or
more: the author node and its peers, of the other party or of its own). Every
object has one author node, and only that node changes it (a node writes only
its own delegation, its own positions and its own signatures); the other
nodes' copies follow through the federation channel."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accord.core.models import User
from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import Permission
from accord.dialogue.types import (
    CommitmentStatus,
    DelegationRole,
    DisagreementStatus,
    Topic,
    Track,
)


def _followers(user: User) -> Q:
    return Q() if user.has_permission(Permission.VIEW_DIALOGUE) else Q(pk__in=[])


class Dialogue(models.Model):
    id = models.UUIDField(primary_key=True)
    track = models.CharField(_("track"), max_length=32, choices=Track.choices)
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_zh = models.CharField(_("title (Chinese)"), max_length=300)
    # The node this one first shares the dialogue with (the author, on every
    # other node); kept for callers that speak of one partner.
    peer = models.ForeignKey("federation.Peer", on_delete=models.PROTECT, related_name="dialogues")
    # Every other participating agency node (the author's peers, possibly of
    # its own party); this node and they are the dialogue's participants.
    peers = models.ManyToManyField("federation.Peer", related_name="shared_dialogues")
    author_node = models.CharField(max_length=100)
    created_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["track", "created_at"]

    def __str__(self) -> str:
        return self.title_en

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _followers(user)


class Round(models.Model):
    id = models.UUIDField(primary_key=True)
    dialogue = models.ForeignKey(Dialogue, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField(_("round"))
    date = models.DateField(_("date"))
    venue_en = models.CharField(_("venue (English)"), max_length=300)
    venue_zh = models.CharField(_("venue (Chinese)"), max_length=300, blank=True)
    topics = models.JSONField(_("agenda topics"), default=list)
    documents = models.JSONField(_("documents"), default=list)  # [{title, reference}]
    author_node = models.CharField(max_length=100)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["dialogue", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dialogue", "number"], name="one_round_number")
        ]

    def __str__(self) -> str:
        return f"{self.dialogue} #{self.number}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _followers(user)

    @property
    def topic_labels(self) -> list[str]:
        return [str(dict(Topic.choices).get(t, t)) for t in self.topics]


class DelegateEntry(models.Model):
    """One person of a side's delegation to a round (written by that side only)."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="delegates")
    node = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=DelegationRole.choices)
    name = models.CharField(max_length=300)
    title = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["round", "node", "role", "position"]

    def __str__(self) -> str:
        return self.name


class Outcome(models.Model):
    """A consensus item; its text lives in versions, each signed by both nodes."""

    id = models.UUIDField(primary_key=True)
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="outcomes")
    topic = models.CharField(_("topic"), max_length=32, choices=Topic.choices)
    author_node = models.CharField(max_length=100)
    created_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["round", "created_at"]

    def __str__(self) -> str:
        return f"{self.round} {self.topic}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _followers(user)

    def latest(self) -> OutcomeVersion | None:
        return self.versions.order_by("-version").first()


class OutcomeVersion(models.Model):
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    text_en = models.TextField()
    text_zh = models.TextField()
    content_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["outcome", "version"]
        constraints = [
            models.UniqueConstraint(fields=["outcome", "version"], name="one_outcome_version")
        ]

    def __str__(self) -> str:
        return f"{self.outcome_id} v{self.version}"


class OutcomeSignature(models.Model):
    """One node's Ed25519 signature over a version's canonical content."""

    version = models.ForeignKey(OutcomeVersion, on_delete=models.CASCADE, related_name="signatures")
    node = models.CharField(max_length=100)
    signer_name = models.CharField(max_length=300)
    signer_title = models.CharField(max_length=300, blank=True)
    signed_at = models.CharField(max_length=40)  # exactly as signed
    public_key = models.CharField(max_length=64)
    signature = models.CharField(max_length=100)

    class Meta:
        ordering = ["version", "signed_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "node"], name="one_signature_per_node")
        ]

    def __str__(self) -> str:
        return f"{self.node} on {self.version}"


class Disagreement(models.Model):
    id = models.UUIDField(primary_key=True)
    dialogue = models.ForeignKey(Dialogue, on_delete=models.CASCADE, related_name="disagreements")
    round = models.ForeignKey(Round, null=True, blank=True, on_delete=models.SET_NULL)
    topic = models.CharField(_("topic"), max_length=32, choices=Topic.choices)
    issue_en = models.TextField(_("issue (English)"))
    issue_zh = models.TextField(_("issue (Chinese)"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=DisagreementStatus.choices, default="open"
    )
    # The status change that wins when both sides change it at once: the later
    # time, then the node id, so both nodes settle on the same one.
    status_at = models.CharField(max_length=40)
    status_node = models.CharField(max_length=100)
    author_node = models.CharField(max_length=100)
    created_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["dialogue", "created_at"]

    def __str__(self) -> str:
        return self.issue_en[:60]

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _followers(user)


class Position(models.Model):
    """A side's stated position on a disagreement (only that side writes it)."""

    disagreement = models.ForeignKey(
        Disagreement, on_delete=models.CASCADE, related_name="positions"
    )
    node = models.CharField(max_length=100)
    text_en = models.TextField()
    text_zh = models.TextField(blank=True)
    stated_at = models.CharField(max_length=40)

    class Meta:
        ordering = ["disagreement", "node"]
        constraints = [
            models.UniqueConstraint(fields=["disagreement", "node"], name="one_position_per_side")
        ]

    def __str__(self) -> str:
        return f"{self.node}: {self.text_en[:40]}"


class DisagreementEvent(models.Model):
    """The history: positions stated and changed, statuses set."""

    disagreement = models.ForeignKey(Disagreement, on_delete=models.CASCADE, related_name="history")
    at = models.CharField(max_length=40)
    node = models.CharField(max_length=100)
    actor_name = models.CharField(max_length=300)
    kind = models.CharField(max_length=16)  # opened, position, status
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["disagreement", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} by {self.node}"


class Commitment(models.Model):
    """What a side undertook after an outcome; progress is measured by linked
    indicators computed from the platform's data, never typed in."""

    id = models.UUIDField(primary_key=True)
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="commitments")
    title_en = models.CharField(_("commitment (English)"), max_length=500)
    title_zh = models.CharField(_("commitment (Chinese)"), max_length=500, blank=True)
    owner_node = models.CharField(_("owner side"), max_length=100)
    due_date = models.DateField(_("due date"))
    status = models.CharField(
        _("status"), max_length=16, choices=CommitmentStatus.choices, default="open"
    )
    # [{"code": "assistance.answered", "topic": "narcotics", "target": 20}]
    indicators = models.JSONField(default=list)
    author_node = models.CharField(max_length=100)
    updated_at = models.CharField(max_length=40)
    history = models.JSONField(default=list)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "title_en"]

    def __str__(self) -> str:
        return self.title_en

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _followers(user)


class SignerProfile(models.Model):
    """How a user who signs outcomes for this node is named in a signature:
    the name and title each signature carries, kept by the user, not typed
    anew at every signature."""

    user = models.OneToOneField(
        "core.User", on_delete=models.CASCADE, related_name="signer_profile"
    )
    name = models.CharField(_("name as signed"), max_length=300, blank=True)
    title = models.CharField(_("title as signed"), max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name}, {self.title}"
