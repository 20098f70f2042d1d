"""Structured logs: one event per HTTP request and one per delivery batch.

With ACCORD_LOG_FORMAT=json every log line is one JSON object (settings.LOGGING);
the fields of these events are documented in docs/operations.md, "Logs". They
carry ids (the request's, the user's, the messages'), never a body, a name or
a query string: a log collector is not where a case's content may end up."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, Protocol

import httpx
from django.http import HttpRequest, HttpResponse

request_log = logging.getLogger("accord.request")

REQUEST_ID_HEADER = "X-Request-ID"
# A load balancer's request id is kept if it looks like one; anything else is replaced.
_GOOD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_request_id: ContextVar[str | None] = ContextVar("accord_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Every log record made while a request is served carries its id, so the
    lines one request causes (a refusal, an error) can be found together."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class RequestLogMiddleware:
    """The outermost middleware: gives each request an id (the load balancer's
    X-Request-ID, or a new one), answers it in the same header, and logs the
    request once it is answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _GOOD_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            log_request(request, response.status_code, time.perf_counter() - started)
            return response
        finally:
            _request_id.reset(token)


def log_request(request: HttpRequest, status: int, seconds: float) -> None:
    # The route is the URL pattern (`assistance/<uuid:request_id>/`), not the
    # path, so no value a user typed reaches the log; None where nothing matched.
    match = request.resolver_match
    route = match.route if match is not None else None
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    duration_ms = round(seconds * 1000, 1)
    request_log.info(
        "%s %s %s %s ms",
        request.method,
        route or "-",
        status,
        duration_ms,
        extra={
            "event": "request",
            "method": request.method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "user_id": user_id,
        },
    )


class Sent(Protocol):
    """What the deliverer knows of a message it sent (an OutboxMessage)."""

    id: Any
    seq: int
    status: str


def log_batch(
    logger: logging.Logger,
    peer: str,
    batch: Sequence[Sent],
    answer: httpx.Response | Exception,
    failure: str,
    permanent: bool,
) -> None:
    """One event per batch the deliverer sent: to whom, which messages, how
    it ended and how long the peer took to answer. `failure` is the
    deliverer's own classification (an envelope-level reason, never a body)."""
    statuses = [message.status for message in batch]
    receipted = sum(status != "pending" for status in statuses)
    if failure:
        outcome = "permanent_failure" if permanent else "transient_failure"
    else:
        # No receipt and no failure: the peer found the batch too large, and
        # the deliverer sends it again in halves.
        outcome = "delivered" if receipted == len(batch) else "partial" if receipted else "resend"
    duration_ms = _elapsed_ms(answer)
    logger.log(
        logging.WARNING if failure else logging.INFO,
        "batch to %s: %d messages, seq %s-%s, %s",
        peer,
        len(batch),
        batch[0].seq if batch else "-",
        batch[-1].seq if batch else "-",
        outcome,
        extra={
            "event": "delivery_batch",
            "peer": peer,
            "message_ids": [str(message.id) for message in batch],
            "first_seq": batch[0].seq if batch else None,
            "last_seq": batch[-1].seq if batch else None,
            "outcome": outcome,
            "applied": statuses.count("applied"),
            "refused": statuses.count("refused"),
            "error": failure[:200],
            "http_status": answer.status_code if isinstance(answer, httpx.Response) else None,
            "duration_ms": duration_ms,
        },
    )


def _elapsed_ms(answer: httpx.Response | Exception) -> float | None:
    """The peer's round trip; None when no answer came (a network failure)."""
    if not isinstance(answer, httpx.Response):
        return None
    try:
        return round(answer.elapsed.total_seconds() * 1000, 1)
    except RuntimeError:  # an answer that was never sent over the wire
        return None
