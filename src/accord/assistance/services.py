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
the wire at the same moment."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import Field
from pydantic import ValidationError as SchemaError

from accord.assistance import deadlines, files
from accord.assistance.machine import (
    DECISIONS,
    REQUESTED,
    REQUESTING,
    SYSTEM_ROLE,
    TRANSITIONS,
    Transition,
)
from accord.assistance.models import (
    FINAL_STATES,
    AssistanceRequest,
    FileChunk,
    PendingAction,
    RequestEvent,
    ResponseFile,
    ScreeningFinding,
    State,
)
from accord.assistance.types import (
    LINE,
    NO_DUAL_CRIMINALITY,
    POSTPONEMENT_GROUNDS,
    REFUSAL_GROUNDS,
    TEXT,
    LegalBasis,
    Offence,
    RefusalGround,
    RequestType,
    RestrictionKind,
    Strict,
    Urgency,
    parse_details,
    type_rule_problems,
)
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.roles import Permission, Role
from accord.core.services import require
from accord.federation import services as federation
from accord.federation.models import Peer

SUBMIT_KIND = "assistance.submit"
TRANSITION_KIND = "assistance.transition"
ACTION_KIND = "assistance.action"
ACTION_REFUSED_KIND = "assistance.action-refused"
CHUNK_KIND = "assistance.file-chunk"

MAX_FILES = 20
MAX_FILE_BYTES = 25 * 1024 * 1024

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
)

# A legal basis named after one article fits only the type that article defines.
BASIS_FOR_TYPE = {
    LegalBasis.BUDAPEST_29: {RequestType.PRESERVATION},
    LegalBasis.EPOC_PR: {RequestType.PRESERVATION},
    LegalBasis.BUDAPEST_30: {RequestType.TRAFFIC_DISCLOSURE},
    LegalBasis.BUDAPEST_31: {RequestType.STORED_DATA},
    LegalBasis.EPOC: {RequestType.DATA_ORDER},
}


class TransitionRefused(Exception):
    """A step refused for who asks (403), for the request's state or version
    (409), or for what it carries (422). Nothing changed; the refusal is audited."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# ---------------------------------------------------------------- input


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


def schema_messages(exc: SchemaError, within: tuple[str, ...] = ()) -> list[str]:
    """Pydantic errors as sentences naming the field (its path from `within`)."""
    out = []
    for error in exc.errors():
        where = ".".join(str(part) for part in (*within, *error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        out.append(f"{where}: {message}" if where else message)
    return out


def parse_request(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check a request's content; return it normalised, or the problems."""
    try:
        base = RequestInput.model_validate(data)
    except SchemaError as exc:
        return {}, schema_messages(exc)
    try:
        details = parse_details(base.request_type, base.details)
    except SchemaError as exc:
        # Checked on their own, the details' errors are named as in the request.
        return {}, schema_messages(exc, within=("details",))
    problems = type_rule_problems(base.request_type, base.offences, details)
    if base.urgency != Urgency.STANDARD and not base.urgency_reason:
        problems.append(_("Say why the request is urgent."))
    if base.confidential and not base.confidentiality_reasons:
        problems.append(_("Say why the request must be kept confidential."))
    allowed = BASIS_FOR_TYPE.get(base.legal_basis)
    if allowed is not None and base.request_type not in allowed:
        problems.append(_("This legal basis does not cover this type of request."))
    content = base.model_dump(mode="json")
    content["details"] = details.model_dump(mode="json")
    return content, problems


# ---------------------------------------------------------------- reading


def visible(user: User, action: str = "view") -> Any:
    # The restriction joins the team: without distinct() a request's author
    # (or a validating prosecutor) would see it once per team member, and
    # open_request's get() would fail with MultipleObjectsReturned.
    return AssistanceRequest.objects.restrict(user, action).distinct()


def open_request(
    actor: Actor, request_id: Any, *, how: str = "read", ip: str = ""
) -> AssistanceRequest:
    """One request, if the actor may see it; every read is audited (issue 4)."""
    require(actor, Permission.VIEW_REQUESTS, what=f"assistance_{how}", ip=ip)
    try:
        request = (
            visible(actor.user).get(pk=request_id)
            if actor.user
            else (AssistanceRequest.objects.get(pk=request_id))
        )
    except (AssistanceRequest.DoesNotExist, ValidationError, ValueError):
        audit.record(
            actor,
            AuditAction.ACCESS_DENIED,
            target_type="assistance.request",
            target_id=str(request_id)[:64],
            data={"what": f"assistance_{how}"},
            ip=ip,
        )
        raise AssistanceRequest.DoesNotExist from None
    exported = how in ("print", "pdf", "file")
    action = AuditAction.REQUEST_EXPORT if exported else AuditAction.REQUEST_READ
    audit.record(actor, action, request, data={"reference": request.reference, "how": how}, ip=ip)
    return request


