"""The provider asks how its material was used; the receiver answers
(DOMAIN.md, "Evidence and custody"). Both are recorded on both nodes: the
question and its answer are one `UseQuestion`, with the same id on each side,
and each step is audited where it happens and where it arrives.

Between nodes (to be carried by evidence.* messages, see docs/evidence.md):
`question_message` / `receive_question` for evidence.use-question (providing
node to receiving node), `answer_message` / `receive_answer` for
evidence.use-answer (back). The `receive_*` functions are for the inbound
handler: they trust the peer only for items it provided or received."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.policy import CONFLICT, UNPROCESSABLE
from accord.core.roles import Role
from accord.evidence import conditions, conditions_wire, policy, services
from accord.evidence.models import EvidenceItem, UseQuestion

TEXT = 5000
ASK = "ask_use"
ANSWER = "answer_use"


def may_ask(user: Any, item: EvidenceItem) -> str | None:
    """None if `user` may ask the partner how this item was used, else why not:
    the central authority of the node that provided it (as it restricts use)."""
    if policy.allowed(user, policy.VIEW, item) is not None:
        return _("You are not on the team of this item's case or request.")
    if user is not None and user.role != Role.CENTRAL_AUTHORITY:
        return _("Only the central authority asks how provided material was used.")
    if item.request_id is None or conditions.from_partner(item):
        return _("Only the node that provided an item asks how it was used.")
    return None


def may_answer(user: Any, question: UseQuestion) -> str | None:
    item = question.item
    if policy.allowed(user, policy.VIEW, item) is not None:
        return _("You are not on the team of this item's case or request.")
    if user is not None and user.role == Role.AUDITOR:
        return _("Auditors read evidence; they do not change it.")
    if not conditions.from_partner(item):
        return _("The node that received the item answers the question.")
    if question.answered_at is not None:
        return _("This question is answered already.")
    return None


@audit.refusals_kept()
def ask_use(actor: Actor, item: EvidenceItem, question: str, *, ip: str = "") -> UseQuestion:
    text = services.clean_text(question).strip()
    if not text or len(text) > TEXT:
        message = _("Write the question (at most %(n)s characters).") % {"n": TEXT}
        services.refuse(actor, item, ASK, message, UNPROCESSABLE, ip)
    with transaction.atomic():
        conditions_wire.lock_channel(item)
        locked = EvidenceItem.objects.select_for_update().get(pk=item.pk)
        why = may_ask(actor.user, locked)
        if why is not None:
            services.refuse(actor, locked, ASK, why, 403, ip)
        row = UseQuestion.objects.create(
            id=uuid.uuid4(),
            item=locked,
            asked_node=this_node().node_id,
            question=text,
            asked_by=services.actor_name(actor),
            asked_at=timezone.now(),
        )
        audit.record(
            actor,
            AuditAction.EVIDENCE_USE_ASKED,
            locked,
            data={**services.container(locked), "question": str(row.pk)},
            ip=ip,
        )
        body = conditions_wire.UseQuestionBody(**question_message(row))
        conditions_wire.send(locked, conditions_wire.USE_QUESTION_KIND, body)
    return row


@audit.refusals_kept()
def answer_use(actor: Actor, question: UseQuestion, answer: str, *, ip: str = "") -> UseQuestion:
    text = services.clean_text(answer).strip()
    if not text or len(text) > TEXT:
        message = _("Write the answer (at most %(n)s characters).") % {"n": TEXT}
        services.refuse(actor, question.item, ANSWER, message, UNPROCESSABLE, ip)
    with transaction.atomic():
        conditions_wire.lock_channel(question.item)
        locked = UseQuestion.objects.select_for_update().select_related("item").get(pk=question.pk)
        why = may_answer(actor.user, locked)
        if why is not None:
            status = CONFLICT if locked.answered_at else 403
            services.refuse(actor, locked.item, ANSWER, why, status, ip)
        locked.answer, locked.answered_by = text, services.actor_name(actor)
        locked.answered_at = timezone.now()
        locked.save(update_fields=["answer", "answered_by", "answered_at"])
        audit.record(
            actor,
            AuditAction.EVIDENCE_USE_ANSWERED,
            locked.item,
            data={**services.container(locked.item), "question": str(locked.pk)},
            ip=ip,
        )
        body = conditions_wire.UseAnswerBody(**answer_message(locked))
        conditions_wire.send(locked.item, conditions_wire.USE_ANSWER_KIND, body)
    return locked


# ---------------------------------------------------------------- between nodes


def question_message(question: UseQuestion) -> dict[str, Any]:
    """The body of an evidence.use-question message."""
    return {
        "question_id": str(question.pk),
        "item_id": str(question.item_id),
        "sha256": question.item.sha256,
        "question": question.question,
        "asked_by": question.asked_by,
        "asked_at": question.asked_at.isoformat(),
    }


def answer_message(question: UseQuestion) -> dict[str, Any]:
    """The body of an evidence.use-answer message."""
    return {
        "question_id": str(question.pk),
        "item_id": str(question.item_id),
        "answer": question.answer,
        "answered_by": question.answered_by,
        "answered_at": question.answered_at.isoformat() if question.answered_at else "",
    }


def receive_question(peer_node: str, body: dict[str, Any]) -> UseQuestion:
    """Record a question from the node that provided the item (idempotent:
    the same question twice is one row). Call inside the inbound transaction."""
    item = EvidenceItem.objects.get(pk=body["item_id"], sha256=body["sha256"])
    if item.request is None or not conditions.from_partner(item):
        raise ValueError("the peer did not provide this item")
    if item.request.peer.node_id != peer_node:
        raise ValueError("the peer did not provide this item")
    row, created = UseQuestion.objects.get_or_create(
        pk=uuid.UUID(str(body["question_id"])),
        defaults={
            "item": item,
            "asked_node": peer_node,
            "question": services.clean_text(body["question"])[:TEXT],
            "asked_by": str(body["asked_by"])[:200],
            "asked_at": datetime.fromisoformat(str(body["asked_at"])),
        },
    )
    if created:
        audit.record(
            Actor(label=f"peer:{peer_node}"),
            AuditAction.EVIDENCE_USE_ASKED,
            item,
            data={**services.container(item), "question": str(row.pk)},
        )
    return row


def receive_answer(peer_node: str, body: dict[str, Any]) -> UseQuestion:
    """Record the answer to a question this node asked (the first answer stays)."""
    row = UseQuestion.objects.select_for_update().get(
        pk=body["question_id"], item_id=body["item_id"], asked_node=this_node().node_id
    )
    if row.item.request is None or row.item.request.peer.node_id != peer_node:
        raise ValueError("the question was not asked of this peer")
    if row.answered_at is None:
        row.answer = services.clean_text(body["answer"])[:TEXT]
        row.answered_by = str(body["answered_by"])[:200]
        row.answered_at = datetime.fromisoformat(str(body["answered_at"]))
        row.save(update_fields=["answer", "answered_by", "answered_at"])
        audit.record(
            Actor(label=f"peer:{peer_node}"),
            AuditAction.EVIDENCE_USE_ANSWERED,
            row.item,
            data={**services.container(row.item), "question": str(row.pk)},
        )
    return row


__all__ = ["answer_use", "ask_use", "receive_answer", "receive_question"]
