"""Pages for mutual-assistance requests: thin, every change through services."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.assistance import (
    api,
    casework,
    evidence_files,
    labels,
    policy,
    queries,
    reminders,
    routing,
    services,
)
from accord.assistance.deadlines import confirmation_of, deadlines_of, first_contact_at
from accord.assistance.forms import GROUND_ROWS, RequestForm, initial_from
from accord.assistance.machine import TRANSITIONS, Transition
from accord.assistance.models import AssistanceRequest, ScreeningFinding
from accord.assistance.step_forms import STEP_CHOICES, StepForm, payload_from_post
from accord.assistance.types import (
    LEGAL_SYSTEM_LABELS,
    STATUTES,
    ContactChannel,
    OffenceCategory,
    RefusalGround,
    RequestType,
    legal_system_of,
)
from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import User
from accord.core.policy import Refused
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.evidence import views as evidence_views
from accord.federation import threads
from accord.federation.models import Peer
from accord.matching import queries as matching_queries
from accord.web.actions import act, attempt
from accord.web.guards import permission_required


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(request.user)  # type: ignore[arg-type]


def opened(request: HttpRequest, request_id: UUID, how: str = "read") -> AssistanceRequest:
    try:
        return queries.open_request(_actor(request), request_id, how=how, ip=client_ip(request))
    except AssistanceRequest.DoesNotExist:
        raise Http404(_("No such request, or it is not for you.")) from None


def _peers() -> list[str]:
    """The other parties' central authorities: where a request may go (routing.py)."""
    return [peer.node_id for peer in routing.requestable_peers()]