def actor_role(actor: Actor) -> str:
    return actor.user.role if actor.user else SYSTEM_ROLE


def actor_name(actor: Actor) -> str:
    if actor.user is None:
        return actor.label
    return actor.user.get_full_name() or actor.user.username


# ---------------------------------------------------------------- drafting


def create_request(
    actor: Actor, peer: Peer, data: dict[str, Any], *, ip: str = "", follows: Any = None
) -> AssistanceRequest:
    """An investigator drafts a request to one partner node."""
    require(actor, Permission.VIEW_REQUESTS, what="create_request", ip=ip)
    if actor.user is not None and actor.user.role != Role.INVESTIGATOR:
        _refuse(actor, None, "create", _("Only investigators draft requests."), 403, ip)
    if not peer.active:
        raise ValidationError(_("%(node)s is not an active peer.") % {"node": peer.node_id})
    content, problems = parse_request(data)
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
            **_content_fields(content),
        )
        request.reference = _next_reference(node.node_id, now)
        request.save(force_insert=True)
        if actor.user:
            request.team.add(actor.user)
        _write_event(request, "create", "", State.DRAFT, REQUESTING, actor, now, {})
        audit.record(
            actor,
            AuditAction.REQUEST_CREATE,
            request,
            data={"reference": request.reference, "type": request.request_type},
            ip=ip,
        )
    return request


def update_draft(
    actor: Actor, request: AssistanceRequest, data: dict[str, Any], *, ip: str = ""
) -> AssistanceRequest:
    require(actor, Permission.VIEW_REQUESTS, what="update_draft", ip=ip)
    if not request.outgoing or request.state != State.DRAFT:
        _refuse(actor, request, "edit", _("Only a draft of this node can be edited."), 409, ip)
    if actor.user is not None and actor.user.role != Role.INVESTIGATOR:
        _refuse(actor, request, "edit", _("Only investigators edit drafts."), 403, ip)
    content, problems = parse_request(data)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        locked = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state != State.DRAFT:
            _refuse(actor, request, "edit", _("Only a draft can be edited."), 409, ip)
        changed = sorted(k for k, v in _content_fields(content).items() if getattr(locked, k) != v)
        for key, value in _content_fields(content).items():
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


def _content_fields(content: dict[str, Any]) -> dict[str, Any]:
    fields = {key: content[key] for key in CONTENT_FIELDS if key in content}
    deadline = fields.get("desired_deadline")
    if isinstance(deadline, str):
        fields["desired_deadline"] = date.fromisoformat(deadline)
    return fields


def _next_reference(node_id: str, now: datetime) -> str:
    prefix = f"{node_id.upper()}-{now.year}-"
    taken = AssistanceRequest.objects.filter(reference__startswith=prefix).count()
    for number in range(taken + 1, taken + 1000):
        reference = f"{prefix}{number:04d}"
        if not AssistanceRequest.objects.filter(reference=reference).exists():
            return reference
    raise IntegrityError("no free request reference")


# ---------------------------------------------------------------- transitions


