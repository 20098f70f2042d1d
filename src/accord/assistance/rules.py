"""The rules of DOMAIN.md that decide whether a request's content or a step is
acceptable, as pure functions of the request and the input (they read a
request's findings and events, and change nothing). Services, inbound handlers
and the policy all ask them; they import nothing from those."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import AwareDatetime, Field
from pydantic import ValidationError as SchemaError

from accord.assistance import deadlines
from accord.assistance.machine import SYSTEM_ROLE, Transition
from accord.assistance.models import AssistanceRequest, ScreeningFinding
from accord.assistance.registry import (
    basis_fits,
    needs_dual_criminality,
    parse_details,
    screens_for,
    type_rule_problems,
)
from accord.assistance.types import (
    LINE,
    POSTPONEMENT_GROUNDS,
    REFUSAL_GROUNDS,
    TEXT,
    FirstContact,
    LegalBasis,
    Offence,
    RefusalGround,
    RequestType,
    Strict,
    Urgency,
)
from accord.core.audit import Actor

# The fields that make up a request's content: what the requester writes, what
# both replicas hold, and what a submission carries.
CONTENT_FIELDS = (
    "request_type",
    "legal_basis",
    "requesting_authority",
    "central_authority",
    "offences",
    "summary",
    "purpose",
    "urgency",
    "urgency_reason",
    "confidential",
    "confidentiality_reasons",
    "desired_deadline",
    "language",
    "translation",
    "signer",
    "details",
    "synthetic",
    "first_contact",
    "confirmation_due",
)
# Content fields left out of a body when they hold nothing, so that such a body
# is what a node that predates them sends and accepts.
OPTIONAL_CONTENT_FIELDS = ("first_contact", "confirmation_due")

# A type's required screens (registry.screens_for): what to say until one is passed.
SCREEN_FIRST = {
    RefusalGround.INTERPOL_ART3: gettext_lazy(
        "A request to locate a person must pass the political-neutrality "
        "screen (INTERPOL Art. 3) before it is accepted."
    ),
}


class RequestInput(Strict):
    request_type: RequestType
    legal_basis: LegalBasis
    requesting_authority: str = Field(min_length=1, max_length=LINE)
    central_authority: str = Field(min_length=1, max_length=LINE)
    offences: list[Offence] = Field(min_length=1, max_length=20)
    summary: str = Field(min_length=1, max_length=TEXT)
    purpose: str = Field(min_length=1, max_length=TEXT)
    urgency: Urgency = Urgency.STANDARD
    urgency_reason: str = Field(default="", max_length=TEXT)
    confidential: bool = False
    confidentiality_reasons: str = Field(default="", max_length=TEXT)
    desired_deadline: date | None = None
    language: str = Field(default="en", pattern=r"^(en|zh-hans)$")
    translation: str = Field(default="", max_length=LINE)
    signer: str = Field(min_length=1, max_length=LINE)
    details: dict[str, Any]
    synthetic: bool = False  # demo and training data, marked as such everywhere
    # An emergency's informal first contact, and when the written request must
    # confirm it (docs/assistance.md 6.7). The requesting node sets the due
    # time from its setting when it is not given; a submission carries it, so
    # both replicas hold the due time the requesting side answers for.
    first_contact: FirstContact | None = None
    confirmation_due: AwareDatetime | None = None


class Problem(str):
    """A problem with input, as the API says it (the text), with where it is
    (`loc`, the schema's path) and the schema's error, for a form to put it
    beside its field in the user's language (web.schema_errors)."""

    loc: tuple[Any, ...]
    error: dict[str, Any] | None

    def __new__(
        cls, text: str, loc: tuple[Any, ...] = (), error: dict[str, Any] | None = None
    ) -> Problem:
        problem = super().__new__(cls, text)
        problem.loc, problem.error = loc, error
        return problem


def schema_messages(exc: SchemaError, within: tuple[str, ...] = ()) -> list[str]:
    """Pydantic errors as sentences naming the field (its path from `within`)."""
    out: list[str] = []
    for error in exc.errors():
        loc = (*within, *error["loc"])
        where = ".".join(str(part) for part in loc)
        message = error["msg"].removeprefix("Value error, ")
        out.append(Problem(f"{where}: {message}" if where else message, loc, dict(error)))
    return out


def parse_request(
    data: dict[str, Any], now: datetime | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Check a request's content; return it normalised, or the problems."""
    try:
        base = RequestInput.model_validate(data)
    except SchemaError as exc:
        return {}, schema_messages(exc)
    if base.first_contact is not None and base.confirmation_due is None:
        due = deadlines.confirmation_due(base.first_contact.at)
        base = base.model_copy(update={"confirmation_due": due})
    try:
        details = parse_details(base.request_type, base.details)
    except SchemaError as exc:
        # Checked on their own, the details' errors are named as in the request.
        return {}, schema_messages(exc, within=("details",))
    problems = type_rule_problems(base.request_type, base.offences, details)
    if base.urgency != Urgency.STANDARD and not base.urgency_reason:
        problems.append(Problem(_("Say why the request is urgent."), ("urgency_reason",)))
    if base.confidential and not base.confidentiality_reasons:
        problems.append(
            Problem(
                _("Say why the request must be kept confidential."), ("confidentiality_reasons",)
            )
        )
    if not basis_fits(base.request_type, base.legal_basis):
        problems.append(
            Problem(_("This legal basis does not cover this type of request."), ("legal_basis",))
        )
    problems += first_contact_problems(base, now or timezone.now())
    content = base.model_dump(mode="json")
    content["details"] = details.model_dump(mode="json")
    return content, problems


def first_contact_problems(base: RequestInput, now: datetime) -> list[str]:
    """An informal first contact belongs to an emergency (DOMAIN.md,
    "Deadlines"), has happened, and comes before its confirmation is due."""
    contact = base.first_contact
    if contact is None:
        if base.confirmation_due is not None:
            return [_("A written-confirmation deadline needs the first contact it runs from.")]
        return []
    problems = []
    if base.urgency != Urgency.EMERGENCY:
        problems.append(
            _(
                "Only an emergency request records an informal first contact: set the "
                "urgency to emergency, or leave the first contact out."
            )
        )
    # The partner checks it again on arrival, by its own clock: allow the
    # difference between the nodes' clocks that the channel itself accepts.
    skew = timedelta(seconds=settings.FEDERATION_REPLAY_WINDOW_SECONDS)
    if contact.at > now + skew:
        problems.append(
            Problem(_("The first contact cannot be in the future."), ("first_contact", "at"))
        )
    if base.confirmation_due is not None and base.confirmation_due < contact.at:
        problems.append(_("The written confirmation cannot be due before the first contact."))
    return problems


def actor_role(actor: Actor) -> str:
    return actor.user.role if actor.user else SYSTEM_ROLE


def actor_name(actor: Actor) -> str:
    if actor.user is None:
        return actor.label
    return actor.user.get_full_name() or actor.user.username


def version_message(seen: int, current: int) -> str:
    return _(
        "The request has changed since you loaded it (you saw version %(seen)s, it is now "
        "at %(current)s). Reload it and try again."
    ) % {"seen": seen, "current": current}


def state_message(request: AssistanceRequest, transition: Transition) -> str:
    return _("“%(step)s” is not possible for a %(type)s request that is %(state)s.") % {
        "step": transition.label,
        "type": request.get_request_type_display(),
        "state": request.get_state_display(),
    }


def rule_problems(
    request: AssistanceRequest, action: str, payload: dict[str, Any], now: datetime
) -> list[str]:
    """The rules of DOMAIN.md that go beyond the state table."""
    return standing_problems(request, action) + payload_problems(request, action, payload, now)


def standing_problems(request: AssistanceRequest, action: str) -> list[str]:
    """The rules that depend on the request alone, not on what the step
    carries: the policy asks them, so a page offers no step they would refuse."""
    problems: list[str] = []
    if action == "refuse" and not request.events.filter(action="consult").exists():
        problems.append(
            _(
                "Offer conditions before refusing: consult the requester first "
                "(Budapest Art. 27(6))."
            )
        )
    if action in ("accept", "accept_with_conditions"):
        problems += _acceptance_problems(request, action)
    return problems


def payload_problems(
    request: AssistanceRequest, action: str, payload: dict[str, Any], now: datetime
) -> list[str]:
    """The rules that depend on what the step carries."""
    problems: list[str] = []
    grounds = [g["ground"] for g in payload.get("grounds", [])]
    if action == "refuse":
        if any(g not in REFUSAL_GROUNDS for g in grounds):
            problems.append(
                _("A domestic investigation postpones a request; it is not a ground to refuse it.")
            )
        if (
            not needs_dual_criminality(request.request_type)
            and RefusalGround.NO_DUAL_CRIMINALITY in grounds
        ):
            problems.append(_("Dual criminality is never a ground to refuse preservation."))
    if action == "postpone" and any(g not in POSTPONEMENT_GROUNDS for g in grounds):
        problems.append(
            _(
                "A request is postponed only for a domestic investigation; "
                "refuse it for the other grounds."
            )
        )
    if action == "preserve" and payload.get("expires_at"):
        expires = datetime.fromisoformat(payload["expires_at"])
        if expires < now + deadlines.HOLD_MINIMUM - timedelta(minutes=5):
            problems.append(_("A preservation hold lasts at least 60 days (Budapest Art. 29(7))."))
    return problems


def _acceptance_problems(request: AssistanceRequest, action: str) -> list[str]:
    latest = latest_findings(request)
    problems = []
    if needs_dual_criminality(request.request_type):
        dual = latest.get(ScreeningFinding.DUAL_CRIMINALITY)
        if dual is None or not dual.applies:
            problems.append(
                _(
                    "Record the dual-criminality decision (on the conduct, not the "
                    "label) before accepting."
                )
            )
    for ground in screens_for(request.request_type):
        finding = latest.get(ground)
        if finding is None or finding.applies:
            problems.append(str(SCREEN_FIRST[ground]))
    applying = [
        f for g, f in latest.items() if g != ScreeningFinding.DUAL_CRIMINALITY and f.applies
    ]
    if action == "accept" and applying:
        problems.append(
            _(
                "A screening ground applies (%(grounds)s): refuse, postpone or accept "
                "with conditions instead."
            )
            % {"grounds": ", ".join(f.ground_label for f in applying)}
        )
    return problems


def latest_findings(request: AssistanceRequest) -> dict[str, ScreeningFinding]:
    latest: dict[str, ScreeningFinding] = {}
    for finding in request.findings.order_by("at", "pk"):
        latest[finding.ground] = finding
    return latest


def content_fields(content: dict[str, Any]) -> dict[str, Any]:
    """A parsed request's content as model field values."""
    fields = {key: content[key] for key in CONTENT_FIELDS if key in content}
    deadline = fields.get("desired_deadline")
    if isinstance(deadline, str):
        fields["desired_deadline"] = date.fromisoformat(deadline)
    due = fields.get("confirmation_due")
    if isinstance(due, str):
        fields["confirmation_due"] = datetime.fromisoformat(due)
    return fields
