"""The registry of request types: one entry per type holds everything that
differs between types (DOMAIN.md's table) — its detail schema, the legal bases
that fit it, whether dual criminality must be found, the screens it must pass,
its deadlines, the branch of the state machine it follows and the rules that
join several of its fields.

The rest is derived from here: the request form (its type-specific fields are
built from the detail schema, labels from the fields' titles), the legal-basis
choices, the API's enums, the deadlines, the state machine's type sets and the
table of types in docs/assistance.md (checked by tests/assistance/
test_registry.py). Adding a type: docs/assistance.md, "Adding a request type".

This module imports only `types`: the rules, the forms and the machine import it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy as _
from pydantic import Field, field_validator

from accord.assistance.types import (
    LINE,
    TEXT,
    Condition,
    DataCategory,
    EvidenceMeasure,
    Identifier,
    LegalBasis,
    Offence,
    Particulars,
    RefusalGround,
    RequestType,
    StoredDataMeasure,
    Strict,
    Urgency,
    gettext_noop,
)

SERIOUS_OFFENCE_YEARS = 3  # EPOC: traffic and content data need max. penalty >= 3 years


class Branch(StrEnum):
    """The way a type goes through the state machine once it is received."""

    EXECUTABLE = "executable"  # screened, decided, executed, answered with a response
    PRESERVATION = "preservation"  # screened, decided, answered by a hold
    SPONTANEOUS = "spontaneous"  # not a request: accepted or declined, never screened


HOUR, DAY = timedelta(hours=1), timedelta(days=1)


class Start(StrEnum):
    """The milestone a respond deadline runs from."""

    RECEIPT = "receipt"  # the first `acknowledge`: the service clock starts
    DECISION = "decision"  # the first decision: "execute in 90" days after it


@dataclass(frozen=True)
class Clock:
    """The deadlines after receipt, per urgency: (decide, respond); None: none
    is due. Every figure is DOMAIN.md's ("Deadlines"); where it gives one figure
    for a class, the decision is due with the answer, and an urgency it gives
    no figure for takes the figure of the next slower urgency it does (urgent
    takes standard's). Whole days are calendar days, counted to the same local
    time in the requested side's zone; hours run around the clock."""

    name: str
    rows: Mapping[Urgency, tuple[timedelta | None, timedelta | None]]
    respond_from: Start = Start.RECEIPT


# "Emergency: hours (8 h for data)"; "Standard data orders: 10 days".
# Preservation is an order about data (EPOC-PR), so it runs on this clock too.
DATA = Clock(
    "data",
    {
        Urgency.EMERGENCY: (8 * HOUR, 8 * HOUR),
        Urgency.URGENT: (10 * DAY, 10 * DAY),
        Urgency.STANDARD: (10 * DAY, 10 * DAY),
    },
)
# "Evidence requests: decide in 30 days, execute in 90" (from the decision).
# DOMAIN.md gives no emergency or urgent figures for evidence.
EVIDENCE = Clock("evidence", dict.fromkeys(Urgency, (30 * DAY, 90 * DAY)), Start.DECISION)
# "Information requests between police: 8 hours / 3 days / 7 days": finding a
# person and verifying an identity are the information police ask each other for.
POLICE_INFORMATION = Clock(
    "police information",
    {
        Urgency.EMERGENCY: (8 * HOUR, 8 * HOUR),
        Urgency.URGENT: (3 * DAY, 3 * DAY),
        Urgency.STANDARD: (7 * DAY, 7 * DAY),
    },
)
# Spontaneous information is not a request: DOMAIN.md sets it no deadline.
INFORMATION = Clock("spontaneous", dict.fromkeys(Urgency, (None, None)))
# "Acknowledge within 2 business days" (in the requested side's calendar); an
# emergency runs in hours, and 8 h is the figure DOMAIN.md gives.
ACKNOWLEDGE_BUSINESS_DAYS = 2
ACKNOWLEDGE_EMERGENCY = 8 * HOUR

# The bases that fit every type; a basis named after one article fits only the
# types whose entries name it.
GENERAL_BASES = frozenset({LegalBasis.BILATERAL, LegalBasis.EIO, LegalBasis.INTERPOL})

Rules = Callable[[list[Offence], Strict], list[str]]


@dataclass(frozen=True)
class TypeEntry:
    code: RequestType
    # What `details` must hold. The form asks for its fields in their order,
    # labelled with their titles (gettext_noop: translated where shown).
    details: type[Strict]
    branch: Branch
    clock: Clock
    bases: frozenset[LegalBasis] = GENERAL_BASES
    # Must the requested side find dual criminality before accepting?
    dual_criminality: bool = True
    # Grounds whose latest finding must exist and say "does not apply" before
    # the request is accepted.
    screens: tuple[RefusalGround, ...] = ()
    # Rules that join several fields; each problem is one readable sentence.
    rules: Rules | None = None

    @property
    def label(self) -> str:
        return str(self.code.label)


# ------------------------------------------------------------------ the types


class PreservationDetails(Strict):
    data_to_preserve: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("Data to preserve")
    )
    relation_to_offence: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("How the data relates to the offence")
    )
    custodian: str = Field(min_length=1, max_length=LINE, title=gettext_noop("Custodian or system"))
    why_needed: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("Why preservation is needed")
    )
    full_request_follows: bool = Field(
        title=gettext_noop("A full request for the data will follow")
    )

    @field_validator("full_request_follows")
    @classmethod
    def must_follow(cls, value: bool) -> bool:
        if not value:
            raise ValueError("a preservation request must state that a full request will follow")
        return value


