"""A case belongs to this node and never leaves it whole (DOMAIN.md, "Cases
and hit/no-hit"): a reference, a title, offence categories, a status, a team,
subjects and observables. Observables are stored in their normal form only
(`accord.cases.observables`), once per case; the index on (code, normal) is
the node's correlation index: finding every case that holds a value is one
index lookup, and the index grows with the observables, never with their
pairs (no correlation table)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accord.core.models import User
from accord.core.querysets import RestrictedQuerySet
from accord.core.roles import Permission, Role

TITLE = 300
NAME = 200


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


class TitleLanguage(models.TextChoices):
    ENGLISH = "en", "English"
    CHINESE = "zh-hans", "简体中文"


class SubjectKind(models.TextChoices):
    PERSON = "person", _("Person")
    ORGANISATION = "organisation", _("Organisation")
    ACCOUNT = "account", _("Account")
    DEVICE = "device", _("Device")


class Source(models.TextChoices):
    MANUAL = "manual", _("entered by hand")
    CSV = "csv", _("CSV import")
    STIX = "stix", _("STIX import")
    SUBJECT = "subject", _("from a subject")


class Case(models.Model):
    id = models.UUIDField(primary_key=True)
    reference = models.CharField(_("reference"), max_length=80, unique=True)
    title = models.CharField(_("title"), max_length=TITLE)
    title_language = models.CharField(
        _("language of the title"), max_length=16, choices=TitleLanguage.choices
    )
    title_translation = models.CharField(_("translated title"), max_length=TITLE, blank=True)
    # Codes of assistance.types.OffenceCategory: the list requests share.
    categories = models.JSONField(_("offence categories"), default=list)
    status = models.CharField(
        _("status"), max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    confidential = models.BooleanField(_("confidential"), default=False)
    synthetic = models.BooleanField(_("synthetic example"), default=False)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    team = models.ManyToManyField(User, related_name="cases", blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference

    @classmethod
    def restriction(cls, user: User, action: str) -> Q:
        """Need-to-know, as for requests: the team, the central authority and
        auditors open a case. Lists also show the cases that are not
        confidential to the other people who work on cases; a confidential one
        stays out of every list, search and count for them."""
        if not user.has_permission(Permission.VIEW_CASES):
            return Q(pk__in=[])
        if user.role in (Role.CENTRAL_AUTHORITY, Role.AUDITOR):
            return Q()
        known = Q(team=user) | Q(created_by=user)
        if action == "list":
            known |= Q(confidential=False)
        return known


class Subject(models.Model):
    """A person, organisation, account or device the case is about. A person
    with a date of birth, and every identity document, also stands in the
    case's observables, so they correlate like any other value."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="subjects")
    kind = models.CharField(_("kind"), max_length=16, choices=SubjectKind.choices)
    display_name = models.CharField(_("name"), max_length=NAME)
    family_name = models.CharField(_("family name"), max_length=NAME, blank=True)
    given_name = models.CharField(_("given name"), max_length=NAME, blank=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    # [{"code": "passport", "value": "E1234567", "country": "CN"}, ...] as entered.
    documents = models.JSONField(_("identity documents"), default=list)
    added_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return self.display_name


class Observable(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="observables")
    code = models.CharField(_("type"), max_length=32)
    normal = models.CharField(_("normal form"), max_length=512)
    display = models.CharField(_("as entered"), max_length=512)
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="observables"
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    added_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "normal"]
        constraints = [
            models.UniqueConstraint(fields=["case", "code", "normal"], name="one_value_per_case")
        ]
        # The correlation index: from a normal form to the cases holding it.
        indexes = [models.Index(fields=["code", "normal"], name="cases_correlation")]

    def __str__(self) -> str:
        return f"{self.code}:{self.normal}"


class ImportKind(models.TextChoices):
    CSV = "csv", _("CSV file")
    STIX = "stix", _("STIX bundle")
    COLLECTION = "collection", _("intel collection")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting to start")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Finished")
    FAILED = "failed", _("Stopped")


class ImportJob(models.Model):
    """One bulk import into a case (`accord.cases.jobs`). The rows to import
    wait in `rows` until the job finishes; `done` counts the rows whose batch
    has committed, in the same transaction as the batch, so a job run again
    after a crash resumes where it stopped and imports nothing twice."""

    id = models.UUIDField(primary_key=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(_("format"), max_length=16, choices=ImportKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    total = models.PositiveIntegerField(_("rows"), default=0)
    done = models.PositiveIntegerField(_("rows done"), default=0)
    # Report.as_dict(): counts and the listed problems, updated after each batch.
    report = models.JSONField(default=dict)
    # Who started it, as in the audit log ("user:NAME" or "system:cli"): the
    # batches run as them, so a user who left the team stops their import.
    actor = models.CharField(max_length=200)
    reason = models.CharField(_("why it stopped"), max_length=500, blank=True)
    # The worker's task (django_tasks_db) importing it: the clock enqueues a
    # new one for a job whose task ended without finishing it.
    task = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} import {self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)


class ImportChunk(models.Model):
    """A batch of an import's rows still to import, [[where, code, raw,
    subject], ...]; deleted in the transaction that imports it."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    rows = models.JSONField(default=list)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="one_chunk_per_seq")]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.seq}"


__all__ = [
    "Case",
    "CaseStatus",
    "ImportChunk",
    "ImportJob",
    "ImportKind",
    "ImportStatus",
    "Observable",
    "Source",
    "Subject",
    "SubjectKind",
    "TitleLanguage",
]