def perform(
    actor: Actor,
    request: AssistanceRequest,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    version: int,
    uploads: Iterable[tuple[str, str, bytes]] = (),
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
    with transaction.atomic():
        locked = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
        if locked.version != version:
            _refuse(actor, request, action, _version_message(version, locked.version), 409, ip)
        if locked.outgoing and not transition.local:
            return _ask_partner(actor, locked, transition, checked, ip)
        checked = _attach_files(locked, checked, uploads)
        _apply_local(actor, locked, transition, checked, ip)
    return locked


def _check(
    actor: Actor,
    request: AssistanceRequest,
    transition: Transition,
    payload: dict[str, Any],
    version: int,
    ip: str,
) -> dict[str, Any]:
    """Every reason to refuse, in order: side, role, version, state, payload, rules."""
    side = REQUESTING if request.outgoing else REQUESTED
    if transition.side != side:
        owner = (
            _("the requesting side") if transition.side == REQUESTING else _("the requested side")
        )
        _refuse(
            actor,
            request,
            transition.action,
            _("This step belongs to %(owner)s.") % {"owner": owner},
            403,
            ip,
        )
    if actor_role(actor) not in transition.roles:
        _refuse(actor, request, transition.action, _("Your role may not take this step."), 403, ip)
    if actor.user is not None and not visible(actor.user).filter(pk=request.pk).exists():
        _refuse(
            actor, request, transition.action, _("You are not on this request's team."), 403, ip
        )
    if request.version != version:
        _refuse(
            actor, request, transition.action, _version_message(version, request.version), 409, ip
        )
    if request.state not in transition.sources or request.request_type not in transition.types:
        _refuse(actor, request, transition.action, _state_message(request, transition), 409, ip)
    if request.outgoing and not transition.local and waiting_actions(request).exists():
        _refuse(
            actor,
            request,
            transition.action,
            _("An earlier step is still waiting for the partner's confirmation."),
            409,
            ip,
        )
    try:
        checked = transition.payload.model_validate(payload).model_dump(mode="json")
    except SchemaError as exc:
        _refuse(actor, request, transition.action, "; ".join(schema_messages(exc)), 422, ip)
    problems = rule_problems(request, transition.action, checked, timezone.now())
    if problems:
        _refuse(actor, request, transition.action, " ".join(problems), 422, ip)
    return checked


def waiting_actions(request: AssistanceRequest) -> Any:
    """Requesting-side steps the partner has not yet applied. A step whose
    message the partner's node refused outright will never be applied: it is
    settled as refused here, so it neither blocks later steps nor hides."""
    from accord.federation.models import MessageStatus

    stuck = request.pending_actions.filter(outcome="", message__status=MessageStatus.REFUSED)
    for pending in stuck.select_related("message"):
        pending.outcome = "refused"
        pending.refusal = _("The partner's node refused the message: %(reason)s") % {
            "reason": pending.message.refusal_reason or "?"
        }
        pending.save(update_fields=["outcome", "refusal"])
    return request.pending_actions.filter(outcome="")


def _version_message(seen: int, current: int) -> str:
    return _(
        "The request has changed since you loaded it (you saw version %(seen)s, it is now "
        "at %(current)s). Reload it and try again."
    ) % {"seen": seen, "current": current}


def _state_message(request: AssistanceRequest, transition: Transition) -> str:
    return _("“%(step)s” is not possible for a %(type)s request that is %(state)s.") % {
        "step": transition.label,
        "type": request.get_request_type_display(),
        "state": request.get_state_display(),
    }


def rule_problems(
    request: AssistanceRequest, action: str, payload: dict[str, Any], now: datetime
) -> list[str]:
    """The rules of DOMAIN.md that go beyond the state table."""
    problems: list[str] = []
    grounds = [g["ground"] for g in payload.get("grounds", [])]
    if action == "refuse":
        if not request.events.filter(action="consult").exists():
            problems.append(
                _(
                    "Offer conditions before refusing: consult the requester first "
                    "(Budapest Art. 27(6))."
                )
            )
        if any(g not in REFUSAL_GROUNDS for g in grounds):
            problems.append(
                _("A domestic investigation postpones a request; it is not a ground to refuse it.")
            )
        if (
            request.request_type == RequestType.PRESERVATION
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
    if action in ("accept", "accept_with_conditions"):
        problems += _acceptance_problems(request, action)
    if action == "preserve" and payload.get("expires_at"):
        expires = datetime.fromisoformat(payload["expires_at"])
        if expires < now + deadlines.HOLD_MINIMUM - timedelta(minutes=5):
            problems.append(_("A preservation hold lasts at least 60 days (Budapest Art. 29(7))."))
    return problems


def _acceptance_problems(request: AssistanceRequest, action: str) -> list[str]:
    latest = _latest_findings(request)
    problems = []
    if request.request_type not in NO_DUAL_CRIMINALITY:
        dual = latest.get(ScreeningFinding.DUAL_CRIMINALITY)
        if dual is None or not dual.applies:
            problems.append(
                _(
                    "Record the dual-criminality decision (on the conduct, not the "
                    "label) before accepting."
                )
            )
    if request.request_type == RequestType.LOCATE_PERSON:
        neutral = latest.get(RefusalGround.INTERPOL_ART3)
        if neutral is None or neutral.applies:
            problems.append(
                _(
                    "A request to locate a person must pass the political-neutrality "
                    "screen (INTERPOL Art. 3) before it is accepted."
                )
            )
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


def _latest_findings(request: AssistanceRequest) -> dict[str, ScreeningFinding]:
    latest: dict[str, ScreeningFinding] = {}
    for finding in request.findings.order_by("at", "pk"):
        latest[finding.ground] = finding
    return latest


def _refuse(
    actor: Actor, request: AssistanceRequest | None, action: str, reason: str, status: int, ip: str
) -> Any:
    """Audit the refusal (outside any transaction, so it survives) and raise."""
    audit.record(
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
    raise TransitionRefused(str(reason), status)


def _apply_local(
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
    event = _advance(
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
    elif not transition.local:
        _send_files(request, payload)
        federation.enqueue(request.peer, TRANSITION_KIND, transition_body(request, event, None))
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


def _advance(
    request: AssistanceRequest,
    transition: Transition,
    payload: dict[str, Any],
    side: str,
    name: str,
    role: str,
    at: datetime,
) -> RequestEvent:
    """Move the (locked) request one version on and apply the step's effects."""
    from_state = request.state
    request.state = transition.leaves(from_state)
    request.version += 1
    _effects(request, transition.action, payload, at)
    request.save()
    return _write_event(
        request,
        transition.action,
        from_state,
        request.state,
        side,
        None,
        at,
        payload,
        name=name,
        role=role,
    )


def _write_event(
    request: AssistanceRequest,
    action: str,
    from_state: str,
    to_state: str,
    side: str,
    actor: Actor | None,
    at: datetime,
    payload: dict[str, Any],
    *,
    name: str = "",
    role: str = "",
) -> RequestEvent:
    return RequestEvent.objects.create(
        request=request,
        version=request.version,
        action=action,
        from_state=from_state,
        to_state=to_state,
        side=side,
        actor_name=(actor_name(actor) if actor else name)[:300],
        actor_role=actor_role(actor) if actor else role,
        at=at,
        payload=payload,
    )


def _stop_the_clock(request: AssistanceRequest, answered_at: datetime) -> None:
    """The time the requested side waited for the information it asked for
    does not count against it: its open deadlines move by that much. Both
    replicas compute it from the same timeline."""
    asked_at = (
        request.events.filter(action="request_information")
        .order_by("-version")
        .values_list("at", flat=True)
        .first()
    )
    if asked_at is None or answered_at <= asked_at:
        return
    waited = answered_at - asked_at
    if request.decided_at is None and request.decision_due:
        request.decision_due += waited
    if request.responded_at is None and request.response_due:
        request.response_due += waited


def _effects(
    request: AssistanceRequest, action: str, payload: dict[str, Any], at: datetime
) -> None:
    """What a step changes beyond the state; the same on both replicas."""
    if action == "submit" and request.submitted_at is None:
        request.submitted_at = at
        request.acknowledge_due = deadlines.acknowledge_due(at, request.urgency)
    elif action == "acknowledge" and request.received_at is None:
        request.received_at = at
        request.decision_due, request.response_due = deadlines.decision_and_response_due(
            at, request.request_type, request.urgency
        )
    elif action == "provide_information":
        _stop_the_clock(request, at)
    if action in DECISIONS and request.decided_at is None:
        request.decided_at = at
    if action == "accept_with_conditions":
        request.conditions, request.conditions_accepted = payload["conditions"], False
    elif action == "accept_conditions":
        request.conditions_accepted = True
    elif action == "accept_information":
        request.conditions = request.details.get("conditions", [])
        request.conditions_accepted = True
    elif action == "refuse":
        request.refusal_grounds = payload["grounds"]
    elif action == "respond":
        request.responded_at = at
    elif action == "preserve":
        request.responded_at = at
        request.hold_expires = datetime.fromisoformat(payload["expires_at"])
    elif action == "extend" and request.hold_expires:
        request.hold_expires = request.hold_expires + timedelta(days=payload["days"])
    elif action == "restrict_use":
        request.restrictions = [*request.restrictions, {**payload, "at": at.isoformat()}]
    if request.state in FINAL_STATES and request.ended_at is None:
        request.ended_at = at
    for ref in payload.get("files", []):
        ResponseFile.objects.create(request=request, version=request.version, **ref)


# ---------------------------------------------------------------- files


def _attach_files(
    request: AssistanceRequest, payload: dict[str, Any], uploads: list[tuple[str, str, bytes]]
) -> dict[str, Any]:
    if not uploads:
        return {**payload, "files": []} if "files" in payload else payload
    if len(uploads) > MAX_FILES:
        raise ValidationError(_("Attach at most %(n)s files.") % {"n": MAX_FILES})
    refs = []
    for name, content_type, data in uploads:
        if len(data) > MAX_FILE_BYTES:
            raise ValidationError(
                _("%(name)s is larger than 25 MB; send it as evidence.") % {"name": name}
            )
        digest = files.store(data)
        kind = (content_type or "application/octet-stream")[:100]
        refs.append(
            {
                "name": name[:255] or digest,
                "content_type": kind,
                "size": len(data),
                "sha256": digest,
            }
        )
    return {**payload, "files": refs}


def _send_files(request: AssistanceRequest, payload: dict[str, Any]) -> None:
    """Each file travels in chunks ahead of the response that lists it."""
    for ref in payload.get("files", []):
        pieces = files.chunks(files.load(ref["sha256"]), files.chunk_bytes())
        bodies = [
            ChunkBody(
                request_id=str(request.pk),
                sha256=ref["sha256"],
                index=i,
                total=len(pieces),
                data=base64.b64encode(piece).decode(),
            )
            for i, piece in enumerate(pieces)
        ]
        for body in bodies:
            federation.enqueue(request.peer, CHUNK_KIND, body)


def receive_chunk(peer: Peer, body: ChunkBody) -> None:
    if body.index >= body.total:
        raise _refusal("invalid_chunk: index beyond total")
    if not AssistanceRequest.objects.filter(pk=body.request_id, peer=peer, outgoing=True).exists():
        raise _refusal("unknown_request: a file for a request this node did not send")
    FileChunk.objects.update_or_create(
        request_id=uuid.UUID(body.request_id),
        sha256=body.sha256,
        index=body.index,
        defaults={"data": base64.b64decode(body.data)},
    )


def _assemble(request: AssistanceRequest, ref: dict[str, Any]) -> None:
    """Put an arrived file together and check it is intact before keeping it."""
    from accord.federation.kinds import Refusal

    if files.exists(ref["sha256"]):
        FileChunk.objects.filter(request_id=request.pk, sha256=ref["sha256"]).delete()
        return
    pieces = FileChunk.objects.filter(request_id=request.pk, sha256=ref["sha256"]).order_by("index")
    data = b"".join(bytes(piece.data) for piece in pieces)
    if len(data) != ref["size"] or files.sha256_of(data) != ref["sha256"]:
        raise Refusal(f"file_damaged: {ref['name']} does not match its SHA-256")
    files.store(data)
    pieces.delete()


def delete_files(request: AssistanceRequest) -> int:
    """The provider required deletion: remove every file it sent for this request."""
    rows = list(request.files.filter(deleted=False))
    for row in rows:
        row.deleted = True
        row.save(update_fields=["deleted"])
        if not ResponseFile.objects.filter(sha256=row.sha256, deleted=False).exists():
            transaction.on_commit(lambda digest=row.sha256: files.remove(digest))
    return len(rows)


# ---------------------------------------------------------------- screening and team


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
    if request.outgoing:
        _refuse(actor, request, "finding", _("Screening belongs to the requested side."), 403, ip)
    if actor_role(actor) not in (Role.CENTRAL_AUTHORITY, SYSTEM_ROLE):
        _refuse(
            actor, request, "finding", _("Only the central authority screens requests."), 403, ip
        )
    if request.state not in (
        State.RECEIVED,
        State.SCREENING,
        State.LEGAL_REVIEW,
        State.CONSULTATION,
        State.POSTPONED,
    ):
        _refuse(actor, request, "finding", _("Screening is over for this request."), 409, ip)
    valid = {ScreeningFinding.DUAL_CRIMINALITY, *RefusalGround.values}
    if ground not in valid:
        raise ValidationError(_("Unknown screening ground %(g)s.") % {"g": ground})
    if ground == RefusalGround.NO_DUAL_CRIMINALITY:
        raise ValidationError(_("Record dual criminality as its own decision."))
    if (
        ground == ScreeningFinding.DUAL_CRIMINALITY
        and not applies
        and request.request_type in NO_DUAL_CRIMINALITY
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


def add_member(actor: Actor, request: AssistanceRequest, user: User, *, ip: str = "") -> None:
    require(actor, Permission.VIEW_REQUESTS, what="add_member", ip=ip)
    if actor_role(actor) not in (Role.CENTRAL_AUTHORITY, SYSTEM_ROLE) and (
        actor.user != request.created_by
    ):
        _refuse(
            actor,
            request,
            "team",
            _("Only the central authority or the request's author adds people to its team."),
            403,
            ip,
        )
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


# ---------------------------------------------------------------- wire bodies


class SubmitBody(Strict):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    reference: str = Field(min_length=1, max_length=80)
    requesting_node: str = Field(min_length=1, max_length=100)
    requested_node: str = Field(min_length=1, max_length=100)
    created_at: str
    version: int = Field(ge=1)
    content: dict[str, Any]
    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class EventBody(Strict):
    version: int = Field(ge=1)
    action: str = Field(max_length=40)
    from_state: str = Field(max_length=32)
    to_state: str = Field(max_length=32)
    side: str = Field(pattern=r"^(requesting|requested)$")
    actor_name: str = Field(max_length=300)
    actor_role: str = Field(max_length=32)
    at: str
    payload: dict[str, Any]


class TransitionBody(Strict):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    event: EventBody
    action_id: str | None = None


class ActionBody(Strict):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    action_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    action: str = Field(max_length=40)
    base_version: int = Field(ge=1)
    actor_name: str = Field(max_length=LINE)
    actor_role: str = Field(max_length=32)
    payload: dict[str, Any]


class ActionRefusedBody(Strict):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    action_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    reason: str = Field(max_length=TEXT)


class ChunkBody(Strict):
    request_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    index: int = Field(ge=0, le=10_000)
    total: int = Field(ge=1, le=10_001)
    data: str = Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$")


def event_dict(event: RequestEvent) -> dict[str, Any]:
    return {
        "version": event.version,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "side": event.side,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "at": _iso(event.at),
        "payload": event.payload,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="microseconds") if moment else None


def content_of(request: AssistanceRequest) -> dict[str, Any]:
    content = {key: getattr(request, key) for key in CONTENT_FIELDS}
    if content["desired_deadline"]:
        content["desired_deadline"] = content["desired_deadline"].isoformat()
    return content


def submit_body(request: AssistanceRequest) -> SubmitBody:
    return SubmitBody(
        request_id=str(request.pk),
        reference=request.reference,
        requesting_node=request.requesting_node,
        requested_node=request.requested_node,
        created_at=_iso(request.created_at) or "",
        version=request.version,
        content=content_of(request),
        events=[event_dict(e) for e in request.events.order_by("version")],
    )


def transition_body(
    request: AssistanceRequest, event: RequestEvent, action_id: str | None
) -> TransitionBody:
    return TransitionBody(
        request_id=str(request.pk), event=EventBody(**event_dict(event)), action_id=action_id
    )


def shared_view(request: AssistanceRequest) -> dict[str, Any]:
    """Everything both replicas must agree on (the tests compare it across nodes)."""
    return {
        "id": str(request.pk),
        "reference": request.reference,
        "requesting_node": request.requesting_node,
        "requested_node": request.requested_node,
        "content": content_of(request),
        "state": request.state,
        "version": request.version,
        "conditions": request.conditions,
        "conditions_accepted": request.conditions_accepted,
        "refusal_grounds": request.refusal_grounds,
        "restrictions": request.restrictions,
        **{
            name: _iso(getattr(request, name))
            for name in (
                "created_at",
                "submitted_at",
                "received_at",
                "decided_at",
                "responded_at",
                "ended_at",
                "acknowledge_due",
                "decision_due",
                "response_due",
                "hold_expires",
            )
        },
        "events": [event_dict(e) for e in request.events.order_by("version")],
        "files": [
            {"version": f.version, "name": f.name, "sha256": f.sha256, "size": f.size}
            for f in request.files.order_by("version", "pk")
        ],
    }


# ---------------------------------------------------------------- inbound


def _refusal(reason: str) -> Exception:
    from accord.federation.kinds import Refusal

    return Refusal(reason)


def receive_submit(peer: Peer, body: SubmitBody) -> None:
    """A partner's new request arrives (or a re-submission is confirmed)."""
    node = this_node()
    if body.requesting_node != peer.node_id or body.requested_node != node.node_id:
        raise _refusal("wrong_parties: the request names other nodes")
    if AssistanceRequest.objects.filter(pk=body.request_id).exists():
        raise _refusal("duplicate_request: this request is already here")
    content, problems = parse_request(body.content)
    if problems:
        raise _refusal("invalid_request: " + "; ".join(problems)[:400])
    last = body.events[-1]
    if last.get("action") != "submit" or last.get("version") != body.version:
        raise _refusal("invalid_request: the history must end with its submission")
    request = AssistanceRequest(
        id=uuid.UUID(body.request_id),
        reference=body.reference,
        requesting_node=peer.node_id,
        requested_node=node.node_id,
        peer=peer,
        outgoing=False,
        state=State.SUBMITTED,
        version=body.version,
        created_at=datetime.fromisoformat(body.created_at),
        **_content_fields(content),
    )
    submitted = datetime.fromisoformat(last["at"])
    request.submitted_at = submitted
    request.acknowledge_due = deadlines.acknowledge_due(submitted, request.urgency)
    request.save(force_insert=True)
    for raw in body.events:
        event = _parse_event(raw)
        RequestEvent.objects.create(request=request, **_event_fields(event))
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": "submit", "version": request.version},
    )


def _parse_event(raw: dict[str, Any]) -> EventBody:
    try:
        return EventBody.model_validate(raw)
    except SchemaError as exc:
        raise _refusal("invalid_event: " + "; ".join(schema_messages(exc))[:400]) from None


def _event_fields(event: EventBody) -> dict[str, Any]:
    fields = event.model_dump()
    fields["at"] = datetime.fromisoformat(event.at)
    return fields


def receive_transition(peer: Peer, body: TransitionBody) -> None:
    """The requested node moved the request on (on its own, or confirming ours)."""
    request = _partner_request(peer, body.request_id, outgoing=True)
    event = body.event
    transition = TRANSITIONS.get(event.action)
    if transition is None or transition.local:
        raise _refusal(f"unknown_step: {event.action}")
    if event.version != request.version + 1 or event.from_state != request.state:
        raise _refusal(
            f"version_conflict: at version {request.version} ({request.state}), "
            f"got {event.version} from {event.from_state}"
        )
    if request.state not in transition.sources or request.request_type not in transition.types:
        raise _refusal(f"invalid_step: {event.action} from {request.state}")
    if event.side != transition.side or event.to_state != transition.leaves(request.state):
        raise _refusal("invalid_step: side or target state does not match")
    pending = None
    if transition.side == REQUESTING:
        pending = request.pending_actions.filter(pk=body.action_id or None, outcome="").first()
        if pending is None:
            raise _refusal("invalid_step: a requesting-side step this node did not ask for")
    for ref in event.payload.get("files", []):
        _assemble(request, ref)
    _advance(
        request,
        transition,
        event.payload,
        event.side,
        event.actor_name,
        event.actor_role,
        datetime.fromisoformat(event.at),
    )
    if pending is not None:
        pending.outcome = "applied"
        pending.save(update_fields=["outcome"])
        if transition.action == "convert":
            _follow_up(request, pending.user)
    if transition.action == "restrict_use" and event.payload.get("kind") == RestrictionKind.DELETE:
        deleted = delete_files(request)
        audit.record(
            Actor(label=f"peer:{peer.node_id}"),
            AuditAction.REQUEST_FILES_DELETED,
            request,
            data={"reference": request.reference, "files": deleted},
        )
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": event.action, "version": request.version},
    )


def receive_action(peer: Peer, body: ActionBody) -> None:
    """The requester asks for one of its steps: apply it in order, or say why not."""
    request = _partner_request(peer, body.request_id, outgoing=False)
    request = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
    transition = TRANSITIONS.get(body.action)
    reason = ""
    if transition is None or transition.local or transition.side != REQUESTING:
        reason = f"{body.action} is not a step of the requesting side"
    elif body.actor_role not in transition.roles:
        reason = f"a {body.actor_role} may not take the step {body.action}"
    elif request.state not in transition.sources or request.request_type not in transition.types:
        reason = str(_state_message(request, transition))
    else:
        try:
            payload = transition.payload.model_validate(body.payload).model_dump(mode="json")
        except SchemaError as exc:
            reason = "; ".join(schema_messages(exc))
    if reason:
        federation.enqueue(
            peer,
            ACTION_REFUSED_KIND,
            ActionRefusedBody(
                request_id=body.request_id, action_id=body.action_id, reason=reason[:TEXT]
            ),
        )
        audit.record(
            Actor(label=f"peer:{peer.node_id}"),
            AuditAction.REQUEST_ACTION_REFUSED,
            request,
            data={
                "reference": request.reference,
                "action": body.action,
                "reason": reason,
                "status": 409,
            },
        )
        return
    assert transition is not None
    event = _advance(
        request, transition, payload, REQUESTING, body.actor_name, body.actor_role, timezone.now()
    )
    federation.enqueue(peer, TRANSITION_KIND, transition_body(request, event, body.action_id))
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_RECEIVE,
        request,
        data={"reference": request.reference, "action": body.action, "version": request.version},
    )


def receive_action_refused(peer: Peer, body: ActionRefusedBody) -> None:
    request = _partner_request(peer, body.request_id, outgoing=True)
    pending = request.pending_actions.filter(pk=body.action_id, outcome="").first()
    if pending is None:
        raise _refusal("unknown_action: this node asked for no such step")
    pending.outcome, pending.refusal = "refused", body.reason
    pending.save(update_fields=["outcome", "refusal"])
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.REQUEST_ACTION_REFUSED,
        request,
        data={
            "reference": request.reference,
            "action": pending.action,
            "reason": body.reason,
            "status": 409,
        },
    )


def _partner_request(peer: Peer, request_id: str, *, outgoing: bool) -> AssistanceRequest:
    request = (
        AssistanceRequest.objects.select_for_update()
        .filter(pk=request_id, peer=peer, outgoing=outgoing)
        .first()
    )
    if request is None:
        raise _refusal("unknown_request: no such request shared with this peer")
    return request


def _follow_up(preservation: AssistanceRequest, user: User | None) -> None:
    """Conversion: the preserved data is now asked for in a full request (a draft
    the investigator completes), linked to the preservation."""
    details = preservation.details
    content = {
        **content_of(preservation),
        "request_type": RequestType.STORED_DATA,
        "legal_basis": (
            LegalBasis.BILATERAL
            if preservation.legal_basis == LegalBasis.BILATERAL
            else LegalBasis.BUDAPEST_31
        ),
        "details": {
            "measure": "disclosure",
            "data_description": details.get("data_to_preserve", ""),
            "location": details.get("custodian", ""),
            "risk_of_loss": True,
        },
    }
    author = user if user and user.role == Role.INVESTIGATOR else preservation.created_by
    actor = Actor.of(author) if author else Actor.system("conversion")
    create_request(actor, preservation.peer, content, follows=preservation)


# ---------------------------------------------------------------- clock


@dataclass
class TickResult:
    lapsed: int = 0
    reminders: int = 0


def tick(now: datetime | None = None) -> TickResult:
    """What time alone changes: preservation holds lapse when their time is up,
    and deadline reminders go out at 50 %, 80 % and 100 %."""
    from accord.assistance.reminders import retry_emails, send_reminders

    now = now or timezone.now()
    result = TickResult()
    holding = (State.PRESERVED, State.EXTENDED, State.CONVERTED)
    expired = AssistanceRequest.objects.filter(
        outgoing=False, state__in=holding, hold_expires__lte=now
    )
    for request in expired:
        with transaction.atomic():
            locked = AssistanceRequest.objects.select_for_update().get(pk=request.pk)
            if locked.state not in holding:
                continue
            if locked.hold_expires is None or locked.hold_expires > now:
                continue
            _apply_local(Actor.system("clock"), locked, TRANSITIONS["lapse"], {}, "", at=now)
            result.lapsed += 1
    round_started = timezone.now()
    result.reminders = send_reminders(now)
    retry_emails(round_started)
    return result


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class Filters:
    direction: str = ""  # incoming / outgoing
    state: str = ""
    request_type: str = ""
    urgency: str = ""
    overdue: bool = False
    topic: str = ""  # an offence category
    search: str = ""


def list_requests(
    actor: Actor, filters: Filters, *, ip: str = "", now: datetime | None = None
) -> Any:
    """The requests the actor may list, filtered. Confidential requests appear
    only for those with need-to-know (AssistanceRequest.restriction)."""
    require(actor, Permission.VIEW_REQUESTS, what="list_requests", ip=ip)
    now = now or timezone.now()
    rows = visible(actor.user, "list") if actor.user else AssistanceRequest.objects.all()
    rows = rows.distinct().select_related("peer")
    if filters.direction in ("incoming", "outgoing"):
        rows = rows.filter(outgoing=filters.direction == "outgoing")
    if filters.state:
        rows = rows.filter(state=filters.state)
    if filters.request_type:
        rows = rows.filter(request_type=filters.request_type)
    if filters.urgency:
        rows = rows.filter(urgency=filters.urgency)
    if filters.overdue:
        rows = rows.exclude(state__in=FINAL_STATES).filter(overdue_condition(now))
    if filters.search:
        term = filters.search.strip()[:100]
        rows = rows.filter(
            Q(reference__icontains=term)
            | Q(summary__icontains=term)
            | Q(requesting_authority__icontains=term)
        )
    if filters.topic:
        # JSON containment differs between SQLite and PostgreSQL: filter in Python.
        ids = [r.pk for r in rows if any(o.get("category") == filters.topic for o in r.offences)]
        rows = rows.filter(pk__in=ids)
    return rows


def overdue_condition(now: datetime) -> Q:
    return (
        Q(received_at__isnull=True, acknowledge_due__lt=now)
        | Q(decided_at__isnull=True, decision_due__lt=now)
        | Q(responded_at__isnull=True, response_due__lt=now)
        | Q(hold_expires__lt=now, state__in=(State.PRESERVED, State.EXTENDED))
    )


def audit_list(actor: Actor, count: int, filters: Filters, ip: str = "") -> None:
    audit.record(
        actor,
        AuditAction.REQUEST_LIST,
        target_type="assistance.request",
        data={"count": count, "filters": {k: v for k, v in filters.__dict__.items() if v}},
        ip=ip,
    )


def metrics_for(actor: Actor, *, ip: str = "", now: datetime | None = None) -> dict[str, Any]:
    from accord.assistance.metrics import compute

    require(actor, Permission.VIEW_REQUESTS, what="assistance_metrics", ip=ip)
    rows = visible(actor.user, "list") if actor.user else AssistanceRequest.objects.all()
    return compute(rows.distinct(), now or timezone.now())
