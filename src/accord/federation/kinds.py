"""Message kinds: each app registers the kinds it handles, with a strict body
schema and the function that applies a body (DESIGN.md: kinds are namespaced)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from accord.core.text import StorableText


class Refusal(Exception):
    """Raised by a handler to refuse an authentic, in-order message for its
    content; the seq is consumed and the sender gets a negative receipt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StrictBody(StorableText):
    """Base for every body schema, of every app: unknown fields are an error,
    not ignored; no type is coerced (a number sent as text is refused); a body
    cannot change once built; and no NUL or lone surrogate anywhere, so both databases
    refuse the same bodies (PostgreSQL cannot keep one)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class InboundContext:
    """What a handler knows about the message it applies."""

    peer: Any  # federation.models.Peer
    message_id: str
    seq: int
    in_reply_to: str | None


Handler = Callable[[InboundContext, Any], None]


@dataclass(frozen=True)
class Kind:
    name: str
    schema: type[StrictBody]
    handler: Handler
    # False for bulk content (evidence chunks): once the message is applied,
    # the inbox keeps its envelope without the body (body_sha256 and the
    # receipt stay), so the content lives only where its app keeps it.
    keep_body: bool = True


_REGISTRY: dict[str, Kind] = {}


def register(
    name: str, schema: type[StrictBody], *, keep_body: bool = True
) -> Callable[[Handler], Handler]:
    if "." not in name:
        raise ValueError(f"message kind {name!r} must be namespaced, like app.action")

    def decorate(handler: Handler) -> Handler:
        known = _REGISTRY.get(name)
        if known is not None and _origin(known.handler) is not _origin(handler):
            raise ValueError(f"message kind {name!r} is registered twice")
        _REGISTRY[name] = Kind(name, schema, handler, keep_body)
        return handler

    return decorate


def _origin(handler: Handler) -> Any:
    return getattr(handler, "__wrapped__", handler)


def peer_handler(apply: Callable[[Any, Any], object]) -> Handler:
    """A handler from a function that needs only the sending peer and the body:
    `kinds.register(KIND, Body)(kinds.peer_handler(receive_x))`."""

    @functools.wraps(apply)
    def handle(context: InboundContext, body: Any) -> None:
        apply(context.peer, body)

    return handle


def get(name: str) -> Kind | None:
    return _REGISTRY.get(name)


def names() -> list[str]:
    return sorted(_REGISTRY)
