"""Pages of the dialogue record: thin, every change through services, every
offered action asked of the policy."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import this_node
from accord.core.indicators import all_indicators
from accord.core.models import User
from accord.core.policy import Refused, offered
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.dialogue import export, progress
from accord.dialogue.forms import CommitmentForm
from accord.dialogue.models import Commitment, Dialogue, Disagreement, Outcome, Round
from accord.dialogue.participants import co_chairs, labels
from accord.dialogue.policy import Action, allowed
from accord.dialogue.services import commitments, dialogues, disagreements, outcomes, signers
from accord.dialogue.signing import missing, parties, required_signers, signed_by, status_of
from accord.dialogue.types import (
    CommitmentStatus,
    DelegationRole,
    DisagreementStatus,
    Topic,
    Track,
)
from accord.federation.models import Peer
from accord.web.actions import act, attempt
from accord.web.guards import permission_required, signed_in_user

DELEGATION_ROWS = 8


def actor_of(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


def restricted(model: Any, request: HttpRequest, pk: UUID) -> Any:
    return get_object_or_404(model.objects.restrict(request.user), pk=pk)


def _may(user: User, action: Action, obj: Any = None) -> bool:
    return offered(allowed(user, action, obj))


# ---------------------------------------------------------------- pages


@permission_required(Permission.VIEW_DIALOGUE)
def home(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    followed = Dialogue.objects.restrict(request.user).select_related("peer")
    owed = list(Commitment.objects.restrict(request.user).select_related("outcome__round"))
    measured = [(c, progress.commitment_progress(c, today)) for c in owed]
    rows = [(c, m, progress.standing(c, m)) for c, m in measured]
    context = {
        "tracks": [
            (label, [d for d in followed if d.track == value]) for value, label in Track.choices
        ],
        "rounds": Round.objects.restrict(request.user).select_related("dialogue").order_by("date"),
        "commitments": rows,
        "overdue": sum(1 for _c, _m, standing in rows if standing == "overdue"),
        "open_disagreements": Disagreement.objects.restrict(request.user)
        .exclude(status=DisagreementStatus.RESOLVED)
        .count(),
        "period": progress.period(today),
        "may_create": _may(signed_in_user(request), Action.CREATE_DIALOGUE),
        "peers": Peer.objects.filter(active=True),
        "track_choices": Track.choices,
    }
    return render(request, "dialogue/home.html", context)


@permission_required(Permission.VIEW_DIALOGUE)
def detail(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = restricted(Dialogue, request, dialogue_id)
    user = signed_in_user(request)
    return render(request, "dialogue/detail.html", detail_context(dialogue, user))


def _outcome_row(
    user: User, outcome: Outcome, sides: tuple[str, ...], names: dict[str, str]
) -> dict[str, Any]:
    versions = list(outcome.versions.order_by("-version").prefetch_related("signatures"))
    latest = versions[0] if versions else None
    required = required_signers(outcome.round)
    return {
        "o": outcome,
        "latest": latest,
        "older": versions[1:],
        "status": status_of(latest, required) if latest else "unsigned",
        "awaiting": [names.get(n, n) for n in missing(latest, required)] if latest else [],
        "signed_here": latest is not None and signed_by(latest, this_node().node_id),
        "may_sign": latest is not None and _may(user, Action.SIGN_OUTCOME, latest),
        "may_amend": _may(user, Action.AMEND_OUTCOME, outcome),
        "may_commit": _may(user, Action.CREATE_COMMITMENT, outcome),
        "commitment_form": CommitmentForm(sides, names, prefix_id=str(outcome.pk)),
    }


def detail_context(dialogue: Dialogue, user: User) -> dict[str, Any]:
    sides = parties(dialogue)
    names = labels(dialogue)
    today = timezone.now().date()
    found = Outcome.objects.filter(round__dialogue=dialogue).select_related("round")
    items = dialogue.disagreements.prefetch_related("positions", "history")
    return {
        "d": dialogue,
        "here": this_node().node_id,
        "sides": sides,
        "names": names,
        "agencies": [names[side] for side in sides],
        "rounds": dialogue.rounds.order_by("number").prefetch_related("delegates"),
        "outcomes": [_outcome_row(user, outcome, sides, names) for outcome in found],
        "commitments": [
            (c, m, progress.standing(c, m), _may(user, Action.REPORT_COMMITMENT, c))
            for c, m in (
                (c, progress.commitment_progress(c, today))
                for c in Commitment.objects.filter(outcome__round__dialogue=dialogue)
            )
        ],
        "disagreements": [
            (
                x,
                {
                    "position": _may(user, Action.STATE_POSITION, x),
                    "status": _may(user, Action.SET_DISAGREEMENT_STATUS, x),
                },
            )
            for x in items
        ],
        "may_add_round": _may(user, Action.SAVE_ROUND, dialogue),
        "may_open_disagreement": _may(user, Action.OPEN_DISAGREEMENT, dialogue),
        "topics": Topic.choices,
        "statuses": DisagreementStatus.choices,
        "commitment_statuses": CommitmentStatus.choices,
        "indicators": all_indicators(),
        "roles": DelegationRole.choices,
        "delegation_rows": range(DELEGATION_ROWS),
        "today": today,
        "signer": signers.profile_of(Actor.of(user)),
    }


@permission_required(Permission.VIEW_DIALOGUE)
def round_page(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = restricted(Round, request, round_id)
    user = signed_in_user(request)
    own = list(round_.delegates.filter(node=this_node().node_id))
    rows = own + [None] * max(0, DELEGATION_ROWS - len(own))
    base = detail_context(round_.dialogue, user)
    context = {
        **base,
        "r": round_,
        "co_chairs": co_chairs(round_),
        "round_outcomes": [row for row in base["outcomes"] if row["o"].round_id == round_.pk],
        "own_rows": rows,
        "may_delegate": _may(user, Action.SET_DELEGATION, round_),
        "may_propose": _may(user, Action.PROPOSE_OUTCOME, round_),
    }
    return render(request, "dialogue/round.html", context)


@permission_required(Permission.VIEW_DIALOGUE)
def export_view(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = restricted(Dialogue, request, dialogue_id)
    document = export.export_dialogue(dialogue)
    audit.record(
        actor_of(request),
        AuditAction.DIALOGUE_EXPORT,
        dialogue,
        ip=client_ip(request),
        data={"what": "export"},
    )
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="dialogue-{dialogue.pk}.json"'
    return response


# ---------------------------------------------------------------- changes


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def create(request: HttpRequest) -> HttpResponse:
    wanted = [request.POST.get("peer", ""), *request.POST.getlist("peers")]
    found = {p.node_id: p for p in Peer.objects.filter(node_id__in=wanted, active=True)}
    peers = [found[node] for node in dict.fromkeys(wanted) if node in found]
    created: list[Dialogue] = []

    def change() -> None:
        if not peers or len(peers) < len(set(wanted) - {""}):
            raise ValidationError(_("Choose an active partner node."))
        post = request.POST
        created.append(
            dialogues.create_dialogue(
                actor_of(request),
                peers,
                post.get("track", ""),
                post.get("title_en", ""),
                post.get("title_zh", ""),
                ip=client_ip(request),
            )
        )

    if attempt(request, change, _("Dialogue created.")):
        return redirect("dialogue:detail", dialogue_id=created[0].pk)
    return redirect("dialogue:home")


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def round_save(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = restricted(Dialogue, request, dialogue_id)
    post = request.POST
    existing = None
    if post.get("round_id"):
        existing = get_object_or_404(Round, pk=post["round_id"], dialogue=dialogue)
    data = {
        "number": post.get("number"),
        "date": post.get("date"),
        "venue_en": post.get("venue_en", ""),
        "venue_zh": post.get("venue_zh", ""),
        "topics": post.getlist("topics"),
        "documents": [
            {"title": t, "reference": ref}
            for t, ref in zip(
                post.getlist("doc_title"), post.getlist("doc_reference"), strict=False
            )
        ],
    }
    return act(
        request,
        lambda: dialogues.save_round(
            actor_of(request), dialogue, data, round_=existing, ip=client_ip(request)
        ),
        done=_("Round saved."),
        to="dialogue:detail",
        dialogue_id=dialogue.pk,
    )


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def delegation(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = restricted(Round, request, round_id)
    post = request.POST
    rows = zip(post.getlist("role"), post.getlist("name"), post.getlist("title"), strict=False)
    entries = [{"role": role, "name": name, "title": title} for role, name, title in rows]
    return act(
        request,
        lambda: dialogues.set_delegation(actor_of(request), round_, entries, ip=client_ip(request)),
        done=_("Your delegation is saved."),
        to="dialogue:round",
        round_id=round_.pk,
    )


@require_POST
@permission_required(Permission.SIGN_OUTCOMES)
def propose(request: HttpRequest, round_id: UUID) -> HttpResponse:
    round_ = restricted(Round, request, round_id)
    post = request.POST
    return act(
        request,
        lambda: outcomes.propose_outcome(
            actor_of(request),
            round_,
            post.get("topic", ""),
            post.get("text_en", ""),
            post.get("text_zh", ""),
            post.get("signer_title", ""),
            ip=client_ip(request),
        ),
        done=_("Outcome proposed and signed for this node."),
        to="dialogue:round",
        round_id=round_.pk,
    )


@require_POST
@permission_required(Permission.SIGN_OUTCOMES)
def amend(request: HttpRequest, outcome_id: UUID) -> HttpResponse:
    outcome = restricted(Outcome, request, outcome_id)
    post = request.POST
    return act(
        request,
        lambda: outcomes.amend_outcome(
            actor_of(request),
            outcome,
            post.get("text_en", ""),
            post.get("text_zh", ""),
            post.get("signer_title", ""),
            ip=client_ip(request),
        ),
        done=_("New version proposed; it needs both signatures again."),
        to="dialogue:detail",
        dialogue_id=outcome.round.dialogue_id,
    )


@require_POST
@permission_required(Permission.SIGN_OUTCOMES)
def sign(request: HttpRequest, outcome_id: UUID) -> HttpResponse:
    outcome = restricted(Outcome, request, outcome_id)
    post = request.POST
    try:
        number = int(post.get("version", ""))
    except ValueError:
        number = 0
    return act(
        request,
        lambda: outcomes.sign_outcome(
            actor_of(request), outcome, number, post.get("signer_title", ""), ip=client_ip(request)
        ),
        done=_("Signed for this node."),
        to="dialogue:detail",
        dialogue_id=outcome.round.dialogue_id,
    )


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def disagreement(request: HttpRequest, dialogue_id: UUID) -> HttpResponse:
    dialogue = restricted(Dialogue, request, dialogue_id)
    post = request.POST
    round_ = dialogue.rounds.filter(pk=post.get("round_id") or None).first()
    return act(
        request,
        lambda: disagreements.open_disagreement(
            actor_of(request),
            dialogue,
            post.get("topic", ""),
            post.get("issue_en", ""),
            post.get("issue_zh", ""),
            round_,
            ip=client_ip(request),
        ),
        done=_("Disagreement recorded."),
        to="dialogue:detail",
        dialogue_id=dialogue.pk,
    )


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def position(request: HttpRequest, disagreement_id: UUID) -> HttpResponse:
    item = restricted(Disagreement, request, disagreement_id)
    post = request.POST
    return act(
        request,
        lambda: disagreements.state_position(
            actor_of(request),
            item,
            post.get("text_en", ""),
            post.get("text_zh", ""),
            ip=client_ip(request),
        ),
        done=_("Your side's position is recorded."),
        to="dialogue:detail",
        dialogue_id=item.dialogue_id,
    )


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def disagreement_status(request: HttpRequest, disagreement_id: UUID) -> HttpResponse:
    item = restricted(Disagreement, request, disagreement_id)
    post = request.POST
    return act(
        request,
        lambda: disagreements.set_disagreement_status(
            actor_of(request),
            item,
            post.get("status", ""),
            post.get("note", ""),
            ip=client_ip(request),
        ),
        done=_("Status changed."),
        to="dialogue:detail",
        dialogue_id=item.dialogue_id,
    )


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def commitment(request: HttpRequest, outcome_id: UUID) -> HttpResponse:
    """Record a commitment; a refused one shows the page again with what was
    typed and each problem beside its field."""
    outcome = restricted(Outcome, request, outcome_id)
    dialogue = outcome.round.dialogue
    form = CommitmentForm(
        parties(dialogue), labels(dialogue), request.POST, prefix_id=str(outcome.pk)
    )
    if form.is_valid():
        try:
            commitments.create_commitment(
                actor_of(request), outcome, form.service_data(), ip=client_ip(request)
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        except Refused as exc:  # the policy's word on this outcome, audited
            messages.error(request, exc.message)
            return redirect("dialogue:detail", dialogue_id=dialogue.pk)
        else:
            messages.success(request, _("Commitment recorded."))
            return redirect("dialogue:detail", dialogue_id=dialogue.pk)
    context = detail_context(dialogue, signed_in_user(request))
    for row in context["outcomes"]:
        if row["o"].pk == outcome.pk:
            row["commitment_form"], row["commitment_open"] = form, True
    return render(request, "dialogue/detail.html", context)


@require_POST
@permission_required(Permission.MANAGE_DIALOGUE)
def commitment_status(request: HttpRequest, commitment_id: UUID) -> HttpResponse:
    item = restricted(Commitment, request, commitment_id)
    post = request.POST
    return act(
        request,
        lambda: commitments.set_commitment_status(
            actor_of(request),
            item,
            post.get("status", ""),
            post.get("note", ""),
            ip=client_ip(request),
        ),
        done=_("Commitment updated."),
        to="dialogue:detail",
        dialogue_id=item.outcome.round.dialogue_id,
    )
