"""The rules of hit/no-hit that people act through: a peer's policy, asking,
approving or declining an incoming query, and asking for the details of a
hit (Prüm's second step: an ordinary assistance request). Each function
checks the actor's permission (`policy.allowed`), changes state, audits and
queues its messages in one transaction; every refusal is audited and
survives the refusal (`audit.refusals_kept`).

What arrives from peers is handled in `answering` and `asking`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from uuid6 import uuid7

from accord.assistance import services as assistance
from accord.assistance.models import AssistanceRequest
from accord.assistance.types import OffenceCategory
from accord.cases.models import Case, Observable
from accord.cases.observables import observable_types
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.federation import services as federation
from accord.federation.models import Peer
from accord.matching import answering, outgoing, policy
from accord.matching.models import (
    PURPOSE,
    REASON,
    Hit,
    MatchingPolicy,
    Query,
    QueryStatus,
)
from accord.matching.policy import MatchingRefused
from accord.matching.wire import REFUSED_KIND, RefusedBody

MAX_LIMIT = 1_000_000


@audit.refusals_kept()
def set_policy(
    actor: Actor,
    peer: Peer,
    *,
    types: list[str],
    max_values: int,
    per_day: int,
    needs_approval: bool,
    ip: str = "",
) -> MatchingPolicy:
    """What `peer` may ask this node (docs/matching.md 3)."""
    enforce(actor, policy.SET_POLICY, peer, ip)
    known = {kind.code for kind in observable_types()}
    unknown = sorted(set(types) - known)
    problems = []
    if unknown:
        problems.append(_("Unknown observable type: %(t)s.") % {"t": ", ".join(unknown)})
    if not 1 <= max_values <= MAX_LIMIT or not 1 <= per_day <= MAX_LIMIT:
        problems.append(_("The limits are whole numbers from 1 to %(n)s.") % {"n": MAX_LIMIT})
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        row, _created = MatchingPolicy.objects.update_or_create(
            peer=peer,
            defaults={
                "types": sorted(set(types)),
                "max_values": max_values,
                "per_day": per_day,
                "needs_approval": needs_approval,
                "updated_by": actor.user,
            },
        )
        audit.record(
            actor,
            AuditAction.MATCHING_POLICY,
            row,
            data={
                "peer": peer.node_id,
                "types": row.types,
                "max_values": max_values,
                "per_day": per_day,
                "needs_approval": needs_approval,
            },
            ip=ip,
        )
    return row


@audit.refusals_kept()
def ask(
    actor: Actor,
    case: Case,
    peers: list[Peer] | None,
    purpose: str,
    observable_ids: list[int] | None = None,
    *,
    ip: str = "",
) -> list[Query]:
    """Ask each peer which of the case's values (all, or the chosen ones) it
    holds: one query per (peer, observable type), sent at once, all under one
    ask id, so the results read per answering agency. `peers` None: every
    partner the policy allows this user to ask (`policy.askable`); a chosen
    peer the policy does not allow refuses the whole ask (audited)."""
    enforce(actor, policy.ASK, case, ip)
    if peers is None:
        peers = policy.askable(actor.user)
    for peer in peers:
        refusal = policy.peer_refusal(actor.user, peer)
        if refusal is not None:
            refuse(actor, peer, policy.ASK, refusal.reason, refusal.status, ip)
    purpose = purpose.strip()
    rows = _chosen(case, observable_ids)
    problems = []
    if not 1 <= len(purpose) <= PURPOSE:
        problems.append(_("Say why you ask, in at most %(n)s characters.") % {"n": PURPOSE})
    if not peers:
        problems.append(_("Choose at least one partner node to ask."))
    if not rows:
        problems.append(_("The case holds none of these values: there is nothing to ask."))
    if problems:
        raise ValidationError(problems)
    by_code: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_code[row.code].append(f"{row.code}:{row.normal}")
    fan_out = uuid7()
    with transaction.atomic():
        return [
            outgoing.send(actor, case, peer, code, values, purpose, fan_out=fan_out, ip=ip)
            for peer in peers
            for code, values in sorted(by_code.items())
        ]


def _chosen(case: Case, observable_ids: list[int] | None) -> list[Observable]:
    rows = Observable.objects.filter(case=case)
    if observable_ids is None:
        return list(rows)
    chosen = list(rows.filter(pk__in=set(observable_ids)))
    if len(chosen) != len(set(observable_ids)):
        raise ValidationError(_("Some of the chosen values are not in this case."))
    return chosen


@audit.refusals_kept()
def approve(actor: Actor, query: Query, *, ip: str = "") -> Query:
    """The central authority lets a waiting query be answered: every part
    received so far is answered now, the rest as they arrive."""
    with transaction.atomic():
        federation.lock_peer(query.peer)
        locked = _locked(actor, query, ip)
        locked.status, locked.decided_by = QueryStatus.ANSWERED, actor.user
        locked.save(update_fields=["status", "decided_by"])
        audit.record(
            actor, AuditAction.MATCHING_APPROVE, locked, data=answering.describe(locked), ip=ip
        )
        answering.answer_waiting(locked)
    return locked


@audit.refusals_kept()
def decline(actor: Actor, query: Query, reason: str, *, ip: str = "") -> Query:
    """The central authority declines a waiting query; the asker is told why."""
    reason = reason.strip()
    if not 1 <= len(reason) <= REASON:
        raise ValidationError(_("Say why the query is declined."))
    with transaction.atomic():
        federation.lock_peer(query.peer)
        locked = _locked(actor, query, ip)
        locked.received_parts.all().delete()
        locked.status, locked.refusal, locked.decided_by = QueryStatus.DECLINED, reason, actor.user
        locked.save(update_fields=["status", "refusal", "decided_by"])
        federation.publish(
            actor,
            locked.peer,
            REFUSED_KIND,
            RefusedBody(query=str(locked.pk), reason=f"declined: {reason}", limit=0),
            action=AuditAction.MATCHING_DECLINE,
            target=locked,
            data={**answering.describe(locked), "reason": reason},
            ip=ip,
        )
    return locked


def _locked(actor: Actor, query: Query, ip: str) -> Query:
    locked = Query.objects.select_for_update().get(pk=query.pk)
    enforce(actor, policy.APPROVE, locked, ip)
    return locked


@audit.refusals_kept()
def request_details(actor: Actor, hit: Hit, *, ip: str = "") -> AssistanceRequest:
    """Prüm's second step: a DRAFT assistance request to the hit's peer,
    pre-filled with the hit's reference, the matched value and the case, filed
    under the case. The officer completes and submits it as any request."""
    enforce(actor, policy.REQUEST_DETAILS, hit, ip)
    query = hit.query
    case = query.case
    assert case is not None  # policy.allowed refuses a hit without a case
    value = hit.observable.display if hit.observable else _("(the value was removed)")
    text = _(
        "Hit/no-hit check %(query)s of case %(case)s found that your node holds %(type)s "
        "%(value)s (your reference: %(ref)s). We ask for the details you hold about it."
    ) % {
        "query": query.pk,
        "case": case.reference,
        "type": query.code,
        "value": value,
        "ref": hit.reference,
    }
    node = this_node()
    data: dict[str, Any] = {
        "request_type": "general_evidence",
        "legal_basis": "bilateral",
        "requesting_authority": node.agency or node.node_id,
        "central_authority": node.agency or node.node_id,
        "offences": [_offence(case)],
        "summary": text,
        "purpose": query.purpose,
        "signer": actor.user.get_full_name() or actor.user.username if actor.user else "-",
        "language": request_language(),
        "details": {
            "measures": ["records"],
            "persons_and_places": text,
            "questions": _("Who holds or used %(value)s, and since when?") % {"value": value},
        },
    }
    with transaction.atomic():
        request = assistance.create_request(actor, query.peer, data, ip=ip)
        hit.request = request
        hit.save(update_fields=["request"])
        if policy.allowed(actor.user, policy.VIEW, case) is None:
            _link(actor, request, case, ip)
        audit.record(
            actor,
            AuditAction.MATCHING_DETAILS,
            hit,
            data={"hit": hit.reference, "request": request.reference, "case": case.reference},
            ip=ip,
        )
    return request


def request_language() -> str:
    """The language the draft is written in: the user's (its text comes from
    gettext above), named as a request names its language (`en`, `zh-hans`:
    assistance.rules.RequestInput); any Chinese is written in the simplified
    catalogue, anything else in English."""
    current = (translation.get_language() or "en").lower()
    return "zh-hans" if current.startswith("zh") else "en"


def _link(actor: Actor, request: AssistanceRequest, case: Case, ip: str) -> None:
    from accord.cases import policy as cases_policy

    if cases_policy.allowed(actor.user, cases_policy.OBSERVE, case) is None:
        assistance.link_case(actor, request, case, ip=ip)


def _offence(case: Case) -> dict[str, Any]:
    category = next(
        (c for c in case.categories if c in OffenceCategory.values), OffenceCategory.FRAUD
    )
    return {
        "label": str(OffenceCategory(category).label),
        "statute": _("to be completed"),
        "max_penalty_years": 0,
        "category": category,
    }


def enforce(actor: Actor, action: str, obj: object, ip: str) -> None:
    refusal = policy.allowed(actor.user, action, obj)
    if refusal is not None:
        refuse(actor, obj, action, refusal.reason, refusal.status, ip)


def refuse(actor: Actor, obj: object, action: str, reason: str, status: int, ip: str) -> NoReturn:
    """Refuse, audited: the record survives the transaction it is raised in."""
    target = obj if isinstance(obj, (Query, Hit, Case, Peer)) else None
    entry = audit.make_entry(
        actor,
        AuditAction.MATCHING_REFUSED,
        target,
        target_type="" if target else "matching",
        data={"action": action, "reason": str(reason), "status": status},
        ip=ip,
    )
    audit.refuse(entry, MatchingRefused(str(reason), status))
