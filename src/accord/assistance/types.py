"""What a mutual-assistance request is made of (DOMAIN.md, "Assistance
requests"): its types, legal bases, urgency, the shared offence categories,
the screening grounds, the conditions of use, and the strict schemas that
several types share. What each type must carry, and its rules, are in
`registry.py`.

The schemas are strict pydantic models: the same schema checks the web form,
the API and the federation message, so a request means the same thing on both
nodes."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import phonenumbers
from django.db import models
from django.utils.translation import gettext_lazy as _
from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

from accord.core.text import StorableText


def gettext_noop(message: str) -> str:
    """Marks a string for translation (makemessages looks for this name) and
    leaves it as it is, without needing settings (Django's own does): schema
    field titles are translated where they are shown, as labels of the form."""
    return message


class RequestType(models.TextChoices):
    PRESERVATION = "preservation", _("Expedited preservation (Budapest Art. 29)")
    TRAFFIC_DISCLOSURE = "traffic_disclosure", _("Traffic data disclosure (Budapest Art. 30)")
    STORED_DATA = "stored_data", _("Stored data access (Budapest Art. 31)")
    DATA_ORDER = "data_order", _("Subscriber, traffic or content data (EPOC-like)")
    GENERAL_EVIDENCE = "general_evidence", _("General evidence")
    LOCATE_PERSON = "locate_person", _("Locate a person or fugitive")
    IDENTITY_VERIFICATION = (
        "identity_verification",
        _("Identity or immigration-status verification"),
    )
    SPONTANEOUS = "spontaneous", _("Spontaneous information")


class LegalBasis(models.TextChoices):
    BILATERAL = "bilateral", _("Bilateral mutual legal assistance agreement")
    BUDAPEST_29 = "budapest_29", _("Budapest Convention Art. 29")
    BUDAPEST_30 = "budapest_30", _("Budapest Convention Art. 30")
    BUDAPEST_31 = "budapest_31", _("Budapest Convention Art. 31")
    EPOC = "epoc", _("European Production Order (EPOC)")
    EPOC_PR = "epoc_pr", _("European Preservation Order (EPOC-PR)")
    EIO = "eio", _("EIO-style request")
    INTERPOL = "interpol", _("INTERPOL channel")


class Urgency(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency (threat to life or critical infrastructure)")
    URGENT = "urgent", _("Urgent")
    STANDARD = "standard", _("Standard")


class ContactChannel(models.TextChoices):
    """How an emergency's informal first contact was made (Budapest Art. 25(3):
    expedited means; Art. 35: the 24/7 network)."""

    PHONE = "phone", _("Phone call")
    EMAIL = "email", _("E-mail message")
    NETWORK_24_7 = "network_24_7", _("24/7 network (Budapest Art. 35)")
    OTHER = "other", _("Other channel")


class OffenceCategory(models.TextChoices):
    ILLEGAL_ACCESS = "illegal_access", _("Illegal access / intrusion")
    INTERCEPTION = "interception", _("Illegal interception")
    INTERFERENCE = "interference", _("Data or system interference (malware, ransomware, DDoS)")
    MISUSE_OF_DEVICES = "misuse_of_devices", _("Misuse of devices / hacking tools")
    FORGERY = "forgery", _("Computer-related forgery")
    FRAUD = "fraud", _("Computer-related fraud (telecom and online fraud)")
    CSAM = "csam", _("Child sexual abuse material")
    COPYRIGHT = "copyright", _("Copyright infringement")
    PERSONAL_DATA = "personal_data", _("Personal-data theft or trade")
    FACILITATION = "facilitation", _("Facilitating online crime")
    NARCOTICS = "narcotics", _("Drug trafficking (incl. fentanyl and precursors)")
    TERRORISM = "terrorism", _("Terrorism and its financing")
    MONEY_LAUNDERING = "money_laundering", _("Money laundering")
    MIGRANT_SMUGGLING = "migrant_smuggling", _("Migrant smuggling / illegal border crossing")
    OTHER = "other", _("Other")


# The conduct in each legal system's terms (DOMAIN.md table; public statute
# references, to be checked against the current texts).
STATUTES: dict[str, dict[str, str]] = {
    "illegal_access": {"budapest": "Art. 2", "prc": "Art. 285", "us": "18 U.S.C. § 1030"},
    "interception": {"budapest": "Art. 3", "prc": "Arts. 284, 285", "us": "18 U.S.C. § 2511"},
    "interference": {"budapest": "Arts. 4-5", "prc": "Art. 286", "us": "18 U.S.C. § 1030(a)(5)"},
    "misuse_of_devices": {
        "budapest": "Art. 6",
        "prc": "Art. 285 ¶3",
        "us": "18 U.S.C. § 1029, § 1030",
    },
    "forgery": {"budapest": "Art. 7", "prc": "Arts. 280, 287", "us": "18 U.S.C. § 1028"},
    "fraud": {"budapest": "Art. 8", "prc": "Arts. 266, 287", "us": "18 U.S.C. § 1343"},
    "csam": {"budapest": "Art. 9", "prc": "Arts. 363-364", "us": "18 U.S.C. § 2252, § 2252A"},
    "copyright": {"budapest": "Art. 10", "prc": "Arts. 217-218", "us": "17 U.S.C. § 506"},
    "personal_data": {"budapest": "—", "prc": "Art. 253-1", "us": "18 U.S.C. § 1028, § 1030"},
    "facilitation": {"budapest": "—", "prc": "Arts. 287-1, 287-2", "us": "18 U.S.C. § 371, § 2"},
    "narcotics": {"budapest": "—", "prc": "Arts. 347, 350", "us": "21 U.S.C. §§ 841, 952, 960"},
    "terrorism": {"budapest": "—", "prc": "Arts. 120, 120-1", "us": "18 U.S.C. §§ 2339A, 2339B"},
    "money_laundering": {"budapest": "—", "prc": "Art. 191", "us": "18 U.S.C. §§ 1956, 1957"},
    "migrant_smuggling": {"budapest": "—", "prc": "Arts. 318, 321", "us": "8 U.S.C. § 1324"},
    "other": {"budapest": "—", "prc": "—", "us": "—"},
}

LEGAL_SYSTEM_LABELS = {
    "budapest": _("Budapest Convention"),
    "prc": _("PRC Criminal Law"),
    "us": _("US Code"),
}


def legal_system_of(node_id: str, party: str = "") -> str:
    """Which statute column a node reads offences in."""
    text = f"{node_id} {party}".lower()
    if node_id.lower().startswith("cn.") or "china" in text:
        return "prc"
    if node_id.lower().startswith("us.") or "united states" in text:
        return "us"
    return "budapest"


class RefusalGround(models.TextChoices):
    POLITICAL_OFFENCE = "political_offence", _("Political offence")
    ESSENTIAL_INTERESTS = (
        "essential_interests",
        _("Sovereignty, security, public order or other essential interests"),
    )
    MILITARY_OFFENCE = "military_offence", _("Purely military offence")
    NO_DUAL_CRIMINALITY = "no_dual_criminality", _("No dual criminality")
    PERSECUTION = (
        "persecution",
        _("Persecution on grounds of race, religion, nationality, sex or political opinion"),
    )
    NE_BIS_IN_IDEM = "ne_bis_in_idem", _("Ne bis in idem")
    IMMUNITY = "immunity", _("Immunity, privilege or press freedom")
    FUNDAMENTAL_RIGHTS = "fundamental_rights", _("Manifest breach of fundamental rights")
    MEASURE_UNAVAILABLE = "measure_unavailable", _("Measure unavailable in a similar domestic case")
    DOMESTIC_INVESTIGATION = (
        "domestic_investigation",
        _("Postponement for a domestic investigation"),
    )
    INTERPOL_ART3 = (
        "interpol_art3",
        _("Political, military, religious or racial predominance (INTERPOL Art. 3)"),
    )


# Only this ground postpones; the others refuse (Budapest Art. 27(5)).
POSTPONEMENT_GROUNDS = frozenset({RefusalGround.DOMESTIC_INVESTIGATION})
REFUSAL_GROUNDS = frozenset(RefusalGround) - POSTPONEMENT_GROUNDS


class ConditionKind(models.TextChoices):
    SPECIALITY = "speciality", _("Speciality: use only for the stated purpose and case")
    CONFIDENTIALITY = "confidentiality", _("Confidentiality")
    USE_LIMIT = "use_limit", _("Limit on use")
    NO_ONWARD_TRANSFER = "no_onward_transfer", _("No onward transfer to third states")
    OTHER = "other", _("Other condition")


class DataCategory(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber data")
    IDENTIFICATION = "identification", _("Data requested only to identify the user")
    TRAFFIC = "traffic", _("Traffic data")
    CONTENT = "content", _("Content data")


class IdentifierKind(models.TextChoices):
    IP = "ip", _("IP address with time")
    ACCOUNT = "account", _("Account")
    PHONE = "phone", _("Phone number")
    EMAIL = "email", _("E-mail address")


class EvidenceMeasure(models.TextChoices):
    WITNESS = "witness", _("Witness statement")
    RECORDS = "records", _("Documents and records")
    SEARCH = "search", _("Search and seizure")
    ASSET_TRACING = "asset_tracing", _("Asset tracing")
    FREEZING = "freezing", _("Freezing of assets")


class StoredDataMeasure(models.TextChoices):
    SEARCH = "search", _("Search or similar access")
    SEIZURE = "seizure", _("Seizure or similar securing")
    DISCLOSURE = "disclosure", _("Disclosure")


class RestrictionKind(models.TextChoices):
    RESTRICT_USE = "restrict_use", _("Use restricted")
    DELETE = "delete", _("Deletion required")


# ------------------------------------------------------------------ schemas

TEXT = 10_000
LINE = 300


class Strict(StorableText):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Offence(Strict):
    label: str = Field(min_length=1, max_length=LINE)
    statute: str = Field(min_length=1, max_length=LINE)
    max_penalty_years: int = Field(ge=0, le=99, description="99 means life imprisonment")
    category: OffenceCategory


class Identifier(Strict):
    kind: IdentifierKind
    value: str = Field(min_length=1, max_length=LINE)
    observed_at: datetime | None = None

    @model_validator(mode="after")
    def normalise(self) -> Identifier:
        # Normal forms (DOMAIN.md, Observables), so both sides compare them equal.
        value = self.value
        if self.kind == IdentifierKind.IP:
            try:
                value = str(ipaddress.ip_address(value))
            except ValueError:
                raise ValueError(f"{self.value!r} is not an IP address") from None
            if self.observed_at is None:
                raise ValueError("an IP address needs the time it was seen (observed_at)")
        elif self.kind == IdentifierKind.PHONE:
            try:
                number = phonenumbers.parse(value, None)
            except phonenumbers.NumberParseException:
                raise ValueError(
                    f"{self.value!r}: write phone numbers with their country code, like +86…"
                ) from None
            if not phonenumbers.is_possible_number(number):
                raise ValueError(f"{self.value!r} is not a possible phone number")
            value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        elif self.kind == IdentifierKind.EMAIL:
            local, at, domain = value.rpartition("@")
            if not at or not local or not domain:
                raise ValueError(f"{self.value!r} is not an e-mail address")
            value = f"{local}@{domain.lower()}"
        object.__setattr__(self, "value", value)
        return self


class Particulars(Strict):
    # Titles label the form's fields (gettext_noop: translated where shown).
    family_name: str = Field(min_length=1, max_length=LINE, title=gettext_noop("Family name"))
    given_names: str = Field(default="", max_length=LINE, title=gettext_noop("Given names"))
    date_of_birth: str = Field(default="", max_length=40, title=gettext_noop("Date of birth"))
    nationality: str = Field(default="", max_length=LINE, title=gettext_noop("Nationality"))
    other_identifiers: str = Field(
        default="", max_length=TEXT, title=gettext_noop("Other identity particulars")
    )


class Condition(Strict):
    kind: ConditionKind
    text: str = Field(min_length=1, max_length=TEXT)


NOTE = 2_000


class FirstContact(Strict):
    """An emergency's informal first contact (DOMAIN.md, "Deadlines": the
    informal channel first, the written confirmation after; Budapest Art.
    25(3)): when, how, who made it on the requesting side, and whom it reached
    at the partner. The written request through Accord confirms it."""

    at: AwareDatetime
    channel: ContactChannel
    made_by: str = Field(min_length=1, max_length=LINE)
    reached_name: str = Field(min_length=1, max_length=LINE)
    reached_function: str = Field(min_length=1, max_length=LINE)
    note: str = Field(default="", max_length=NOTE)

    @field_validator("at")
    @classmethod
    def in_utc(cls, value: datetime) -> datetime:
        # One written form on both replicas, whatever offset the officer used.
        return value.astimezone(UTC)
