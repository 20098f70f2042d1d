"""What an answered hit/no-hit query leaves on the asking node: the query,
answered, and one hit on the case's observable."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from uuid6 import uuid7

from accord.cases.models import Case
from accord.federation.models import Peer
from accord.matching.models import Direction, Hit, Query, QueryStatus


def answered_hit(case: Case, peer: Peer, reference: str, code: str = "domain", **query: Any) -> Hit:
    answered = Query.objects.create(
        id=uuid7(),
        direction=Direction.OUT,
        peer=peer,
        case=case,
        case_reference=case.reference,
        purpose=query.pop("purpose", "Phishing wave"),
        code=code,
        count=1,
        status=QueryStatus.ANSWERED,
        hits=1,
        created_at=timezone.now(),
        **query,
    )
    return Hit.objects.create(
        query=answered, observable=case.observables.get(code=code), reference=reference
    )
