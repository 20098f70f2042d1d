"""The rules of mutual-assistance requests. Every change goes through here: it
checks the actor's permission, side and role, changes state, writes the audit
event and queues the federation message in one transaction. Every refusal is
audited, and leaves the request as it was.

Who orders the timeline: before submission the requesting node alone holds the
request. From submission on, the requested node orders every transition; the
requesting side's own actions (provide information, accept conditions,
withdraw, extend, convert, release, close) travel to it as `assistance.action`
and take effect when it confirms them with `assistance.transition`. So both
replicas go through the same versions in the same order, whatever crosses on
the wire at the same moment.

Locks are taken in one order everywhere: the partner's channel (its Peer row)
before the request, as the inbox does (it locks the sender's Peer row, then the
handlers lock the request), and the audit head last. A step that will message
the partner takes the channel first, so a local step racing an incoming message
on the same request waits instead of deadlocking (docs/assistance.md,
"Concurrency").

Every public function here is a `refusals_kept` boundary: a refusal raised
under the request's lock is recorded after that transaction has rolled back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError as SchemaError

from accord.assistance import deadlines, evidence_files, policy, routing
from accord.assistance.machine import (
    REQUESTED,
    REQUESTING,
    TRANSITIONS,
    Transition,
)
from accord.assistance.models import (
    AssistanceRequest,
    PendingAction,
    ScreeningFinding,
    State,
)
from accord.assistance.registry import needs_dual_criminality
from accord.assistance.rules import (
    Problem,
    actor_name,
    actor_role,
    content_fields,
    parse_request,
    payload_problems,
    schema_messages,
    version_message,
)
from accord.assistance.steps import advance, write_event
from accord.assistance.types import (
    LINE,
    TEXT,
    RefusalGround,
)
from accord.assistance.wire import (
    ACTION_KIND,
    SUBMIT_KIND,
    ActionBody,
    submit_body,
)
from accord.cases import policy as case_policy
from accord.cases.models import Case
from accord.core import audit, dates
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.policy import Refused
from accord.core.roles import Permission
from accord.core.services import require
from accord.federation import services as federation
from accord.federation.models import Peer


class TransitionRefused(Refused):
    """A step refused for who asks (403), for the request's state or version
    (409), or for what it carries (422). Nothing changed; the refusal is audited."""


@audit.refusals_kept()
def create_request(
    actor: Actor, peer: Peer, data: dict[str, Any], *, ip: str = "", follows: Any = None
) -> AssistanceRequest:
    """An investigator drafts a request to one partner node."""
    require(actor, Permission.VIEW_REQUESTS, what="create_request", ip=ip)
    _enforce(actor, policy.CREATE, None, ip)
    if not peer.active:
        raise ValidationError(_("%(node)s is not an active peer.") % {"node": peer.node_id})
    if misrouted := routing.submission_problem(peer):
        _refuse(actor, None, policy.CREATE, misrouted, 422, ip)
    content, problems = parse_draft(data)
    if problems:
        raise ValidationError(problems)
    node = this_node()
    now = timezone.now()
    with transaction.atomic():
        request = AssistanceRequest(
            id=uuid.uuid4(),
            requesting_node=node.node_id,
            requested_node=peer.node_id,
            peer=peer,
            outgoing=True,
            state=State.DRAFT,
            version=1,
            created_at=now,
            created_by=actor.user,
            follows=follows,
            **content_fields(content),
        )
        _insert_with_reference(request, node.node_id, now)
        if actor.user:
            request.team.add(actor.user)
        write_event(request, "create", "", State.DRAFT, REQUESTING, actor, now, {})
        audit.record(
            actor,
            AuditAction.REQUEST_CREATE,
            request,
            data={
                "reference": request.reference,
                "type": request.request_type,
                "first_contact": request.first_contact is not None,
            },
            ip=ip,
        )
    return request


@audit.refusals_kept()
def update_draft(
    actor: Actor, request: AssistanceRequest, data: dict[str, Any], *, ip: str = ""
) -> AssistanceRequest:
    require(actor, Permission.VIEW_REQUESTS, what="update_draft", ip=ip)
    _enforce(actor, policy.EDIT, request, ip)
    content, problems = parse_draft(data)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        locked = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state != State.DRAFT:
            _refuse(actor, request, "edit", _("Only a draft can be edited."), 409, ip)
        changed = sorted(k for k, v in content_fields(content).items() if getattr(locked, k) != v)
        for key, value in content_fields(content).items():
            setattr(locked, key, value)
        locked.save()
        audit.record(
            actor,
            AuditAction.REQUEST_UPDATE,
            locked,
            data={"reference": locked.reference, "changed": changed},
            ip=ip,
        )
    return locked


def parse_draft(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A request's content as this node's user writes it: the rules every
    replica checks, and the desired deadline checked for sense (core.dates;
    only here: a partner's request arrives with the deadline it was given)."""
    content, problems = parse_request(data)
    deadline = content.get("desired_deadline")
    problem = dates.ahead_problem(date.fromisoformat(deadline) if deadline else None)
    if problem:
        problems.append(Problem(problem, ("desired_deadline",)))
    return content, problems


