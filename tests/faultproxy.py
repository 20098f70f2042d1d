"""A fault-injecting reverse proxy for the reliability tests of the federation
channel (DESIGN.md, Quality bars: drop and duplicate requests, and count).

It listens on a free loopback port in front of one node and forwards each
request to it. While faults are enabled, each request draws its faults from a
seeded `random.Random`, so a run can be repeated:

- drop_request: read the request, then close the connection without forwarding;
- drop_response: forward the request, then close without answering (the
  receiver applied it, the sender never learns so);
- delay: sleep up to `max_delay_ms` before forwarding;
- duplicate: forward the same request twice (one after the other or both at
  once), answer with one of the two responses;
- replay: send an earlier captured request again, before or after the current
  one, and throw its answer away. With one deliverer per peer the requests are
  sequential, so this is how reordering shows up on the wire: a stale copy
  arriving after newer ones.

Every fault applied is counted in `counts`. Everything is bounded: request
size, captured history, delays, socket and upstream timeouts; server threads
are daemons and `stop()` shuts the server down."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

MAX_REQUEST_BYTES = 64 * 1024 * 1024
UPSTREAM_TIMEOUT_SECONDS = 60.0
IDLE_CONNECTION_SECONDS = 30
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
}
FAULTS = ("drop_request", "drop_response", "delay", "duplicate", "replay")


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class Plan:
    """The faults drawn for one request."""

    drop_request: bool = False
    drop_response: bool = False
    delay_seconds: float = 0.0
    duplicate: bool = False
    duplicate_concurrent: bool = False
    answer_with_second: bool = False
    replay: Captured | None = None
    replay_first: bool = False


@dataclass
class Upstream:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class FaultProxy:
    def __init__(
        self,
        target_url: str,
        *,
        seed: int = 0,
        drop_request: float = 0.0,
        drop_response: float = 0.0,
        delay: float = 0.0,
        max_delay_ms: int = 200,
        duplicate: float = 0.0,
        replay: float = 0.0,
        history: int = 32,
        fault_methods: tuple[str, ...] = ("POST",),
    ) -> None:
        for name, p in (
            ("drop_request", drop_request),
            ("drop_response", drop_response),
            ("delay", delay),
            ("duplicate", duplicate),
            ("replay", replay),
        ):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability, not {p}")
        self.target_url = target_url.rstrip("/")
        self.probabilities = {
            "drop_request": drop_request,
            "drop_response": drop_response,
            "delay": delay,
            "duplicate": duplicate,
            "replay": replay,
        }
        self.max_delay_ms = max(0, min(int(max_delay_ms), 10_000))
        self.fault_methods = {m.upper() for m in fault_methods}
        self.enabled = False
        self.counts: Counter[str] = Counter()
        self.replay_statuses: Counter[int] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._history: deque[Captured] = deque(maxlen=max(1, min(history, 1000)))
        # No cookie jar: a proxy passes its clients' cookies on, it keeps none.
        keeps_none = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.Client(
            timeout=UPSTREAM_TIMEOUT_SECONDS, follow_redirects=False, cookies=keeps_none
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        if self._server is not None:
            return self
        proxy = self

        class Handler(_Handler):
            pass

        Handler.proxy = proxy
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"faultproxy-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_faults(self, enabled: bool) -> None:
        self.enabled = enabled

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    # ------------------------------------------------------------ per request

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def _plan(self, request: Captured) -> Plan:
        """Draw every fault for one request under one lock, so that the draws
        follow the order in which requests arrive."""
        with self._lock:
            self.counts["requests"] += 1
            faulty = self.enabled and request.method in self.fault_methods
            earlier = list(self._history)
            if request.body and request.method in self.fault_methods:
                self._history.append(request)
            if not faulty:
                return Plan()
            rng, p = self._random, self.probabilities
            plan = Plan()
            # The same number of draws whatever the outcome keeps runs repeatable.
            draws = [rng.random() for _ in range(5)]
            extras = [rng.random() for _ in range(5)]
            if draws[0] < p["drop_request"]:
                plan.drop_request = True
            elif draws[1] < p["drop_response"]:
                plan.drop_response = True
            if draws[2] < p["delay"] and self.max_delay_ms:
                plan.delay_seconds = extras[0] * self.max_delay_ms / 1000
            if not plan.drop_request and draws[3] < p["duplicate"]:
                plan.duplicate = True
                plan.duplicate_concurrent = extras[1] < 0.5
                plan.answer_with_second = extras[2] < 0.5
            if earlier and draws[4] < p["replay"]:
                plan.replay = earlier[int(extras[3] * len(earlier))]
                plan.replay_first = extras[4] < 0.5
            return plan

    def _forward(self, request: Captured) -> Upstream:
        try:
            return self._send(self.target_url, request)
        except httpx.HTTPError as exc:
            return self._failed(exc)

    def _failed(self, exc: Exception) -> Upstream:
        self._count("upstream_errors")
        return Upstream(502, [("Content-Type", "text/plain")], f"proxy: {exc}".encode())

    def _send(self, target_url: str, request: Captured) -> Upstream:
        response = self._client.request(
            request.method,
            target_url + request.path,
            headers=list(request.headers),
            content=request.body,
        )
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server")
        ]
        return Upstream(response.status_code, headers, response.content)

    def _replay(self, captured: Captured) -> None:
        answer = self._forward(captured)
        with self._lock:
            self.counts["replay"] += 1
            self.replay_statuses[answer.status] += 1

    def handle(self, request: Captured) -> Upstream | None:
        """The answer to send back, or None to close the connection silently."""
        plan = self._plan(request)
        if plan.delay_seconds:
            self._count("delay")
            time.sleep(plan.delay_seconds)
        if plan.replay is not None and plan.replay_first:
            self._replay(plan.replay)
        if plan.drop_request:
            self._count("drop_request")
            answer = None
        elif plan.duplicate:
            self._count("duplicate")
            answer = self._forward_twice(request, plan)
        else:
            self._count("forwarded")
            answer = self._forward(request)
        if plan.replay is not None and not plan.replay_first:
            self._replay(plan.replay)
        if plan.drop_response and answer is not None:
            self._count("drop_response")
            return None
        return answer

    def _forward_twice(self, request: Captured, plan: Plan) -> Upstream:
        if plan.duplicate_concurrent:
            answers: list[Upstream | None] = [None, None]

            def send(index: int) -> None:
                answers[index] = self._forward(request)

            threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=UPSTREAM_TIMEOUT_SECONDS + 5)
            first = answers[0] or Upstream(502, body=b"proxy: no answer")
            second = answers[1] or Upstream(502, body=b"proxy: no answer")
        else:
            first = self._forward(request)
            second = self._forward(request)
        self._count("forwarded", 2)
        return second if plan.answer_with_second else first


class Balancer(FaultProxy):
    """A load balancer in front of one node's several `accord serve` processes
    (docs/operations.md): each request goes to the next process in turn; one
    that refuses the connection (it is down) is skipped, one that dies while
    answering costs that request a 502, as a real balancer answers then."""

    def __init__(self, *target_urls: str) -> None:
        super().__init__(target_urls[0])
        self.targets = [url.rstrip("/") for url in target_urls]
        self._turn = itertools.count()

    def _forward(self, request: Captured) -> Upstream:
        first = next(self._turn)
        for step in range(len(self.targets)):
            target = self.targets[(first + step) % len(self.targets)]
            try:
                return self._send(target, request)
            except httpx.ConnectError as exc:
                if step == len(self.targets) - 1:
                    return self._failed(exc)
            except httpx.HTTPError as exc:
                return self._failed(exc)
        raise AssertionError("unreachable: a balancer has at least one target")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    proxy: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the counters tell the story

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_REQUEST_BYTES:
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_REQUEST_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _proxy(self) -> None:
        body = self._read_body()
        if body is None:
            self.send_error(413, "request too large for the fault proxy")
            self.close_connection = True
            return
        headers = tuple((k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP)
        answer = self.proxy.handle(Captured(self.command, self.path, headers, body))
        if answer is None:
            self.close_connection = True  # nothing written: the client sees a dropped connection
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy
