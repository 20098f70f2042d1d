"""The vocabulary of a bilateral dialogue (DOMAIN.md, "The reference dialogue")."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Track(models.TextChoices):
    """The four high-level dialogues agreed in April 2017."""

    DIPLOMATIC_SECURITY = "diplomatic_security", _("Diplomatic and security dialogue")
    ECONOMIC = "economic", _("Comprehensive economic dialogue")
    LAW_ENFORCEMENT_CYBER = "law_enforcement_cyber", _("Law enforcement and cybersecurity dialogue")
    SOCIAL_CULTURAL = "social_cultural", _("Social and cultural issues dialogue")


class Topic(models.TextChoices):
    COUNTER_TERRORISM = "counter_terrorism", _("Counter-terrorism")
    NARCOTICS = "narcotics", _("Narcotics")
    CYBERSECURITY = "cybersecurity", _("Cybersecurity and cybercrime")
    IMMIGRATION = "immigration", _("Immigration and repatriation")
    FUGITIVES = "fugitives", _("Fugitive repatriation")
    CROSS_BORDER_CASES = "cross_border_cases", _("Cross-border cases")
    OTHER = "other", _("Other")


class DisagreementStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("disagreement", "Open")
    MANAGED = "managed", _("Managed")
    RESOLVED = "resolved", _("Resolved")


class CommitmentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    DROPPED = "dropped", _("Dropped")


class DelegationRole(models.TextChoices):
    CO_CHAIR = "co_chair", _("Co-chair")
    MEMBER = "member", _("Delegation member")


# The offence categories (assistance.types.OffenceCategory) each topic measures;
# an empty list means every category.
CYBER = [
    "illegal_access",
    "interception",
    "interference",
    "misuse_of_devices",
    "forgery",
    "fraud",
    "csam",
    "copyright",
    "personal_data",
    "facilitation",
]
TOPIC_CATEGORIES: dict[str, list[str]] = {
    Topic.COUNTER_TERRORISM: ["terrorism"],
    Topic.NARCOTICS: ["narcotics"],
    Topic.CYBERSECURITY: CYBER,
    Topic.IMMIGRATION: ["migrant_smuggling"],
    Topic.FUGITIVES: [],
    Topic.CROSS_BORDER_CASES: [],
    Topic.OTHER: [],
}