# Two drafts at once may both pick the next free number; the unique constraint
# decides, and the loser takes the one after. On PostgreSQL the loser's insert
# waits for the winner's commit, and its retry (READ COMMITTED: a new snapshot
# per statement) sees the winner's row. Bounded: each failure means another
# draft took a number, so running out means something else is wrong.
REFERENCE_ATTEMPTS = 20


def _insert_with_reference(request: AssistanceRequest, node_id: str, now: datetime) -> None:
    for _attempt in range(REFERENCE_ATTEMPTS):
        request.reference = _next_reference(node_id, now)
        try:
            # A savepoint: a collision leaves the outer transaction usable.
            with transaction.atomic():
                request.save(force_insert=True)
            return
        except IntegrityError:
            if not AssistanceRequest.objects.filter(reference=request.reference).exists():
                raise  # some other constraint: a bug to see, not a number to retry
    raise IntegrityError(f"no free request reference after {REFERENCE_ATTEMPTS} attempts")


def _next_reference(node_id: str, now: datetime) -> str:
    prefix = f"{node_id.upper()}-{now.year}-"
    taken = AssistanceRequest.objects.filter(reference__startswith=prefix).count()
    for number in range(taken + 1, taken + 1000):
        reference = f"{prefix}{number:04d}"
        if not AssistanceRequest.objects.filter(reference=reference).exists():
            return reference
    raise IntegrityError("no free request reference")


@audit.refusals_kept()
def perform(
    actor: Actor,
    request: AssistanceRequest,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    version: int,
    uploads: Iterable[evidence_files.Upload] = (),
    ip: str = "",
) -> AssistanceRequest:
    """Take one step of the state machine on behalf of a user on this node.

    `version` is the version the user saw: a step on a request that has moved
    on since is refused, never applied to a state the user did not see."""
    require(actor, Permission.VIEW_REQUESTS, what=f"assistance_{action}", ip=ip)
    transition = TRANSITIONS.get(action)
    if transition is None:
        _refuse(actor, request, action, _("There is no such step: %(a)s.") % {"a": action}, 422, ip)
    checked = _check(actor, request, transition, payload or {}, version, ip)
    uploads = list(uploads)
    if uploads and action not in ("respond", "respond_partially"):
        _refuse(actor, request, action, _("Only a response carries files."), 422, ip)
    if uploads and not routing.sends_files(request):
        _refuse(actor, request, action, _("The central authority sends the files."), 422, ip)
    with transaction.atomic():
        locked = lock_for_step(request, transition)
        if locked.version != version:
            _refuse(actor, request, action, version_message(version, locked.version), 409, ip)
        if routing.follows_owner(locked) and not transition.local:
            return _ask_partner(actor, locked, transition, checked, ip)
        checked, items = evidence_files.add_response_files(actor, locked, checked, uploads, ip)
        apply_step(actor, locked, transition, checked, ip)
        evidence_files.send_items(items, locked, ip)
    return locked


