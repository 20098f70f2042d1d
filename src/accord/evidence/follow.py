"""Evidence added to a request after this node's side of it went to the
partner follows on its own (docs/evidence.md 7, "Sent with the request").

The request went when this node submitted it (an outgoing request) or sent a
response to it (`respond`, `respond_partially`, `preserve` on an incoming
one). An item of this node added to it after that — a further court order, a
late production — is sent by the same transfer as the files that went with
the step, started by the node itself (actor `operator`) right after the
item's transaction commits; the node's clock starts any such transfer that
did not start then (the process was killed in between). An item that had a
transfer to the partner once (under way, done, failed or abandoned) is left
to the team: a failed one is sent again by hand."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction

from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.policy import Refused
from accord.evidence.models import EvidenceItem

log = logging.getLogger(__name__)

# The steps of the requested side that send a response to the requester.
RESPONSES = ("respond", "respond_partially", "preserve")


def went_at(request: Any) -> datetime | None:
    """When this node's side of the request went to the partner, else None."""
    if request.outgoing:
        return request.submitted_at
    first = request.events.filter(action__in=RESPONSES).order_by("version").first()
    return first.at if first is not None else None


def waiting(request: Any) -> list[EvidenceItem]:
    """This node's items of the request added after it went and never sent
    to the partner: the items whose chain this node began ('collected')."""
    since = went_at(request)
    if since is None:
        return []
    return list(
        EvidenceItem.objects.filter(
            request=request,
            purged_at=None,
            created_at__gt=since,
            custody__seq=0,
            custody__event="collected",
            custody__node=this_node().node_id,
        )
        .exclude(transfers__peer=request.peer)
        .order_by("created_at")
    )


def follow_on_commit(item: EvidenceItem, ip: str = "") -> None:
    """Call in the transaction that adds `item` to a request."""
    item_id = item.pk
    transaction.on_commit(lambda: follow(item_id, ip), robust=True)


def follow(item_id: uuid.UUID, ip: str = "") -> bool:
    """Send the item to its request's partner if it was added after the
    request went there and is not on its way yet; True if a transfer started."""
    item = EvidenceItem.objects.select_related("request__peer").filter(pk=item_id).first()
    if item is None or item.request is None or not item.request.peer.active:
        return False
    if item not in waiting(item.request):
        return False
    from accord.evidence import transfer

    try:
        transfer.transfer_item(Actor.system("evidence"), item, item.request.peer, ip=ip)
    except Refused as refusal:  # audited by the refusal; the team may send it by hand
        log.warning("evidence %s did not follow its request: %s", item_id, refusal)
        return False
    return True


def tick() -> int:
    """The clock: items added after their request went that did not follow
    (the node stopped between the item's commit and its transfer)."""
    from accord.assistance.models import AssistanceRequest

    never_sent = EvidenceItem.objects.filter(
        request__isnull=False,
        purged_at=None,
        transfers__isnull=True,
        custody__seq=0,
        custody__event="collected",
        custody__node=this_node().node_id,
    ).values("request")
    started = 0
    for request in AssistanceRequest.objects.filter(pk__in=never_sent).select_related("peer"):
        for item in waiting(request):
            started += follow(item.pk)
    return started


__all__ = ["follow", "follow_on_commit", "tick", "went_at"]
