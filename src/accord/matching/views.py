"""Pages for hit/no-hit: thin, every change through matching.services, every
read through matching.queries (need-to-know lives there). The case page's
card is `case_card`; the rest is the /matching/ page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.cases import queries as case_queries
from accord.cases.models import Case
from accord.cases.observables import observable_types
from accord.core.audit import Actor
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.federation.models import Peer
from accord.matching import policy, queries, results, services
from accord.matching.models import Direction, Hit, Query
from accord.web.actions import act, attempt
from accord.web.guards import permission_required, signed_in_user


def _actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


def _open_case(request: HttpRequest, case_id: UUID) -> Case:
    try:
        return case_queries.open_case(
            _actor(request), case_id, how="matching", ip=client_ip(request)
        )
    except Case.DoesNotExist:
        raise Http404(_("No such case, or it is not for you.")) from None


def _offered(user: Any, action: Any, obj: Any = None) -> bool:
    """A form is offered exactly when the service would accept it."""
    return policy.allowed(user, action, obj) is None


def case_card(user: Any, case: Case, observables: list[Any]) -> dict[str, Any] | None:
    """What the case page's hit/no-hit card shows; None hides the card. The
    case page passes the case's observables, ordered by type and value, as it
    has loaded them already: a case of many values is not read twice."""
    if not _offered(user, policy.CARD, case):
        return None
    may_ask = _offered(user, policy.ASK, case)
    asked = queries.queries_for_case(user, case)
    return {
        "may_ask": may_ask,
        "observables": observables if may_ask else [],
        "peers": policy.askable(user) if may_ask else [],
        "asks": results.per_agency(asked),
        "queries": asked,
        "hits": [
            (hit, _offered(user, policy.REQUEST_DETAILS, hit))
            for hit in queries.hits_for_case(user, case)
        ],
    }


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise ValidationError(_("Choose values of this case.")) from None


@require_POST
@permission_required(Permission.RUN_MATCHING)
def ask(request: HttpRequest, case_id: UUID) -> HttpResponse:
    case = _open_case(request, case_id)
    post = request.POST
    everyone = post.get("to") == "all"
    chosen = post.getlist("peer")
    peers = list(Peer.objects.filter(active=True, node_id__in=chosen).order_by("node_id"))

    def run() -> None:
        if not everyone and (not peers or len(peers) != len(set(chosen))):
            raise ValidationError(_("Choose at least one active partner node."))
        observable_ids = _ids(post.getlist("observable"))
        if not observable_ids:
            raise ValidationError(_("Choose at least one value to check."))
        services.ask(
            _actor(request),
            case,
            None if everyone else peers,
            post.get("purpose", ""),
            observable_ids,
            ip=client_ip(request),
        )

    done = _("Asked. The answers appear here when the partner nodes reply.")
    return act(request, run, done=done, to="cases:detail", case_id=case.pk)


@require_POST
@permission_required(Permission.RUN_MATCHING)
def request_details(request: HttpRequest, case_id: UUID, hit_id: int) -> HttpResponse:
    """A hit says only that the partner holds the value: the details are asked
    for with an ordinary assistance request, drafted here for the user to complete."""
    case = _open_case(request, case_id)
    hit = _hit(request, case, hit_id)
    drafted: list[Any] = []

    def draft() -> None:
        drafted.append(services.request_details(_actor(request), hit, ip=client_ip(request)))

    if attempt(request, draft):
        messages.success(
            request,
            _("Draft request %(ref)s prepared from the hit: complete it and send it.")
            % {"ref": drafted[0].reference},
        )
        return redirect("assistance:edit", request_id=drafted[0].pk)
    return redirect("cases:detail", case_id=case.pk)


def _hit(request: HttpRequest, case: Case, hit_id: int) -> Hit:
    hit = Hit.objects.restrict(request.user).filter(pk=hit_id, query__case=case).first()
    if hit is None:
        raise Http404(_("No such hit, or it is not for you."))
    return hit


@permission_required(Permission.RUN_MATCHING)
def home(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    may_set = _offered(user, policy.SET_POLICY)
    context = {
        "incoming": [(q, _offered(user, policy.APPROVE, q)) for q in queries.incoming(user)],
        "outgoing": queries.outgoing(user),
        "policies": [
            (peer, rule, set(rule.types) if rule else set())
            for peer, rule in queries.policies(user)
        ],
        "may_set_policy": may_set,
        "types": observable_types(),
    }
    return render(request, "matching/home.html", context)


def _incoming(request: HttpRequest, query_id: UUID) -> Query:
    found = Query.objects.restrict(request.user).filter(pk=query_id, direction=Direction.IN)
    query = found.select_related("peer").first()
    if query is None:
        raise Http404(_("No such query, or it is not for you."))
    return query


@require_POST
@permission_required(Permission.MANAGE_MATCHING)
def approve(request: HttpRequest, query_id: UUID) -> HttpResponse:
    query = _incoming(request, query_id)
    return act(
        request,
        lambda: services.approve(_actor(request), query, ip=client_ip(request)),
        done=_("Approved: the answer is on its way."),
        to="matching:home",
    )


@require_POST
@permission_required(Permission.MANAGE_MATCHING)
def decline(request: HttpRequest, query_id: UUID) -> HttpResponse:
    query = _incoming(request, query_id)
    return act(
        request,
        lambda: services.decline(
            _actor(request), query, request.POST.get("reason", ""), ip=client_ip(request)
        ),
        done=_("Declined: the asking node is told why."),
        to="matching:home",
    )


@require_POST
@permission_required(Permission.MANAGE_MATCHING)
def set_policy(request: HttpRequest, node_id: str) -> HttpResponse:
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None:
        raise Http404(_("No such partner node."))
    post = request.POST

    def run() -> None:
        services.set_policy(
            _actor(request),
            peer,
            types=post.getlist("types"),
            max_values=_number(post.get("max_values", ""), _("Most values per query")),
            per_day=_number(post.get("per_day", ""), _("Most values per day")),
            needs_approval=post.get("needs_approval") == "on",
            ip=client_ip(request),
        )

    done = _("What %(node)s may ask is saved.") % {"node": peer.node_id}
    return act(request, run, done=done, to="matching:home")


def _number(raw: str, field: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(_("%(field)s: enter a whole number.") % {"field": field}) from None