def lock_for_step(request: AssistanceRequest, transition: Transition) -> AssistanceRequest:
    """Lock the request for `transition`, in the one lock order: a step that
    messages the partner locks the channel (the Peer row) first, as the inbox
    does before it applies a message to the request. Call inside a transaction."""
    if not transition.local:
        for channel in routing.channels(request):
            federation.lock_peer(channel)
    return AssistanceRequest.objects.select_for_update().get(pk=request.pk)


def _check(
    actor: Actor,
    request: AssistanceRequest,
    transition: Transition,
    payload: dict[str, Any],
    version: int,
    ip: str,
) -> dict[str, Any]:
    """Every reason to refuse, in order: who asks (the policy: side, role,
    team), the version the user saw, where the request is (the policy: state,
    steps still waiting for the partner), then the payload and the rules."""
    action = transition.action
    who = policy.who_may_step(actor.user, action, request)
    if who is not None:
        _refuse(actor, request, action, who.reason, who.status, ip)
    if request.version != version:
        _refuse(actor, request, action, version_message(version, request.version), 409, ip)
    _enforce(actor, action, request, ip)
    try:
        checked = transition.payload.model_validate(payload).model_dump(mode="json")
    except SchemaError as exc:
        _refuse(actor, request, transition.action, "; ".join(schema_messages(exc)), 422, ip)
    problems = payload_problems(request, transition.action, checked, timezone.now())
    problems += filter(None, [routing.assignment_problem(transition.action, checked)])
    if transition.action == "postpone" and checked.get("until"):
        # Checked for sense here only: a partner's postponement arrives as recorded.
        problems += filter(None, [dates.ahead_problem(date.fromisoformat(checked["until"]))])
    if problems:
        _refuse(actor, request, transition.action, " ".join(problems), 422, ip)
    return checked


def _enforce(
    actor: Actor,
    action: str,
    request: AssistanceRequest | None,
    ip: str,
    *,
    audited_as: str = "",
) -> None:
    """Refuse (audited) unless the policy allows the action now."""
    refusal = policy.allowed(actor.user, action, request)
    if refusal is not None:
        _refuse(actor, request, audited_as or action, refusal.reason, refusal.status, ip)


def _refuse(
    actor: Actor, request: AssistanceRequest | None, action: str, reason: str, status: int, ip: str
) -> NoReturn:
    """Refuse, audited: the record is kept even when the refusal rolls back the
    transaction it is raised in (`audit.refusals_kept`)."""
    entry = audit.make_entry(
        actor,
        AuditAction.REQUEST_ACTION_REFUSED,
        request,
        target_type="" if request else "assistance.request",
        data={
            "action": action,
            "reason": str(reason),
            "status": status,
            "state": request.state if request else "",
            "reference": request.reference if request else "",
        },
        ip=ip,
    )
    audit.refuse(entry, TransitionRefused(str(reason), status))


def apply_step(
    actor: Actor,
    request: AssistanceRequest,
    transition: Transition,
    payload: dict,
    ip: str,
    at: datetime | None = None,
) -> None:
    now = at or timezone.now()
    if transition.action == "preserve" and not payload.get("expires_at"):
        payload = {**payload, "expires_at": (now + deadlines.HOLD_MINIMUM).isoformat()}
    event = advance(
        request,
        transition,
        payload,
        REQUESTING if request.outgoing else REQUESTED,
        actor_name(actor),
        actor_role(actor),
        now,
    )
    if transition.action == "validate" and actor.user:
        request.team.add(actor.user)
    if transition.action == "submit":
        request.submit_message = federation.enqueue(request.peer, SUBMIT_KIND, submit_body(request))
        request.save(update_fields=["submit_message"])
        evidence_files.send_attachments(request, ip)
    elif not transition.local:
        routing.relay(request, event)
    audit.record(
        actor,
        AuditAction.REQUEST_TRANSITION,
        request,
        ip=ip,
        data={
            "reference": request.reference,
            "action": transition.action,
            "from": event.from_state,
            "to": event.to_state,
            "version": event.version,
        },
    )


