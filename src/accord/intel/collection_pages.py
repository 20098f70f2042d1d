"""A collection's sharing, from the web: which partner nodes it is pushed to,
which partner TAXII collections fill it, and the forms to share, unshare,
subscribe and unsubscribe. Each change goes through `accord.intel.sync`, whose
services check the permission and audit the change or the refusal."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.core.audit import Actor
from accord.core.policy import offered
from accord.core.roles import Permission
from accord.federation.models import Peer
from accord.intel import sync
from accord.intel.models import Collection, Share, StixObject, Subscription
from accord.intel.policy import Action, allowed, is_mirror
from accord.intel.store import source_of
from accord.web.actions import act
from accord.web.guards import permission_required, signed_in_user


def _collection(collection_id: uuid.UUID) -> Collection:
    # Every collection: sharing is the operator's, as at the shell (the
    # objects stay behind VIEW_INTEL; this page shows none of them).
    return get_object_or_404(Collection, pk=collection_id)


@permission_required(Permission.MANAGE_FEDERATION)
def sharing(request: HttpRequest) -> HttpResponse:
    """Every collection with the partner nodes it is pushed to and the partner
    TAXII collections that fill it, and the forms to change them."""
    user = signed_in_user(request)
    peers = list(Peer.objects.filter(active=True))
    rows = []
    for found in Collection.objects.all():
        shares = list(Share.objects.filter(collection=found).select_related("peer"))
        taken = {s.peer_id for s in shares}
        rows.append(
            {
                "c": found,
                "count": StixObject.objects.filter(collection=found, latest=True).count(),
                "mirror": is_mirror(found),
                "source": source_of(found),
                "shares": shares,
                "peers": [p for p in peers if p.pk not in taken],
                "subscriptions": Subscription.objects.filter(collection=found).order_by("pk"),
                "may_share": offered(allowed(user, Action.SHARE, found)),
                "may_unshare": offered(allowed(user, Action.UNSHARE, found)),
                "may_subscribe": offered(allowed(user, Action.SUBSCRIBE, found)),
            }
        )
    return render(request, "intel/sharing.html", {"rows": rows})


@require_POST
@permission_required(Permission.MANAGE_FEDERATION)
def share(request: HttpRequest, collection_id: uuid.UUID) -> HttpResponse:
    """Share with the chosen partner, or ("all") with every partner node the
    sharing policy allows (`sync.share_with_all`)."""
    if request.POST.get("to") != "all":
        done = _("The collection is shared: new objects go to the partner with the next sync.")
        return _with_peer(request, collection_id, Action.SHARE, sync.share, done)
    found = _collection(collection_id)
    return act(
        request,
        lambda: sync.share_with_all(Actor.of(signed_in_user(request)), found),
        done=_("Shared with every partner node: new objects go with the next sync."),
        to="intel:sharing",
    )


def _with_peer(
    request: HttpRequest,
    collection_id: uuid.UUID,
    action: Action,
    change: Callable[..., object],
    done: str,
) -> HttpResponse:
    found = _collection(collection_id)
    actor = Actor.of(signed_in_user(request))

    def both() -> None:
        peer = sync.partner_named(actor, action, found, request.POST.get("peer", ""))
        change(actor, found, peer)

    return act(request, both, done=done, to="intel:sharing")


@require_POST
@permission_required(Permission.MANAGE_FEDERATION)
def unshare(request: HttpRequest, collection_id: uuid.UUID) -> HttpResponse:
    done = _("No longer shared: what the partner received stays there.")
    return _with_peer(request, collection_id, Action.UNSHARE, sync.unshare, done)


@require_POST
@permission_required(Permission.MANAGE_FEDERATION)
def subscribe(request: HttpRequest, collection_id: uuid.UUID) -> HttpResponse:
    found = _collection(collection_id)
    post = request.POST
    return act(
        request,
        lambda: sync.subscribe(
            Actor.of(signed_in_user(request)),
            found,
            post.get("objects_url", "").strip()[:500],
            post.get("username", "").strip()[:150],
            post.get("secret", ""),
        ),
        done=_("Subscribed: the partner's objects are pulled with the next sync."),
        to="intel:sharing",
    )


@require_POST
@permission_required(Permission.MANAGE_FEDERATION)
def unsubscribe(request: HttpRequest, collection_id: uuid.UUID) -> HttpResponse:
    found = _collection(collection_id)

    def change() -> None:
        try:
            number = int(request.POST.get("subscription", ""))
        except ValueError:
            number = 0
        actor = Actor.of(signed_in_user(request))
        sync.unsubscribe(actor, sync.subscription_named(actor, found, number))

    return act(
        request,
        change,
        done=_("Unsubscribed: what was pulled stays in the collection."),
        to="intel:sharing",
    )