class TrafficDisclosureDetails(Strict):
    preserved_traffic_data: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("Preserved traffic data")
    )
    provider_and_path: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("Provider and path to identify")
    )
    preservation_reference: str = Field(
        default="", max_length=LINE, title=gettext_noop("Reference of the preservation request")
    )


class StoredDataDetails(Strict):
    measure: StoredDataMeasure = Field(title=gettext_noop("Measure"))
    data_description: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("Stored data sought")
    )
    location: str = Field(
        min_length=1, max_length=LINE, title=gettext_noop("Where the data is held")
    )
    risk_of_loss: bool = Field(default=False, title=gettext_noop("The data may be lost (expedite)"))


class DataOrderDetails(Strict):
    data_category: DataCategory = Field(title=gettext_noop("Data category"))
    identifiers: list[Identifier] = Field(
        min_length=1, max_length=50, title=gettext_noop("Identifiers")
    )
    issuer: str = Field(min_length=1, max_length=LINE, title=gettext_noop("Issuing authority"))
    issuer_is_judicial: bool = Field(
        default=False, title=gettext_noop("The issuer is a judge, court or prosecutor")
    )


def data_order_problems(offences: list[Offence], details: Strict) -> list[str]:
    problems: list[str] = []
    if not isinstance(details, DataOrderDetails) or details.data_category not in (
        DataCategory.TRAFFIC,
        DataCategory.CONTENT,
    ):
        return problems
    if max((o.max_penalty_years for o in offences), default=0) < SERIOUS_OFFENCE_YEARS:
        problems.append(
            str(
                _(
                    "Traffic and content data need an offence with a maximum penalty "
                    "of at least 3 years."
                )
            )
        )
    if not details.issuer_is_judicial:
        problems.append(str(_("Traffic and content data need a judicial issuer.")))
    return problems


class GeneralEvidenceDetails(Strict):
    measures: list[EvidenceMeasure] = Field(
        min_length=1, max_length=5, title=gettext_noop("Measures")
    )
    persons_and_places: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("Persons and places")
    )
    questions: str = Field(default="", max_length=TEXT, title=gettext_noop("Questions to ask"))
    items: str = Field(default="", max_length=TEXT, title=gettext_noop("Items to obtain"))
    formalities: str = Field(
        default="", max_length=TEXT, title=gettext_noop("Formalities to follow")
    )


class LocatePersonDetails(Strict):
    person: Particulars
    last_known_location: str = Field(
        default="", max_length=LINE, title=gettext_noop("Last known location")
    )


