"""The follow-up of a converted preservation: once the partner confirms the
conversion, the preserved data is asked for in a full request (Budapest
Art. 29(7)), a draft linked to the preservation that an investigator completes.

Drafting is local work that can fail for reasons of this node alone (its
author has left, the partner was removed), so it never runs inside the
conversion's own transaction. It is tried twice over, so that it is never lost:
at once, when the conversion is committed (`draft_follow_up`, from the inbound
handler's `on_commit`), and by the clock (`sweep`), which finds every converted
preservation still without its follow-up, such as one whose process died
between the commit and the callback. Both lock the preservation and look again
under the lock, so however they race there is never a second draft."""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from accord.assistance import policy
from accord.assistance.models import AssistanceRequest, State
from accord.assistance.rules import OPTIONAL_CONTENT_FIELDS
from accord.assistance.services import create_request
from accord.assistance.types import LegalBasis, RequestType
from accord.assistance.wire import content_of
from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.clockwork import Round
from accord.core.models import AuditEvent, User
from accord.core.roles import Role

log = logging.getLogger(__name__)


@dataclass
class Drafting:
    """One attempt: the draft made, if any, and why each author could not."""

    preservation: AssistanceRequest
    drafted: AssistanceRequest | None = None
    problems: list[str] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)


def awaiting() -> QuerySet[AssistanceRequest]:
    """The preservations this node asked for, converted, that planned a full
    request and have none yet."""
    follower = AssistanceRequest.objects.filter(follows=OuterRef("pk"))
    return AssistanceRequest.objects.filter(
        outgoing=True,
        request_type=RequestType.PRESERVATION,
        state=State.CONVERTED,
        details__full_request_follows=True,
    ).exclude(Exists(follower))


def draft_follow_up(preservation_id: uuid.UUID) -> AssistanceRequest | None:
    """Draft at once, when the partner's confirmation of the conversion is
    committed. Returns the draft, or None when there is nothing to draft (the
    clock drafted it first) or nobody could (audited; the clock tries again)."""
    with transaction.atomic():
        drafting = _draft(preservation_id)
        if drafting is not None:
            _report(drafting)
    return drafting.drafted if drafting else None


def sweep(work: Round) -> int:
    """The clock's part: draft every follow-up still missing, each on its own
    (an item that fails stops nothing else). Returns how many were drafted.
    One that nobody may draft is tried again each round, audited only when
    the reasons change."""
    drafted = 0
    for preservation in awaiting().order_by("created_at"):
        job = functools.partial(draft_follow_up, preservation.pk)
        item = f"follow-up:{preservation.pk}"
        made = work.run(item, "follow_up", preservation, preservation.reference, job)
        drafted += made is not None
    return drafted


def _draft(preservation_id: uuid.UUID) -> Drafting | None:
    """Lock the preservation, look again, and draft as the first author who
    may. None when there is nothing (left) to draft."""
    preservation = AssistanceRequest.objects.select_for_update().get(pk=preservation_id)
    if not awaiting().filter(pk=preservation.pk).exists():
        return None
    drafting = Drafting(preservation)
    content = _follow_up_content(preservation)
    for author in _follow_up_authors(preservation):
        refusal = policy.allowed(author, policy.CREATE)
        if refusal is not None:
            drafting.problems.append(f"{author.username}: {refusal.reason}")
            continue
        try:
            drafting.drafted = create_request(
                Actor.of(author), preservation.peer, content, follows=preservation
            )
            break
        except Exception as exc:  # this node's own trouble: noted, the next author tries
            drafting.problems.append(f"{author.username}: {exc}")
            drafting.errors.append(exc)
    return drafting


def _report(drafting: Drafting) -> None:
    """Whenever the planned author could not draft, or nobody could, the
    officers are told (REQUEST_FOLLOW_UP_FAILED) so that they can, if need be,
    draft the request by hand; the same failure is not told twice."""
    preservation, drafted = drafting.preservation, drafting.drafted
    if drafted is not None and not drafting.problems:
        return
    problems = drafting.problems or [_("No investigator on its team may draft it.")]
    reference = preservation.reference
    if drafted is None and problems == _last_problems(preservation):
        log.warning("follow-up of %s still not drafted: %s", reference, "; ".join(problems))
        return
    last = drafting.errors[-1] if drafting.errors else None
    log.error("follow-up of %s not drafted as planned: %s", reference, problems, exc_info=last)
    audit.record(
        Actor.system("conversion"),
        AuditAction.REQUEST_FOLLOW_UP_FAILED,
        preservation,
        data={
            "reference": reference,
            "problems": problems,
            "follow_up": drafted.reference if drafted else "",
            "author": drafted.created_by.username if drafted and drafted.created_by else "",
        },
    )


def _last_problems(preservation: AssistanceRequest) -> list[str] | None:
    """The reasons last audited for this preservation's follow-up."""
    last = (
        AuditEvent.objects.filter(
            action=AuditAction.REQUEST_FOLLOW_UP_FAILED, target_id=str(preservation.pk)
        )
        .order_by("-seq")
        .first()
    )
    return last.data.get("problems") if last else None


def _follow_up_authors(preservation: AssistanceRequest) -> list[User]:
    """Who may draft a follow-up, in order: the preservation's author, then the
    other investigators on its team, longest-standing account first. Not the
    central authority who converted it: only investigators draft requests."""
    first = [preservation.created_by] if preservation.created_by else []
    team = preservation.team.filter(role=Role.INVESTIGATOR).order_by("pk")
    return [*first, *(user for user in team if user not in first)]


def _follow_up_content(preservation: AssistanceRequest) -> dict[str, Any]:
    details = preservation.details
    # The informal first contact was the preservation's: the follow-up is a
    # request of its own, with no confirmation of its own to wait for.
    content = {
        key: value
        for key, value in content_of(preservation).items()
        if key not in OPTIONAL_CONTENT_FIELDS
    }
    return {
        **content,
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