def _ask_partner(
    actor: Actor, request: AssistanceRequest, transition: Transition, payload: dict, ip: str
) -> AssistanceRequest:
    """A requesting-side step after submission: the requested node orders it."""
    pending = PendingAction.objects.create(
        id=uuid.uuid4(),
        request=request,
        action=transition.action,
        payload=payload,
        user=actor.user,
    )
    body = ActionBody(
        request_id=str(request.pk),
        action_id=str(pending.pk),
        action=transition.action,
        base_version=request.version,
        actor_name=actor_name(actor)[:LINE],
        actor_role=actor_role(actor),
        payload=payload,
    )
    pending.message = federation.enqueue(request.peer, ACTION_KIND, body)
    pending.save(update_fields=["message"])
    audit.record(
        actor,
        AuditAction.REQUEST_ACTION_ASKED,
        request,
        ip=ip,
        data={
            "reference": request.reference,
            "action": transition.action,
            "action_id": str(pending.pk),
        },
    )
    return request


@audit.refusals_kept()
def record_finding(
    actor: Actor,
    request: AssistanceRequest,
    ground: str,
    applies: bool,
    rationale: str,
    *,
    ip: str = "",
) -> ScreeningFinding:
    """The requested central authority records one screening ground (or the
    dual-criminality decision, judged on the conduct) with its rationale."""
    require(actor, Permission.VIEW_REQUESTS, what="record_finding", ip=ip)
    _enforce(actor, policy.SCREEN, request, ip, audited_as="finding")
    valid = {ScreeningFinding.DUAL_CRIMINALITY, *RefusalGround.values}
    if ground not in valid:
        raise ValidationError(_("Unknown screening ground %(g)s.") % {"g": ground})
    if ground == RefusalGround.NO_DUAL_CRIMINALITY:
        raise ValidationError(_("Record dual criminality as its own decision."))
    if (
        ground == ScreeningFinding.DUAL_CRIMINALITY
        and not applies
        and not needs_dual_criminality(request.request_type)
    ):
        raise ValidationError(_("Dual criminality is not required for this type of request."))
    rationale = rationale.strip()
    if not rationale:
        raise ValidationError(_("Give the rationale for this finding."))
    with transaction.atomic():
        finding = ScreeningFinding.objects.create(
            request=request,
            ground=ground,
            applies=applies,
            rationale=rationale[:TEXT],
            reviewer=actor.user,
        )
        audit.record(
            actor,
            AuditAction.REQUEST_FINDING,
            request,
            ip=ip,
            data={"reference": request.reference, "ground": ground, "applies": applies},
        )
    return finding


@audit.refusals_kept()
def add_member(actor: Actor, request: AssistanceRequest, user: User, *, ip: str = "") -> None:
    require(actor, Permission.VIEW_REQUESTS, what="add_member", ip=ip)
    _enforce(actor, policy.ADD_MEMBER, request, ip, audited_as="team")
    if not user.has_permission(Permission.VIEW_REQUESTS):
        raise ValidationError(_("%(user)s does not work on requests.") % {"user": user.username})
    with transaction.atomic():
        request.team.add(user)
        audit.record(
            actor,
            AuditAction.REQUEST_TEAM,
            request,
            ip=ip,
            data={"reference": request.reference, "added": user.username},
        )


@audit.refusals_kept()
def link_case(
    actor: Actor, request: AssistanceRequest, case: Case | None, *, ip: str = ""
) -> AssistanceRequest:
    """File the request under `case` (or under none). The user must see the
    request and may change both the case it leaves and the one it joins."""
    _enforce(actor, policy.VIEW, request, ip, audited_as="link_case")
    with transaction.atomic():
        locked = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
        before = locked.case
        for touched in {c for c in (before, case) if c is not None}:
            refusal = case_policy.allowed(actor.user, case_policy.OBSERVE, touched)
            if refusal is not None:
                _refuse(actor, request, "link_case", refusal.reason, refusal.status, ip)
        locked.case = case
        locked.save(update_fields=["case"])
        audit.record(
            actor,
            AuditAction.REQUEST_UPDATE,
            locked,
            data={
                "reference": locked.reference,
                "changed": ["case"],
                "case": case.reference if case else "",
                "was": before.reference if before else "",
            },
            ip=ip,
        )
    return locked
