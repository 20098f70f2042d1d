"""The assistance.* message kinds (DESIGN.md, federation protocol): each body
is checked against its schema before its handler applies it."""

from __future__ import annotations

from accord.assistance import services
from accord.federation import kinds


@kinds.register(services.SUBMIT_KIND, services.SubmitBody)  # type: ignore[arg-type]
def receive_submit(context: kinds.InboundContext, body: services.SubmitBody) -> None:
    services.receive_submit(context.peer, body)


@kinds.register(services.TRANSITION_KIND, services.TransitionBody)  # type: ignore[arg-type]
def receive_transition(context: kinds.InboundContext, body: services.TransitionBody) -> None:
    services.receive_transition(context.peer, body)


@kinds.register(services.ACTION_KIND, services.ActionBody)  # type: ignore[arg-type]
def receive_action(context: kinds.InboundContext, body: services.ActionBody) -> None:
    services.receive_action(context.peer, body)


@kinds.register(services.ACTION_REFUSED_KIND, services.ActionRefusedBody)  # type: ignore[arg-type]
def receive_action_refused(context: kinds.InboundContext, body: services.ActionRefusedBody) -> None:
    services.receive_action_refused(context.peer, body)


@kinds.register(services.CHUNK_KIND, services.ChunkBody)  # type: ignore[arg-type]
def receive_chunk(context: kinds.InboundContext, body: services.ChunkBody) -> None:
    services.receive_chunk(context.peer, body)