class IdentityVerificationDetails(Strict):
    person: Particulars
    documents: str = Field(min_length=1, max_length=TEXT, title=gettext_noop("Documents to verify"))


class SpontaneousDetails(Strict):
    information: str = Field(
        min_length=1, max_length=TEXT, title=gettext_noop("Information offered")
    )
    conditions: list[Condition] = Field(default_factory=list, max_length=20)


ENTRIES = (
    TypeEntry(
        RequestType.PRESERVATION,
        PreservationDetails,
        Branch.PRESERVATION,
        DATA,
        bases=GENERAL_BASES | {LegalBasis.BUDAPEST_29, LegalBasis.EPOC_PR},
        # Never required for preservation (Budapest Art. 29(3)).
        dual_criminality=False,
    ),
    TypeEntry(
        RequestType.TRAFFIC_DISCLOSURE,
        TrafficDisclosureDetails,
        Branch.EXECUTABLE,
        DATA,
        bases=GENERAL_BASES | {LegalBasis.BUDAPEST_30},
    ),
    TypeEntry(
        RequestType.STORED_DATA,
        StoredDataDetails,
        Branch.EXECUTABLE,
        DATA,
        bases=GENERAL_BASES | {LegalBasis.BUDAPEST_31},
    ),
    TypeEntry(
        RequestType.DATA_ORDER,
        DataOrderDetails,
        Branch.EXECUTABLE,
        DATA,
        bases=GENERAL_BASES | {LegalBasis.EPOC},
        rules=data_order_problems,
    ),
    TypeEntry(RequestType.GENERAL_EVIDENCE, GeneralEvidenceDetails, Branch.EXECUTABLE, EVIDENCE),
    TypeEntry(
        RequestType.LOCATE_PERSON,
        LocatePersonDetails,
        Branch.EXECUTABLE,
        POLICE_INFORMATION,
        screens=(RefusalGround.INTERPOL_ART3,),
    ),
    TypeEntry(
        RequestType.IDENTITY_VERIFICATION,
        IdentityVerificationDetails,
        Branch.EXECUTABLE,
        POLICE_INFORMATION,
    ),
    TypeEntry(
        RequestType.SPONTANEOUS,
        SpontaneousDetails,
        Branch.SPONTANEOUS,
        INFORMATION,
        # Spontaneous information is not a request at all.
        dual_criminality=False,
    ),
)
TYPES: dict[str, TypeEntry] = {e.code: e for e in ENTRIES}


# ------------------------------------------------------------------ questions


def entry(request_type: str) -> TypeEntry:
    """KeyError for a code that is not a request type."""
    return TYPES[request_type]


def bases_for(request_type: str) -> list[LegalBasis]:
    """The legal bases that fit the type, in LegalBasis's order."""
    fitting = entry(request_type).bases
    return [basis for basis in LegalBasis if basis in fitting]


def basis_fits(request_type: str, legal_basis: str) -> bool:
    return legal_basis in entry(request_type).bases


def needs_dual_criminality(request_type: str) -> bool:
    return entry(request_type).dual_criminality


def screens_for(request_type: str) -> tuple[RefusalGround, ...]:
    return entry(request_type).screens


def types_on(branch: Branch) -> frozenset[str]:
    return frozenset(e.code for e in ENTRIES if e.branch == branch)


def response_times(request_type: str, urgency: str) -> tuple[timedelta | None, timedelta | None]:
    """(decide, respond): decide after receipt, respond after the type's clock's
    `respond_from`."""
    return entry(request_type).clock.rows[Urgency(urgency)]


def parse_details(request_type: str, data: Any) -> Strict:
    return entry(request_type).details.model_validate(data)


def type_rule_problems(request_type: str, offences: list[Offence], details: Strict) -> list[str]:
    """The type's rules that join several fields; each problem is one sentence."""
    rules = entry(request_type).rules
    return rules(offences, details) if rules else []


# The types that need no dual-criminality finding, for those that ask by set.
NO_DUAL_CRIMINALITY = frozenset(e.code for e in ENTRIES if not e.dual_criminality)
