"""The rules of hit/no-hit (interface stubs; filled in next)."""

from __future__ import annotations

from accord.assistance.models import AssistanceRequest
from accord.cases.models import Case
from accord.core.audit import Actor
from accord.federation.models import Peer
from accord.matching.models import Hit, MatchingPolicy, Query


def set_policy(
    actor: Actor,
    peer: Peer,
    *,
    types: list[str],
    max_values: int,
    per_day: int,
    needs_approval: bool,
    ip: str = "",
) -> MatchingPolicy:
    raise NotImplementedError


def ask(
    actor: Actor,
    case: Case,
    peers: list[Peer],
    purpose: str,
    observable_ids: list[int] | None = None,
    *,
    ip: str = "",
) -> list[Query]:
    raise NotImplementedError


def approve(actor: Actor, query: Query, *, ip: str = "") -> Query:
    raise NotImplementedError


def decline(actor: Actor, query: Query, reason: str, *, ip: str = "") -> Query:
    raise NotImplementedError


def request_details(actor: Actor, hit: Hit, *, ip: str = "") -> AssistanceRequest:
    raise NotImplementedError
