"""Who may do what to a request, now (DESIGN.md, "Three more pieces").

`allowed(user, action, request)` answers from the permission table
(`core/roles.py`), need-to-know (`AssistanceRequest.restriction`) and the state
machine (`machine.py`), and returns a `Refusal` with its reason and status or
None. The services enforce it; the pages and the API ask it which steps,
forms and panels to offer, so no view recomputes a rule.

The actions are the steps of `machine.TRANSITIONS` and the ones below. A user
of None is this node's own clock or operator (the system role)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accord.assistance import routing
from accord.assistance.machine import REQUESTED, REQUESTING, SYSTEM_ROLE, TRANSITIONS
from accord.assistance.models import AssistanceRequest, State
from accord.assistance.queries import visible, waiting_actions
from accord.assistance.rules import standing_problems, state_message
from accord.core.policy import CONFLICT, FORBIDDEN, UNPROCESSABLE, Refusal
from accord.core.roles import Permission, Role

CREATE = "create"
EDIT = "edit"
ADD_MEMBER = "add_member"
SCREEN = "screen"  # record a screening finding
SEE_FINDINGS = "see_findings"
VIEW = "view"

ACTIONS = (VIEW, CREATE, EDIT, ADD_MEMBER, SCREEN, SEE_FINDINGS, *TRANSITIONS)

# Who may be put on a request's team: the people who work on requests.
TEAM_ROLES = (Role.INVESTIGATOR, Role.PROSECUTOR, Role.CENTRAL_AUTHORITY)

# The states in which the requested central authority screens a request.
SCREENING_STATES = frozenset(
    {State.RECEIVED, State.SCREENING, State.LEGAL_REVIEW, State.CONSULTATION, State.POSTPONED}
)


def role_of(user: Any) -> str:
    return user.role if user is not None else SYSTEM_ROLE


def side_of(request: AssistanceRequest) -> str:
    return REQUESTING if request.outgoing else REQUESTED


def allowed(user: Any, action: str, request: AssistanceRequest | None = None) -> Refusal | None:
    """None if `user` may take `action` on `request` now, else why not."""
    if user is not None and not user.has_permission(Permission.VIEW_REQUESTS):
        return Refusal(_("You do not have permission to do this."))
    if action == CREATE:
        return _create(user)
    if request is None:
        return Refusal(_("There is no such step: %(a)s.") % {"a": action}, CONFLICT)
    if action == VIEW:
        return None if _sees(user, request) else Refusal(_("You are not on this request's team."))
    if action == EDIT:
        return _edit(user, request)
    if action == ADD_MEMBER:
        return _add_member(user, request)
    if action == SCREEN:
        return _screen(user, request)
    if action == SEE_FINDINGS:
        return _see_findings(user, request)
    return step_allowed(user, action, request)


def step_allowed(user: Any, action: str, request: AssistanceRequest) -> Refusal | None:
    """A step of the state machine: who may take it (403), then whether the
    request is where the step starts (409)."""
    return (
        who_may_step(user, action, request)
        or when_step(action, request)
        or _discard_while_validating(user, action, request)
    )


def who_may_step(user: Any, action: str, request: AssistanceRequest) -> Refusal | None:
    transition = TRANSITIONS.get(action)
    if transition is None:
        return Refusal(_("There is no such step: %(a)s.") % {"a": action}, 422)
    if transition.side != side_of(request):
        owner = (
            _("the requesting side") if transition.side == REQUESTING else _("the requested side")
        )
        return Refusal(_("This step belongs to %(owner)s.") % {"owner": owner})
    if role_of(user) not in transition.roles:
        return Refusal(_("Your role may not take this step."))
    if not _sees(user, request):
        return Refusal(_("You are not on this request's team."))
    if executing := routing.step_problem(request, action):
        return Refusal(executing)
    return None


def _discard_while_validating(user: Any, action: str, request: AssistanceRequest) -> Refusal | None:
    """A prosecutor who is validating a request has it: the investigator may
    ask for it back (the prosecutor returns it to the draft), not discard it."""
    if (
        action == "discard"
        and request.state == State.PENDING_VALIDATION
        and role_of(user) == Role.INVESTIGATOR
    ):
        return Refusal(
            _(
                "A prosecutor is validating this request: you may discard it once the "
                "prosecutor returns it to you."
            ),
            CONFLICT,
        )
    return None


def when_step(action: str, request: AssistanceRequest) -> Refusal | None:
    """Whether the request is where the step starts (409), and whether the
    rules that depend on the request alone let it be taken (422)."""
    transition = TRANSITIONS[action]
    if request.state not in transition.sources or request.request_type not in transition.types:
        return Refusal(state_message(request, transition), CONFLICT)
    if (
        routing.follows_owner(request)
        and not transition.local
        and waiting_actions(request).exists()
    ):
        return Refusal(
            _("An earlier step is still waiting for the partner's confirmation."), CONFLICT
        )
    problems = standing_problems(request, action)
    if action == "submit":
        problems += filter(None, [routing.submission_problem(request.peer)])
    problems += filter(None, [routing.standing_problem(request, action)])
    if problems:
        return Refusal(" ".join(problems), UNPROCESSABLE)
    return None


def steps_offered(user: Any, request: AssistanceRequest) -> list[str]:
    """The steps a page or the API offers this user now. A hold lapses by the
    clock alone, so it is never offered as a button."""
    return [
        action
        for action in TRANSITIONS
        if action != "lapse" and step_allowed(user, action, request) is None
    ]


def consultation_first(user: Any, request: AssistanceRequest) -> bool:
    """True if this user could refuse the request now but for the rule that
    the requester is consulted first (Budapest Art. 27(6)), and may consult:
    the page then says so before the grounds are written."""
    refuse = TRANSITIONS["refuse"]
    return (
        request.state in refuse.sources
        and request.request_type in refuse.types
        and who_may_step(user, "refuse", request) is None
        and not request.events.filter(action="consult").exists()
        and step_allowed(user, "consult", request) is None
    )


def _sees(user: Any, request: AssistanceRequest) -> bool:
    return user is None or visible(user).filter(pk=request.pk).exists()


def _create(user: Any) -> Refusal | None:
    if user is not None and user.role != Role.INVESTIGATOR:
        return Refusal(_("Only investigators draft requests."))
    return None


def _edit(user: Any, request: AssistanceRequest) -> Refusal | None:
    if not request.outgoing or request.state != State.DRAFT:
        return Refusal(_("Only a draft of this node can be edited."), CONFLICT)
    if user is not None and user.role != Role.INVESTIGATOR:
        return Refusal(_("Only investigators edit drafts."))
    return None


def _add_member(user: Any, request: AssistanceRequest) -> Refusal | None:
    if role_of(user) in (Role.CENTRAL_AUTHORITY, SYSTEM_ROLE):
        return None
    if user is not None and user == request.created_by:
        return None
    return Refusal(_("Only the central authority or the request's author adds people to its team."))


def _screen(user: Any, request: AssistanceRequest) -> Refusal | None:
    if request.outgoing:
        return Refusal(_("Screening belongs to the requested side."))
    if role_of(user) not in (Role.CENTRAL_AUTHORITY, SYSTEM_ROLE):
        return Refusal(_("Only the central authority screens requests."))
    if request.state not in SCREENING_STATES:
        return Refusal(_("Screening is over for this request."), CONFLICT)
    return None


def _see_findings(user: Any, request: AssistanceRequest) -> Refusal | None:
    """The requested side's screening is its own: its central authority and
    auditors read the findings; nobody on the requesting side does."""
    if request.outgoing:
        return Refusal(_("Screening belongs to the requested side."))
    if role_of(user) not in (Role.CENTRAL_AUTHORITY, Role.AUDITOR, SYSTEM_ROLE):
        return Refusal(_("Only the central authority screens requests."))
    return None


__all__ = ["ACTIONS", "FORBIDDEN", "allowed", "steps_offered"]