@permission_required(Permission.VIEW_REQUESTS)
def request_create(request: HttpRequest) -> HttpResponse:
    request_type = request.GET.get("type") or request.POST.get("request_type", "")
    if request_type not in RequestType.values:
        return render(request, "assistance/choose_type.html", {"types": RequestType.choices})
    node = this_node()
    initial = {"central_authority": node.agency, "language": translation.get_language()}
    form = RequestForm(request_type, _peers(), request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        peer = Peer.objects.filter(node_id=form.cleaned_data["peer"], active=True).first()
        try:
            if peer is None:
                raise ValidationError(_("Choose an active partner node."))
            created = services.create_request(
                _actor(request), peer, form.to_data(), ip=client_ip(request)
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.TransitionRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Draft %(ref)s saved.") % {"ref": created.reference})
            return redirect("assistance:detail", request_id=created.pk)
    context = {
        "form": form,
        "request_type": request_type,
        "type_label": RequestType(request_type).label,
        "editing": None,
    }
    return render(request, "assistance/form.html", context)


@permission_required(Permission.VIEW_REQUESTS)
def request_edit(request: HttpRequest, request_id: UUID) -> HttpResponse:
    row = opened(request, request_id)
    form = RequestForm(
        row.request_type, [row.requested_node], request.POST or None, initial=initial_from(row)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_draft(_actor(request), row, form.to_data(), ip=client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.TransitionRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Draft saved."))
            return redirect("assistance:detail", request_id=row.pk)
    context = {
        "form": form,
        "request_type": row.request_type,
        "type_label": row.get_request_type_display(),
        "editing": row,
    }
    return render(request, "assistance/form.html", context)


@permission_required(Permission.VIEW_REQUESTS)
def request_detail(request: HttpRequest, request_id: UUID) -> HttpResponse:
    row = opened(request, request_id)
    reminders.mark_read(request.user, row)  # type: ignore[arg-type]
    return _render_detail(request, row)


def detail_context(row: AssistanceRequest, user: Any, *, offer: bool = True) -> dict[str, Any]:
    """What the detail page (and, with `offer` False, the printed form) shows.
    Which steps, forms and panels a user gets is the policy's answer."""
    node = this_node()
    system = legal_system_of(node.node_id, node.party)
    now = timezone.now()

    def may(action: str) -> bool:
        return offer and policy.allowed(user, action, row) is None

    steps = [TRANSITIONS[a] for a in policy.steps_offered(user, row)] if offer else []
    consult_first = offer and policy.consultation_first(user, row)
    waiting = queries.waiting_actions(row).exists()
    submit_refused = (
        row.submit_message.refusal_reason
        if row.submit_message and row.submit_message.status == "refused"
        else ""
    )
    return {
        "r": row,
        "now": now,
        "deadlines": [
            (
                d,
                d.overdue(now),
                max(0, min(100, int(d.fraction_used(now) * 100))),
            )
            for d in deadlines_of(row)
        ],
        "offences": [
            (
                o,
                OffenceCategory(o["category"]).label,
                STATUTES.get(o["category"], {}).get(system, "—"),
            )
            for o in row.offences
        ],
        "system_label": LEGAL_SYSTEM_LABELS[system],
        "details": labels.detail_rows(row),
        **_first_contact(row, now),
        "events": [(e, labels.step_label(e.action)) for e in row.events.order_by("version")],
        "steps": steps,
        "consult_first": consult_first,
        "waiting": waiting,
        "submit_refused": submit_refused,
        "pending": row.pending_actions.order_by("-created_at")[:5],
        "screening": may(policy.SEE_FINDINGS),
        "may_screen": may(policy.SCREEN),
        "findings": row.findings.select_related("reviewer"),
        "finding_grounds": [(ScreeningFinding.DUAL_CRIMINALITY, _("Dual criminality"))]
        + [c for c in RefusalGround.choices if c[0] != RefusalGround.NO_DUAL_CRIMINALITY],
        "team": row.team.all(),
        "case": casework.case_seen(user, row),
        "hits": matching_queries.hits_of_request(user, row),
        # Conversations with the partner about this request (federation notes).
        "conversations": threads.about_request(user, row) if offer else [],
        "may_write": offer and threads.may_write_about(user, row),
        "case_choices": casework.cases_to_file_under(user) if may(policy.VIEW) else [],
        "may_add_member": may(policy.ADD_MEMBER),
        "candidates": User.objects.filter(is_active=True, role__in=policy.TEAM_ROLES).exclude(
            pk__in=row.team.values("pk")
        ),
        "files": evidence_files.listed(row),
        # Evidence items of the request (accord.evidence): None hides the card.
        "evidence": evidence_views.card(user, request=row) if offer else None,
        "may_edit": may(policy.EDIT),
        "conditions": [(c, labels.condition_label(c["kind"])) for c in row.conditions],
        "grounds": [(g, labels.ground_label(g["ground"])) for g in row.refusal_grounds],
        **STEP_CHOICES,
    }


def _first_contact(row: AssistanceRequest, now: Any) -> dict[str, Any]:
    """An emergency's informal first contact, and where its written
    confirmation stands (docs/assistance.md 6.7)."""
    confirmation = confirmation_of(row)
    if not row.first_contact or confirmation is None:
        return {"first_contact": None}
    contact = dict(row.first_contact)
    contact["at"] = first_contact_at(row)
    contact["channel_label"] = labels.choice_label(ContactChannel, contact.get("channel", ""))
    return {
        "first_contact": contact,
        "confirmation": confirmation,
        "confirmation_overdue": confirmation.overdue(now) and not row.is_final,
    }


# The step a page puts first when several are possible: the one that moves
# the request on in the usual path (docs/assistance.md, section 3).
PRIMARY = (
    "send_for_validation",
    "validate",
    "submit",
    "provide_information",
    "accept_conditions",
    "close",
    "acknowledge",
    "start_screening",
    "accept_information",
    "accept",
    "accept_with_conditions",
    "begin_execution",
    "preserve",
    "respond",
    "resume",
)


def _refusal_key(row: AssistanceRequest) -> str:
    return f"assistance.refusal.{row.pk}"


def _ground_values(data: Any) -> dict[str, str]:
    return {
        f"g_{n}_{part}": data.get(f"g_{n}_{part}", "")
        for n in range(1, GROUND_ROWS + 1)
        for part in ("ground", "rationale")
        if data.get(f"g_{n}_{part}", "")
    }


def _consultation_text(grounds: dict[str, str]) -> str:
    """What a consultation before a refusal puts to the requester: the
    grounds the officer wrote, and the question Budapest Art. 27(6) asks."""
    lines = [
        _(
            "We are considering refusing this request on the grounds below. Before we "
            "decide (Budapest Art. 27(6)): could it be granted in part, or under conditions?"
        )
    ]
    for n in range(1, GROUND_ROWS + 1):
        ground, why = grounds.get(f"g_{n}_ground", ""), grounds.get(f"g_{n}_rationale", "")
        if ground or why:
            lines.append(f"- {labels.ground_label(ground) if ground else '—'}: {why}")
    return "\n".join(lines)


def step_forms(
    request: HttpRequest, row: AssistanceRequest, context: dict[str, Any], bound: Any = None
) -> dict[str, Any]:
    """The steps the page offers now: one primary, open; the rest folded away.
    `bound` is the form of a refused submission, open with what was typed."""
    steps: list[Transition] = context["steps"]
    carried = request.session.get(_refusal_key(row), {})
    forms = []
    for t in steps:
        if bound is not None and bound.transition.action == t.action:
            forms.append(bound)
        elif t.action == "refuse" and carried:
            forms.append(StepForm(t, initial=carried))
        else:
            forms.append(StepForm(t))
    if context["consult_first"]:
        # Refusing needs a consultation first: the refusal's form says so, and
        # its grounds are carried over into the consultation.
        refuse = TRANSITIONS["refuse"]
        mine = bound is not None and bound.transition.action == "refuse"
        forms.append(bound if mine else StepForm(refuse, initial=carried))
    offered = [f.transition.action for f in forms]
    primary = next((a for a in PRIMARY if a in offered), "")
    if not primary:
        primary = next((f.transition.action for f in forms if not f.transition.destructive), "")
    first = [f for f in forms if f.transition.action == primary]
    rest = [f for f in forms if f.transition.action != primary]
    # The ones that end the request come last.
    rest.sort(key=lambda f: f.transition.destructive)
    return {
        "primary_step": first[0] if first else None,
        "other_steps": rest,
        "open_step": bound.transition.action if bound is not None else "",
        "sends_files": routing.sends_files(row),
    }


def _render_detail(
    request: HttpRequest, row: AssistanceRequest, bound: Any = None, *, carry: Any = None
) -> HttpResponse:
    context = detail_context(row, request.user)
    context.update(step_forms(request, row, context, bound))
    context["carry"] = carry
    return render(request, "assistance/detail.html", context)


@require_POST
@permission_required(Permission.VIEW_REQUESTS)
def request_step(request: HttpRequest, request_id: UUID) -> HttpResponse:
    row = opened(request, request_id, how="step")
    refused = evidence_files.too_large(request)  # looked at before the body is
    if refused:
        attempt(
            request,
            lambda: evidence_files.refuse_upload(_actor(request), row, refused, client_ip(request)),
        )
        return redirect("assistance:detail", request_id=row.pk)
    action = request.POST.get("action", "")
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    # The form of a step the page offers (a refusal that needs a consultation
    # first among them) is shown again on a problem; any other step is
    # refused by the services, with their reason.
    offered = action in TRANSITIONS and (
        policy.allowed(request.user, action, row) is None
        or (action == "refuse" and policy.consultation_first(request.user, row))
    )
    form = StepForm(TRANSITIONS[action], request.POST) if offered else None
    if form is not None:
        payload = form.check()
    else:
        payload = payload_from_post(action, request.POST) if action in TRANSITIONS else {}
    # A consultation before a refusal carries the refusal's grounds along.
    carry = sorted(_ground_values(request.POST).items()) if action == "consult" else None
    if form is not None and payload is None:
        return _render_detail(request, row, form, carry=carry)
    if action == "refuse" and request.POST.get("then") == "consult" and form is not None:
        return _consult_first(request, row, form)
    # Streams (a file over 2.5 MB is already a temporary file): never read whole.
    uploads = [evidence_files.Upload.of_file(f) for f in request.FILES.getlist("files")]

    def step() -> None:
        done = services.perform(
            _actor(request),
            row,
            action,
            payload,
            version=version,
            uploads=uploads,
            ip=client_ip(request),
        )
        if queries.waiting_actions(done).exists():
            messages.info(request, _("Sent to the partner; it takes effect when they confirm."))
        else:
            messages.success(
                request,
                _("Done: the request is now %(state)s.") % {"state": done.get_state_display()},
            )

    if form is None:
        attempt(request, step)
        return redirect("assistance:detail", request_id=row.pk)
    try:
        step()
    except (Refused, ValidationError) as exc:
        form.add_error(None, exc.message if isinstance(exc, Refused) else exc.messages)
        return _render_detail(request, row, form, carry=carry)
    carried = _ground_values(request.POST)
    if action == "consult" and carried:
        request.session[_refusal_key(row)] = carried
    elif action == "refuse":
        request.session.pop(_refusal_key(row), None)
    return redirect("assistance:detail", request_id=row.pk)


def _consult_first(request: HttpRequest, row: AssistanceRequest, refusal: Any) -> HttpResponse:
    """The officer wrote the grounds of a refusal that needs a consultation
    first: the consultation's form opens with them put to the requester, and
    they come back in the refusal's form once it has been held."""
    grounds = _ground_values(request.POST)
    consult = StepForm(TRANSITIONS["consult"], initial={"comment": _consultation_text(grounds)})
    return _render_detail(request, row, consult, carry=sorted(grounds.items()))


@require_POST
@permission_required(Permission.VIEW_REQUESTS)
def request_finding(request: HttpRequest, request_id: UUID) -> HttpResponse:
    row = opened(request, request_id, how="screen")
    return act(
        request,
        lambda: services.record_finding(
            _actor(request),
            row,
            request.POST.get("ground", ""),
            request.POST.get("applies") == "yes",
            request.POST.get("rationale", ""),
            ip=client_ip(request),
        ),
        done=_("Finding recorded."),
        to="assistance:detail",
        request_id=row.pk,
    )


@require_POST
@permission_required(Permission.VIEW_REQUESTS)
def request_member(request: HttpRequest, request_id: UUID) -> HttpResponse:
    row = opened(request, request_id, how="team")
    username = request.POST.get("username", "")
    user = User.objects.filter(username=username, is_active=True).first()

    def add() -> None:
        if user is None:
            raise ValidationError(_("Choose an active user."))
        services.add_member(_actor(request), row, user, ip=client_ip(request))

    return act(
        request,
        add,
        done=_("%(user)s added to the team.") % {"user": username},
        to="assistance:detail",
        request_id=row.pk,
    )


@require_POST
@permission_required(Permission.VIEW_REQUESTS)
def request_case(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """File the request under a case of this node (or under none)."""
    row = opened(request, request_id, how="case")
    chosen = request.POST.get("case", "").strip()

    def link() -> None:
        case = casework.find_case(_actor(request), chosen) if chosen else None
        services.link_case(_actor(request), row, case, ip=client_ip(request))

    return act(
        request,
        link,
        done=_("Filed under case %(case)s.") % {"case": chosen}
        if chosen
        else _("No longer filed under a case."),
        to="assistance:detail",
        request_id=row.pk,
    )


@permission_required(Permission.VIEW_REQUESTS)
def request_file(request: HttpRequest, request_id: UUID, sha256: str) -> HttpResponse:
    """A listed response file: its evidence item's page (custody, download)."""
    item = api.listed_item(opened(request, request_id, how="file"), sha256)
    return redirect("evidence:item", item_id=item.pk)
