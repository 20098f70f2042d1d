from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import ROLE_PERMISSIONS, Permission, Role


class AccordUserManager(UserManager.from_queryset(RestrictedQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    """A person working on this node. One role each: what a user may do follows
    from it alone (roles.ROLE_PERMISSIONS), so a grant is always auditable as a
    role change."""

    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    language = models.CharField(
        _("language"),
        max_length=16,
        blank=True,
        help_text=_("Interface language; empty means the browser's preference."),
    )

    objects: ClassVar[AccordUserManager] = AccordUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]

    def has_permission(self, permission: Permission) -> bool:
        if not self.is_active or not self.role:
            return False
        return permission in ROLE_PERMISSIONS.get(Role(self.role), frozenset())

    @property
    def role_label(self) -> str:
        return str(Role(self.role).label) if self.role else ""

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        if user.has_permission(Permission.MANAGE_USERS):
            return Q()
        return Q(pk=user.pk)


class AuditEvent(models.Model):
    """One link in the append-only, hash-chained audit log (see core.audit).

    `seq` is gapless from 1; `hash` covers every other column and `prev_hash`,
    so an edited, deleted or reordered row breaks the chain."""

    seq = models.BigIntegerField(_("sequence"), unique=True)
    at = models.DateTimeField(_("time"))
    actor = models.CharField(_("actor"), max_length=200)
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    action = models.CharField(_("action"), max_length=100, db_index=True)
    target_type = models.CharField(_("target type"), max_length=100, blank=True)
    target_id = models.CharField(_("target"), max_length=200, blank=True)
    data = models.JSONField(_("details"), default=dict)
    ip = models.CharField(_("address"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The staged read this event seals (core.audit.seal). Not hashed: it only
    # lets the database allow removing a staged read once it is in the chain.
    staged_id = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        if user.has_permission(Permission.VIEW_AUDIT):
            return Q()
        return Q(pk__in=[])


class AuditHead(models.Model):
    """The newest link of the chain, one row. Writers lock it to append, so the
    chain never forks; verify compares it with the last event, so deleting
    events from the end is caught too."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"head #{self.seq}"


class AuditStaged(models.Model):
    """A read, recorded without waiting for the chain's head (core.audit.record_read)
    and folded into the chain, in order, by core.audit.seal. Rows are never
    changed; on PostgreSQL one may be removed only once an event seals it."""

    at = models.DateTimeField()
    actor = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict)
    ip = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"staged {self.action}"


class FailureTally(models.Model):
    """Failures of requests that proved no identity (a junk envelope, an unknown
    TAXII token, a sign-in under a name no account has), counted per channel,
    reason, address and time window instead of a row and an audit event each,
    so a stranger's traffic cannot grow the database or the audit log without
    bound (core.tally). `verified_as` names a peer only when its signature
    verified: what a stranger claims to be is never recorded as who it is."""

    channel = models.CharField(_("channel"), max_length=32)
    reason = models.CharField(_("reason"), max_length=64)
    # An IPv4 address, an IPv6 /64, or "*" for what came once the table was full.
    address = models.CharField(_("address"), max_length=64)
    verified_as = models.CharField(_("verified sender"), max_length=100, blank=True)
    window_start = models.DateTimeField(_("window"))
    count = models.BigIntegerField(_("count"), default=0)
    last_at = models.DateTimeField(_("last"))
    last_detail = models.CharField(_("last detail"), max_length=200, blank=True)
    # Set once the window's summary is in the audit log (core.tally.summarise).
    summarised = models.BooleanField(default=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-window_start", "-count"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "reason", "address", "verified_as", "window_start"],
                name="failure_tally_bucket",
            )
        ]
        indexes = [models.Index(fields=["window_start"], name="failure_tally_window")]

    def __str__(self) -> str:
        return f"{self.channel} {self.reason} from {self.address}: {self.count}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        if user.has_permission(Permission.VIEW_AUDIT) or user.has_permission(
            Permission.MANAGE_FEDERATION
        ):
            return Q()
        return Q(pk__in=[])
