"""A mutual-assistance request exists on both nodes as a replica. The shared part
(content, state, version, timeline, files) is identical on both; the team,
screening notes, pending actions and reminders are each node's own."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accord.assistance.types import (
    LegalBasis,
    RefusalGround,
    RequestType,
    RestrictionKind,
    Urgency,
)
from accord.core.models import User
from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import Permission, Role


class State(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_VALIDATION = "pending_validation", _("Pending validation")
    VALIDATED = "validated", _("Validated")
    SUBMITTED = "submitted", _("Submitted")
    RECEIVED = "received", _("Received")
    SCREENING = "screening", _("Screening")
    NEEDS_INFORMATION = "needs_information", _("Needs information")
    LEGAL_REVIEW = "legal_review", _("Legal review")
    CONSULTATION = "consultation", _("Consultation")
    ACCEPTED = "accepted", _("Accepted")
    ACCEPTED_WITH_CONDITIONS = "accepted_with_conditions", _("Accepted with conditions")
    POSTPONED = "postponed", _("Postponed")
    REFUSED = "refused", _("Refused")
    IN_EXECUTION = "in_execution", _("In execution")
    PARTIALLY_EXECUTED = "partially_executed", _("Partially executed")
    RESPONDED = "responded", _("Responded")
    CLOSED = "closed", _("Closed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    PRESERVED = "preserved", _("Preserved")
    EXTENDED = "extended", _("Preservation extended")
    CONVERTED = "converted", _("Converted into a production request")
    LAPSED = "lapsed", _("Preservation lapsed")
    RELEASED = "released", _("Preservation released")


# A converted preservation still holds the data while the full request is
# decided (DOMAIN.md): it ends when released or when the hold lapses.
FINAL_STATES = frozenset(
    {
        State.REFUSED,
        State.CLOSED,
        State.WITHDRAWN,
        State.LAPSED,
        State.RELEASED,
    }
)


class Side(models.TextChoices):
    REQUESTING = "requesting", _("Requesting side")
    REQUESTED = "requested", _("Requested side")


class AssistanceRequest(models.Model):
    id = models.UUIDField(primary_key=True)
    reference = models.CharField(_("reference"), max_length=80, unique=True)
    requesting_node = models.CharField(_("requesting node"), max_length=100)
    requested_node = models.CharField(_("requested node"), max_length=100)
    # The agency node of the requested party that executes the request, when
    # its central authority assigned it (routing.py); shared, "" until then.
    executing_node = models.CharField(_("executing agency"), max_length=100, blank=True)
    # The partner node: the requested one for outgoing requests, else the requester.
    peer = models.ForeignKey(
        "federation.Peer", on_delete=models.PROTECT, related_name="assistance_requests"
    )
    outgoing = models.BooleanField(_("outgoing"))
    request_type = models.CharField(_("type"), max_length=32, choices=RequestType.choices)
    legal_basis = models.CharField(_("legal basis"), max_length=32, choices=LegalBasis.choices)
    requesting_authority = models.CharField(_("requesting authority"), max_length=300)
    central_authority = models.CharField(_("central authority"), max_length=300)
    offences = models.JSONField(_("offences"), default=list)
    summary = models.TextField(_("summary of facts"))
    purpose = models.TextField(_("purpose"))
    urgency = models.CharField(_("urgency"), max_length=16, choices=Urgency.choices)
    urgency_reason = models.TextField(_("reason for urgency"), blank=True)
    confidential = models.BooleanField(_("confidential"), default=False)
    confidentiality_reasons = models.TextField(_("confidentiality reasons"), blank=True)
    desired_deadline = models.DateField(_("desired deadline"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=16)
    translation = models.CharField(_("translation"), max_length=300, blank=True)
    signer = models.CharField(_("signer"), max_length=300)
    details = models.JSONField(_("details"), default=dict)
    synthetic = models.BooleanField(_("synthetic example"), default=False)
    # An emergency's informal first contact (types.FirstContact) and when the
    # written request must confirm it: shared content, set by the requester.
    first_contact = models.JSONField(_("informal first contact"), null=True, blank=True)
    confirmation_due = models.DateTimeField(_("written confirmation due"), null=True, blank=True)

    state = models.CharField(_("state"), max_length=32, choices=State.choices)
    version = models.IntegerField(default=1)
    conditions = models.JSONField(default=list)
    conditions_accepted = models.BooleanField(default=False)
    refusal_grounds = models.JSONField(default=list)
    restrictions = models.JSONField(default=list)
    # Milestones, from the shared timeline: the clocks the deadlines run on.
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    acknowledge_due = models.DateTimeField(null=True, blank=True)
    decision_due = models.DateTimeField(null=True, blank=True)
    response_due = models.DateTimeField(null=True, blank=True)
    hold_expires = models.DateTimeField(null=True, blank=True)
    # The submission message, to show if the partner's node refused it.
    submit_message = models.ForeignKey(
        "federation.OutboxMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    follows = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups"
    )
    # The case on this node the request belongs to: this node's own, never sent.
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
        verbose_name=_("case"),
    )

    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    team = models.ManyToManyField(User, related_name="assistance_requests", blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["outgoing", "state"])]

    def __str__(self) -> str:
        return self.reference

    @property
    def language_label(self) -> str:
        return {"en": "English", "zh-hans": "简体中文"}.get(self.language, self.language)

    @property
    def side(self) -> Side:
        return Side.REQUESTING if self.outgoing else Side.REQUESTED

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        """Need-to-know (issue 4): the team on this side, the central authority
        and auditors; a validating prosecutor sees what awaits validation.
        Lists also show non-confidential requests to other request workers."""
        if not user.has_permission(Permission.VIEW_REQUESTS):
            return Q(pk__in=[])
        if user.role in (Role.CENTRAL_AUTHORITY, Role.AUDITOR):
            return Q()
        known = Q(team=user) | Q(created_by=user)
        if user.role == Role.PROSECUTOR:
            known |= Q(outgoing=True, state=State.PENDING_VALIDATION)
        if action == "list":
            known |= Q(confidential=False) & ~Q(state=State.DRAFT)
        return known


class RequestEvent(models.Model):
    """One step of the shared timeline; identical on both replicas."""

    request = models.ForeignKey(AssistanceRequest, on_delete=models.CASCADE, related_name="events")
    version = models.IntegerField()
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=32, choices=State.choices, blank=True)
    to_state = models.CharField(max_length=32, choices=State.choices)
    side = models.CharField(max_length=16, choices=Side.choices)
    actor_name = models.CharField(max_length=300)
    actor_role = models.CharField(max_length=32)
    at = models.DateTimeField()
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["request", "version"]
        constraints = [
            models.UniqueConstraint(fields=["request", "version"], name="one_event_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.request_id} v{self.version} {self.action}"


class PendingAction(models.Model):
    """An action of the requesting side after submission: the requested node
    orders every transition of a submitted request, so the action takes effect
    when it confirms it (or says why it could not)."""

    id = models.UUIDField(primary_key=True)
    request = models.ForeignKey(
        AssistanceRequest, on_delete=models.CASCADE, related_name="pending_actions"
    )
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=16, blank=True)  # "", applied, refused
    message = models.ForeignKey(
        "federation.OutboxMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    refusal = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.action} ({self.outcome or 'pending'})"


class ScreeningFinding(models.Model):
    """The requested side's own screening record: each ground considered, with
    rationale, reviewer and time; dual criminality is recorded here too."""

    DUAL_CRIMINALITY = "dual_criminality"

    request = models.ForeignKey(
        AssistanceRequest, on_delete=models.CASCADE, related_name="findings"
    )
    ground = models.CharField(max_length=40)
    applies = models.BooleanField()
    rationale = models.TextField()
    reviewer = models.ForeignKey(User, null=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.ground}: {self.applies}"

    @property
    def ground_label(self) -> str:
        if self.ground == self.DUAL_CRIMINALITY:
            return str(_("Dual criminality"))
        try:
            return str(RefusalGround(self.ground).label)
        except ValueError:
            return self.ground


class ResponseFile(models.Model):
    """A file the response lists (the shared view's `files`): its bytes and
    custody are the evidence item of the request with this SHA-256."""

    request = models.ForeignKey(AssistanceRequest, on_delete=models.CASCADE, related_name="files")
    version = models.IntegerField()
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["version", "pk"]

    def __str__(self) -> str:
        return self.name


class Reminder(models.Model):
    """A deadline alert at 50 %, 80 % or 100 % for one responsible user."""

    request = models.ForeignKey(
        AssistanceRequest, on_delete=models.CASCADE, related_name="reminders"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reminders")
    deadline = models.CharField(max_length=20)
    threshold = models.IntegerField()
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed = models.BooleanField(default=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user", "deadline", "threshold", "due_at"], name="one_reminder"
            )
        ]

    def __str__(self) -> str:
        return f"{self.deadline} {self.threshold}% for {self.user_id}"

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        return Q(user=user)


__all__ = [
    "AssistanceRequest",
    "PendingAction",
    "Reminder",
    "RequestEvent",
    "ResponseFile",
    "RestrictionKind",
    "ScreeningFinding",
    "Side",
    "State",
]
