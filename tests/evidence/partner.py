"""The partner's material for the conditions and retention tests: an item on a
request that arrived from the other node (a 'received' custody record, no
'collected' one written here), and the provider's conditions and restrictions
as the shared request holds them after its steps."""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from accord.assistance.models import AssistanceRequest
from accord.core.audit import Actor
from accord.evidence import blobs, services
from accord.evidence.models import EvidenceItem


def received(request: AssistanceRequest, data: bytes = b"subscriber records") -> EvidenceItem:
    pending = blobs.encrypt_stream(io.BytesIO(data))
    try:
        with transaction.atomic():
            blob, _ = blobs.commit(pending)
            item = EvidenceItem.objects.create(
                id=uuid.uuid4(),
                sha256=blob.sha256,
                size=blob.size,
                name="production.csv",
                content_type="text/csv",
                description="The provider's production",
                request=request,
                created_at=timezone.now(),
            )
            services.write_custody(item, "received", Actor(label=f"peer:{request.peer.node_id}"))
    finally:
        pending.discard()
    return item


def accept_with(request: AssistanceRequest, *conditions: tuple[str, str]) -> None:
    request.conditions = [{"kind": kind, "text": text} for kind, text in conditions]
    request.conditions_accepted = True
    request.save(update_fields=["conditions", "conditions_accepted"])


def restrict(request: AssistanceRequest, kind: str, text: str, at: str) -> None:
    request.restrictions = [*request.restrictions, {"kind": kind, "text": text, "at": at}]
    request.save(update_fields=["restrictions"])


def fresh(item: EvidenceItem) -> Any:
    return EvidenceItem.objects.select_related("request", "case").get(pk=item.pk)
