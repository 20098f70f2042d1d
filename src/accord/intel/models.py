"""STIX 2.1 objects in TAXII 2.1 collections, every version kept, and the
partner accounts that read and write them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accord.core.models import User
from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import Permission


def _analysts(user: User) -> Q:
    return Q() if user.has_permission(Permission.VIEW_INTEL) else Q(pk__in=[])


class Collection(models.Model):
    id = models.UUIDField(primary_key=True)
    alias = models.SlugField(_("alias"), max_length=100, unique=True)
    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return _analysts(user)


class Tlp(models.TextChoices):
    NONE = "", _("unmarked")
    CLEAR = "clear", "TLP:CLEAR"
    GREEN = "green", "TLP:GREEN"
    AMBER = "amber", "TLP:AMBER"
    AMBER_STRICT = "amber+strict", "TLP:AMBER+STRICT"
    RED = "red", "TLP:RED"


class HandlingCode(models.TextChoices):
    NATIONAL = "national-authorities", _("May go to other national authorities")
    PERMISSION = (
        "originator-permission",
        _("Other national authorities only with the originator's permission"),
    )
    AGENCY = "receiving-agency", _("Within the receiving agency only")
    NONE = "no-further-sharing", _("No further sharing")


class StixObject(models.Model):
    """One version of one STIX object in one collection, stored as the exact
    JSON text it was received in (served back unchanged)."""

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="stix_objects"
    )
    stix_id = models.CharField(max_length=300)
    stix_type = models.CharField(max_length=100)
    spec_version = models.CharField(max_length=10)
    # The version: `modified`, else `created`, else the time it was added
    # (TAXII 2.1 §3.4.2), in the object's own timestamp text.
    version = models.CharField(max_length=40)
    date_added = models.DateTimeField()
    tlp = models.CharField(max_length=16, choices=Tlp.choices, blank=True)
    revoked = models.BooleanField(default=False)
    # The newest and the oldest version of the object in this collection
    # (match[version]=last / first), kept on write so reads stay index scans.
    latest = models.BooleanField(default=True)
    earliest = models.BooleanField(default=True)
    body = models.TextField()
    # A searchable value (indicator pattern, observable value, name).
    search_text = models.TextField(blank=True)
    # The originator's handling conditions (accord.intel.stix.handling_of):
    # the code, whether they bind this node (set by another), and the expiry.
    handling = models.CharField(max_length=32, choices=HandlingCode.choices, blank=True)
    handling_bound = models.BooleanField(default=False)
    expires = models.DateTimeField(null=True, blank=True)
    # A partner tool's own copy of an id and version that the store holds
    # only in a version the tool may not read (TLP:RED, say): kept beside it,
    # not dropped, and read by partners in its place (docs/intel.md 5.3).
    twin = models.BooleanField(default=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "stix_id", "version"],
                condition=Q(twin=False),
                name="one_object_version",
            ),
            models.UniqueConstraint(
                fields=["collection", "stix_id", "version"],
                condition=Q(twin=True),
                name="one_twin_version",
            ),
        ]
        indexes = [
            models.Index(fields=["collection", "date_added", "id"], name="intel_added"),
            models.Index(fields=["collection", "latest", "date_added", "id"], name="intel_latest"),
            models.Index(fields=["collection", "stix_id"], name="intel_stix_id"),
            models.Index(fields=["collection", "stix_type", "date_added"], name="intel_type"),
        ]

    def __str__(self) -> str:
        return f"{self.stix_id} {self.version}"

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= timezone.now()

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return Q(collection__in=Collection.objects.restrict(user, action))


class Status(models.Model):
    """The outcome of one POST of an envelope (TAXII 2.1 §4.3)."""

    id = models.UUIDField(primary_key=True)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="statuses")
    account = models.ForeignKey("intel.Account", null=True, on_delete=models.SET_NULL)
    request_timestamp = models.DateTimeField()
    status = models.CharField(max_length=16, default="complete")
    total_count = models.IntegerField(default=0)
    success_count = models.IntegerField(default=0)
    failure_count = models.IntegerField(default=0)
    pending_count = models.IntegerField(default=0)
    successes = models.JSONField(default=list)
    failures = models.JSONField(default=list)
    pendings = models.JSONField(default=list)

    def __str__(self) -> str:
        return str(self.pk)


class Account(models.Model):
    """A partner tool's TAXII account: HTTP Basic with a password, or API tokens."""

    name = models.CharField(_("name"), max_length=150, unique=True)
    password = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return Q() if user.has_permission(Permission.MANAGE_FEDERATION) else Q(pk__in=[])


class Token(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tokens")
    digest = models.CharField(max_length=64, unique=True)  # SHA-256 of the token
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.prefix}…"


class Grant(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="grants")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="grants")
    can_read = models.BooleanField(default=False)
    can_write = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "collection"], name="one_grant")]

    def __str__(self) -> str:
        return f"{self.account} on {self.collection}"


class Share(models.Model):
    """This node's collection, pushed to a peer node through the signed channel.
    The cursor moves in the transaction that queues the objects, so nothing is
    sent twice or skipped, across restarts."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="shares")
    peer = models.ForeignKey("federation.Peer", on_delete=models.CASCADE, related_name="shares")
    cursor_added = models.DateTimeField(null=True, blank=True)
    cursor_pk = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "peer"], name="one_share")]

    def __str__(self) -> str:
        return f"{self.collection} → {self.peer}"


class Mirror(models.Model):
    """Where a peer's shared collection lands on this node."""

    peer = models.ForeignKey("federation.Peer", on_delete=models.CASCADE, related_name="mirrors")
    remote_id = models.UUIDField()
    collection = models.OneToOneField(Collection, on_delete=models.CASCADE, related_name="mirror")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["peer", "remote_id"], name="one_mirror")]

    def __str__(self) -> str:
        return f"{self.peer} {self.remote_id}"


class Retraction(models.Model):
    """A deletion sent to a peer; confirmed when the peer's signed receipt says
    it applied it (a correction is never lost)."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="retractions")
    stix_id = models.CharField(max_length=300)
    message = models.ForeignKey("federation.OutboxMessage", on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.stix_id


class Subscription(models.Model):
    """A partner's TAXII collection this node pulls, resuming from its cursor."""

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="subscriptions"
    )
    objects_url = models.URLField(max_length=500)
    username = models.CharField(max_length=150, blank=True)
    # The password, or a token if no username: sealed (accord.core.sealed).
    secret = models.CharField(max_length=600, blank=True)
    added_after = models.CharField(max_length=40, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.objects_url
