"""The state machine of a request (DOMAIN.md, "States"): every action, the one
side and the roles that own it, the states it leaves from and goes to, and the
payload it must carry. Anything not in this table is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accord.assistance.models import State
from accord.assistance.payloads import (
    Answers,
    Assignment,
    Comment,
    Conditions,
    Consultation,
    Extension,
    Grounds,
    Postponement,
    Preservation,
    Preserved,
    Questions,
    Reason,
    Response,
    Restriction,
)
from accord.assistance.registry import Branch, types_on
from accord.assistance.types import RequestType, Strict
from accord.core.roles import Role

REQUESTING, REQUESTED = "requesting", "requested"
SYSTEM_ROLE = "system"


CA = frozenset({Role.CENTRAL_AUTHORITY})
DRAFTERS = frozenset({Role.INVESTIGATOR, Role.CENTRAL_AUTHORITY})
_ALL_TYPES = frozenset(RequestType)
# Each type's branch is in its registry entry.
_PRESERVATION = types_on(Branch.PRESERVATION)
_EXECUTABLE = types_on(Branch.EXECUTABLE)
_REQUESTS = _PRESERVATION | _EXECUTABLE
_DECIDING = frozenset({State.SCREENING, State.LEGAL_REVIEW, State.CONSULTATION})
_HOLDING = frozenset({State.PRESERVED, State.EXTENDED})
# After conversion the hold stays until released, or until it lapses.
_STILL_HOLDING = _HOLDING | {State.CONVERTED}
_BEFORE_RESPONSE = frozenset(
    {
        State.SUBMITTED,
        State.RECEIVED,
        State.SCREENING,
        State.NEEDS_INFORMATION,
        State.LEGAL_REVIEW,
        State.CONSULTATION,
        State.ACCEPTED,
        State.ACCEPTED_WITH_CONDITIONS,
        State.POSTPONED,
        State.IN_EXECUTION,
        State.PARTIALLY_EXECUTED,
    }
)


@dataclass(frozen=True)
class Transition:
    action: str
    label: Promise
    side: str
    roles: frozenset[str]
    sources: frozenset[State]
    target: State | None  # None keeps the state (a restriction after a response)
    payload: type[Strict] = Comment
    types: frozenset[str] = _ALL_TYPES
    # The payload as it travels when the node taking the step adds to it (None:
    # as `payload`; a response's files are already there). wire.check_payload.
    sent: type[Strict] | None = None
    # Only on the requesting node, before the partner knows of the request.
    local: bool = False
    # A button that needs a second look before it is pressed.
    decisive: bool = False
    # It ends or refuses the request: shown apart from the steps that move it on.
    destructive: bool = False

    def leaves(self, state: str) -> State:
        return self.target if self.target is not None else State(state)


def _t(
    action: str,
    label: Promise,
    side: str,
    roles: frozenset[str],
    sources: Any,
    target: State | None,
    **options: Any,
) -> Transition:
    return Transition(action, label, side, roles, frozenset(sources), target, **options)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        # The requesting side, before the partner sees the request.
        _t(
            "send_for_validation",
            _("Send for validation"),
            REQUESTING,
            frozenset({Role.INVESTIGATOR}),
            {State.DRAFT},
            State.PENDING_VALIDATION,
            local=True,
        ),
        _t(
            "validate",
            _("Validate"),
            REQUESTING,
            frozenset({Role.PROSECUTOR}),
            {State.PENDING_VALIDATION},
            State.VALIDATED,
            local=True,
        ),
        _t(
            "return_to_draft",
            _("Return to the investigator"),
            REQUESTING,
            frozenset({Role.PROSECUTOR}),
            {State.PENDING_VALIDATION},
            State.DRAFT,
            payload=Reason,
            local=True,
        ),
        _t(
            "discard",
            _("Discard"),
            REQUESTING,
            DRAFTERS,
            {State.DRAFT, State.PENDING_VALIDATION, State.VALIDATED},
            State.WITHDRAWN,
            payload=Reason,
            local=True,
            decisive=True,
            destructive=True,
        ),
        _t(
            "submit",
            _("Submit to the partner"),
            REQUESTING,
            CA,
            {State.VALIDATED},
            State.SUBMITTED,
            local=True,
            decisive=True,
        ),
        # The requesting side, after submission (ordered by the requested node).
        _t(
            "provide_information",
            _("Provide the information"),
            REQUESTING,
            CA,
            {State.NEEDS_INFORMATION},
            # Back to screening with the clock resumed (steps._stop_the_clock):
            # the request was received once, and is not acknowledged again.
            State.SCREENING,
            payload=Answers,
        ),
        _t(
            "accept_conditions",
            _("Accept the conditions"),
            REQUESTING,
            CA,
            {State.ACCEPTED_WITH_CONDITIONS},
            State.ACCEPTED,
            decisive=True,
        ),
        _t(
            "withdraw",
            _("Withdraw the request"),
            REQUESTING,
            CA,
            _BEFORE_RESPONSE,
            State.WITHDRAWN,
            payload=Reason,
            decisive=True,
            destructive=True,
        ),
        _t(
            "extend",
            _("Extend the hold"),
            REQUESTING,
            CA,
            _HOLDING,
            State.EXTENDED,
            payload=Extension,
            types=_PRESERVATION,
        ),
        _t(
            "convert",
            _("Convert into a production request"),
            REQUESTING,
            CA,
            _HOLDING,
            State.CONVERTED,
            types=_PRESERVATION,
            decisive=True,
        ),
        _t(
            "release",
            _("Release the hold"),
            REQUESTING,
            CA,
            _STILL_HOLDING,
            State.RELEASED,
            types=_PRESERVATION,
            decisive=True,
            destructive=True,
        ),
        _t("close", _("Close"), REQUESTING, CA, {State.RESPONDED}, State.CLOSED),
        _t(
            "reply",
            _("Reply to the partner"),
            REQUESTING,
            CA,
            {State.CONSULTATION, State.ACCEPTED_WITH_CONDITIONS},
            None,
            payload=Answers,
        ),
        # The requested side.
        _t(
            "acknowledge",
            _("Acknowledge receipt"),
            REQUESTED,
            CA,
            {State.SUBMITTED},
            State.RECEIVED,
        ),
        _t(
            "start_screening",
            _("Start screening"),
            REQUESTED,
            CA,
            {State.RECEIVED},
            State.SCREENING,
            types=_REQUESTS,
        ),
        _t(
            "request_information",
            _("Ask for more information"),
            REQUESTED,
            CA,
            {State.SCREENING, State.LEGAL_REVIEW},
            State.NEEDS_INFORMATION,
            payload=Questions,
            types=_REQUESTS,
        ),
        _t(
            "legal_review",
            _("Send to legal review"),
            REQUESTED,
            CA,
            {State.SCREENING},
            State.LEGAL_REVIEW,
            types=_REQUESTS,
        ),
        _t(
            "consult",
            _("Consult the requester"),
            REQUESTED,
            CA,
            {State.SCREENING, State.LEGAL_REVIEW},
            State.CONSULTATION,
            payload=Consultation,
            types=_REQUESTS,
        ),
        _t(
            "accept",
            _("Accept"),
            REQUESTED,
            CA,
            _DECIDING,
            State.ACCEPTED,
            types=_REQUESTS,
            decisive=True,
        ),
        _t(
            "accept_with_conditions",
            _("Accept with conditions"),
            REQUESTED,
            CA,
            _DECIDING,
            State.ACCEPTED_WITH_CONDITIONS,
            payload=Conditions,
            types=_REQUESTS,
            decisive=True,
        ),
        _t(
            "postpone",
            _("Postpone"),
            REQUESTED,
            CA,
            _DECIDING | {State.ACCEPTED},
            State.POSTPONED,
            payload=Postponement,
            types=_REQUESTS,
        ),
        _t(
            "resume",
            _("Resume screening"),
            REQUESTED,
            CA,
            {State.POSTPONED},
            State.SCREENING,
            types=_REQUESTS,
        ),
        _t(
            "refuse",
            _("Refuse"),
            REQUESTED,
            CA,
            _DECIDING,
            State.REFUSED,
            payload=Grounds,
            types=_REQUESTS,
            decisive=True,
            destructive=True,
        ),
        _t(
            "assign",
            _("Assign the execution to an agency"),
            REQUESTED,
            CA,
            {State.ACCEPTED, State.ACCEPTED_WITH_CONDITIONS},
            None,
            payload=Assignment,
            types=_EXECUTABLE,
            decisive=True,
        ),
        _t(
            "begin_execution",
            _("Begin execution"),
            REQUESTED,
            CA,
            {State.ACCEPTED},
            State.IN_EXECUTION,
            types=_EXECUTABLE,
        ),
        _t(
            "respond_partially",
            _("Send a partial response"),
            REQUESTED,
            CA,
            {State.IN_EXECUTION, State.PARTIALLY_EXECUTED},
            State.PARTIALLY_EXECUTED,
            payload=Response,
            types=_EXECUTABLE,
        ),
        _t(
            "respond",
            _("Send the response"),
            REQUESTED,
            CA,
            {State.IN_EXECUTION, State.PARTIALLY_EXECUTED},
            State.RESPONDED,
            payload=Response,
            types=_EXECUTABLE,
            decisive=True,
        ),
        _t(
            "preserve",
            _("Confirm preservation"),
            REQUESTED,
            CA,
            {State.ACCEPTED},
            State.PRESERVED,
            payload=Preservation,
            sent=Preserved,
            types=_PRESERVATION,
        ),
        _t(
            "lapse",
            _("Lapse"),
            REQUESTED,
            frozenset({SYSTEM_ROLE}),
            _STILL_HOLDING,
            State.LAPSED,
            types=_PRESERVATION,
        ),
        _t(
            "restrict_use",
            _("Restrict use or require deletion"),
            REQUESTED,
            CA,
            {State.RESPONDED, State.CLOSED},
            None,
            payload=Restriction,
            types=_EXECUTABLE,
        ),
        _t(
            "accept_information",
            _("Accept the information and its conditions"),
            REQUESTED,
            CA,
            {State.RECEIVED},
            State.CLOSED,
            types=frozenset({RequestType.SPONTANEOUS}),
        ),
        _t(
            "decline_information",
            _("Decline the information"),
            REQUESTED,
            CA,
            {State.RECEIVED},
            State.REFUSED,
            payload=Reason,
            types=frozenset({RequestType.SPONTANEOUS}),
            destructive=True,
        ),
    )
}

# The steps an executing agency takes (routing.py): asked of the central
# authority that assigned it the request, which orders them.
EXECUTION = frozenset({"begin_execution", "respond_partially", "respond"})

DECISIONS = frozenset(
    {
        "accept",
        "accept_with_conditions",
        "refuse",
        "postpone",
        "accept_information",
        "decline_information",
    }
)


def available(request: Any, role: str, side: str) -> list[Transition]:
    """The actions this role on this side may take on the request now."""
    return [
        t
        for t in TRANSITIONS.values()
        if t.side == side
        and role in t.roles
        and request.state in t.sources
        and request.request_type in t.types
    ]
