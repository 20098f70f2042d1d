"""`GET /api/v1/waiting`: the same entries as the dashboard's inbox, for a
user's own tools (a desk client, a mail digest run elsewhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from accord.web import waiting
from accord.web.guards import signed_in_user

router = Router(tags=["core"])


class WaitingEntryOut(Schema):
    kind: str
    label: str
    title: str
    detail: str
    url: str
    since: datetime | None


class WaitingOut(Schema):
    count: int
    counts: dict[str, int]
    entries: list[WaitingEntryOut]


@router.get("/waiting", response=WaitingOut)
def waiting_for_me(request: HttpRequest) -> dict[str, Any]:
    """What waits for the signed-in user: a count per kind and the entries
    (at most 50 of each kind), each with the page where the user acts."""
    user = signed_in_user(request)
    counts = waiting.counts(user)
    found = waiting.entries(user)
    return {
        "count": sum(counts.values()),
        "counts": counts,
        "entries": [
            {
                "kind": e.kind,
                "label": e.label,
                "title": e.title,
                "detail": e.detail,
                "url": e.url,
                "since": e.since,
            }
            for e in found
        ],
    }
