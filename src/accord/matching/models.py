"""Hit/no-hit between nodes (docs/matching.md): what each node keeps of the
private set intersection.

The asker keeps, per query, its secret scalar until the answer arrives (then
deletes it) and the values it asked (its own, never sent); the answerer keeps
only the blinded points it was sent, until it answers them. Neither ever
stores a value of the other: the answerer's blinded set (`AnswererSet`) holds
tags of its own values under its key, and the asker's copy of it
(`PeerSet`) is those tags, which reveal nothing without the key."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accord.cases.models import Case, Observable
from accord.core.models import User
from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import Permission, Role
from accord.federation.models import Peer

PURPOSE = 1000
REASON = 1000


class Direction(models.TextChoices):
    OUT = "out", _("asked by this node")
    IN = "in", _("asked of this node")


class QueryStatus(models.TextChoices):
    ASKED = "asked", _("Asked, waiting for the answer")
    AWAITING_APPROVAL = "awaiting_approval", _("Waiting for approval")
    ANSWERED = "answered", _("Answered")
    DECLINED = "declined", _("Declined")
    REFUSED = "refused", _("Refused")


class MatchingPolicy(models.Model):
    """What one peer may ask this node. No row: nothing may be asked."""

    peer = models.OneToOneField(Peer, on_delete=models.CASCADE, related_name="matching_policy")
    types = models.JSONField(_("observable types"), default=list)
    max_values = models.PositiveIntegerField(_("most values per query"))
    per_day = models.PositiveIntegerField(_("most values per 24 hours"))
    needs_approval = models.BooleanField(_("each query needs approval"), default=False)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"matching policy for {self.peer.node_id}"


class Query(models.Model):
    """One query about one observable type, on either side. The id is the one
    both nodes share (a UUIDv7 chosen by the asker)."""

    id = models.UUIDField(primary_key=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="matching_queries")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="matching_queries"
    )
    case_reference = models.CharField(_("case"), max_length=80)
    # Out only: the fan-out this query belongs to (one officer's "ask", sent
    # to one or several partners, one query per partner and type), so the
    # results read per answering agency. Null for queries asked before.
    ask = models.UUIDField(null=True, blank=True, db_index=True)
    purpose = models.TextField(_("purpose"), max_length=PURPOSE)
    code = models.CharField(_("type"), max_length=32)
    # The points the query carries (the wire's `count`): the values asked
    # plus, when the asker pads, random points up to a bucket. All the
    # answerer ever knows of the query's size.
    count = models.PositiveIntegerField(_("points asked"))
    # Out only: the distinct values this node asked (its own knowledge,
    # never sent); `count - values_count` points were padding. 0 on an
    # incoming query.
    values_count = models.PositiveIntegerField(_("values asked"), default=0)
    parts = models.PositiveIntegerField(default=1)
    held_set = models.CharField(max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=QueryStatus.choices)
    refusal = models.TextField(_("reason"), blank=True)
    # Out only, on a refusal: the most points the answerer said it takes
    # (`matching.refused`'s `limit`, 0 if none), and the query that asked
    # the same values again with its padding cut to that limit, when the
    # values alone fit (docs/matching.md 3.2).
    limit = models.PositiveIntegerField(default=0)
    asked_again = models.UUIDField(null=True, blank=True)
    hits = models.PositiveIntegerField(_("hits"), default=0)
    # Out only: the secret scalar (hex) until the answer is in, and this
    # node's own values asked, in the order of the points sent.
    secret = models.CharField(max_length=64, blank=True)
    values = models.JSONField(default=list, blank=True)
    # In only: the version of this node's set the answer parts are given
    # against (all parts, one set), fixed by the first part answered: its
    # digest and size, and its key until the last part is answered, so a set
    # built again mid-query changes nothing for this one. `task` is the
    # worker's task answering parts that wait (the set is being built).
    answered_set = models.CharField(max_length=64, blank=True)
    answered_size = models.PositiveIntegerField(default=0)
    answer_key = models.CharField(max_length=64, blank=True)
    task = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["peer", "direction", "created_at"], name="matching_rate")]

    def __str__(self) -> str:
        return f"{self.direction} {self.code} query {self.pk}"

    @property
    def padding(self) -> int:
        """How many of the points sent were random (out only; 0 on a query
        asked before padding was recorded, or incoming: unknowable)."""
        return self.count - self.values_count if self.values_count else 0

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        """Outgoing queries: need-to-know on their case. Incoming ones: the
        central authority, who decides them, and auditors."""
        if user.role in (Role.CENTRAL_AUTHORITY, Role.AUDITOR):
            return Q()
        if not user.has_permission(Permission.VIEW_CASES):
            return Q(pk__in=[])
        return Q(direction=Direction.OUT) & (Q(case__team=user) | Q(case__created_by=user))


class PartKind(models.TextChoices):
    QUERY = "query", "matching.query"
    ANSWER = "answer", "matching.answer"
    SET = "set", "matching.set"


class Part(models.Model):
    """One received part of a query, an answer or a set, kept until its query
    is answered (then deleted): blinded points or tags, never values. The
    unique constraint is what refuses a part sent twice."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="received_parts")
    kind = models.CharField(max_length=8, choices=PartKind.choices)
    index = models.PositiveIntegerField()
    points = models.JSONField(default=list)
    tags = models.BinaryField(default=b"")
    # An answer part: the set it names, its size and number of set parts.
    set_digest = models.CharField(max_length=64, blank=True)
    set_size = models.PositiveIntegerField(default=0)
    set_parts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["kind", "index"]
        constraints = [
            models.UniqueConstraint(fields=["query", "kind", "index"], name="matching_one_part")
        ]

    def __str__(self) -> str:
        return f"{self.kind} part {self.index} of {self.query_id}"


