"""Reads of hit/no-hit, restricted by need-to-know (interface stubs)."""

from __future__ import annotations

from accord.cases.models import Case
from accord.core.models import User
from accord.federation.models import Peer
from accord.matching.models import Hit, MatchingPolicy, Query


def queries_for_case(user: User, case: Case) -> list[Query]:
    raise NotImplementedError


def hits_for_case(user: User, case: Case) -> list[Hit]:
    raise NotImplementedError


def incoming(user: User) -> list[Query]:
    raise NotImplementedError


def outgoing(user: User) -> list[Query]:
    raise NotImplementedError


def policies(user: User) -> list[tuple[Peer, MatchingPolicy | None]]:
    raise NotImplementedError