class AnswererSet(models.Model):
    """This node's blinded set for one observable type (docs/matching.md 1.6),
    with its secret key; rebuilt, under a fresh key, when the node's values of
    that type change (`fingerprint`)."""

    code = models.CharField(max_length=32, unique=True)
    key = models.CharField(max_length=64)
    tags = models.BinaryField()
    digest = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=200)
    built_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"blinded set of {self.code} ({self.size} tags)"


class PeerSet(models.Model):
    """A peer's blinded set for one type, as last received, under its digest:
    the next query names it (`held_set`) so the peer need not send it again."""

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=32)
    digest = models.CharField(max_length=64)
    tags = models.BinaryField()
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["peer", "code"], name="matching_one_peer_set")
        ]

    def __str__(self) -> str:
        return f"{self.code} set {self.digest[:16]}"


class Hit(models.Model):
    """One of a case's values the peer also holds. The reference is opaque:
    the peer, the set's digest and the tag name the peer's value to the peer
    alone."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="hit_rows")
    # The node that answered "hit": the agency holding the match.
    peer = models.ForeignKey(
        Peer, null=True, on_delete=models.PROTECT, related_name="matching_hits"
    )
    observable = models.ForeignKey(
        Observable, null=True, on_delete=models.SET_NULL, related_name="hits"
    )
    reference = models.CharField(_("reference"), max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    # The assistance request "Request details" drafted from this hit (the
    # latest, if asked again): Prüm's second step, for the request page's link
    # back and the "hits turned into requests" indicator. Gone with the request.
    request = models.ForeignKey(
        "assistance.AssistanceRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="hits",
    )

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "pk"]

    def __str__(self) -> str:
        return self.reference

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        """Need-to-know: exactly those who may open the hit's case."""
        if not user.has_permission(Permission.VIEW_CASES):
            return Q(pk__in=[])
        if user.role in (Role.CENTRAL_AUTHORITY, Role.AUDITOR):
            return Q()
        return Q(query__case__team=user) | Q(query__case__created_by=user)


__all__ = [
    "AnswererSet",
    "Direction",
    "Hit",
    "MatchingPolicy",
    "Part",
    "PartKind",
    "PeerSet",
    "Query",
    "QueryStatus",
]
