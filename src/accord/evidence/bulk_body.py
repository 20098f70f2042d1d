"""A part's body read straight into the receiver's buffer (docs/evidence.md
7.6, "Checking a part").

Every byte of a bulk item arrives in a part's body, so how its bytes get
from the socket to the partial file is the receiver's cost per byte.
Read through the WSGI stream, each stored chunk passes through gunicorn's
buffers and Django's stream: several copies of every byte, each into newly
allocated memory, all while holding the interpreter's lock. Under gunicorn
(the server `accord serve` runs), `readinto` here takes the bytes gunicorn
has already read ahead, then receives the rest of the body into the
caller's buffer; the lock is free while the kernel copies. It counts what it
takes against the body's length as gunicorn's own reader does, so the
connection is kept or closed exactly as it would be. Under any other server
(the test client, a development server) it reads the request's stream."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

ReadInto = Callable[[memoryview], int]


def reader(request: HttpRequest) -> ReadInto:
    """`readinto(view) -> count` for the request's body, 0 at its end."""
    direct = _gunicorn_body(request.META.get("wsgi.input"))
    if direct is not None:
        return direct.readinto
    return StreamReader(request).readinto


def fill(readinto: ReadInto, view: memoryview) -> int:
    """Fill `view` from `readinto`; fewer bytes only at the end of the body."""
    done = 0
    while done < len(view):
        count = readinto(view[done:])
        if not count:
            break
        done += count
    return done


class StreamReader:
    """Any file-like stream with `read`, through its own buffers."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def readinto(self, view: memoryview) -> int:
        data = self.stream.read(len(view))
        view[: len(data)] = data
        return len(data)


class SocketBody:
    """A gunicorn request body of known length, received into the caller's
    memory: first what gunicorn holds already, then from the socket."""

    def __init__(self, body: Any) -> None:
        self.body, self.reader, self.unreader = body, body.reader, body.reader.unreader
        # What the application's reads left in the body's own buffer is
        # counted off the length already; it comes first.
        self.pending = memoryview(body.buf.getvalue())
        body.buf = io.BytesIO()

    def readinto(self, view: memoryview) -> int:
        if self.pending:
            count = min(len(view), len(self.pending))
            view[:count] = self.pending[:count]
            self.pending = self.pending[count:]
            return count
        want = min(len(view), self.reader.length)
        if want <= 0:
            return 0
        try:
            count = self._buffered(view[:want]) or self.unreader.sock.recv_into(view[:want])
        except Exception:
            self.body.failed = True  # where the next request starts is unknown
            raise
        if not count:
            self.body.failed = True
        self.reader.length -= count
        return count

    def _buffered(self, view: memoryview) -> int:
        """Bytes gunicorn read ahead of the body's reader (never beyond the body)."""
        held = self.unreader.buf
        held.seek(0, io.SEEK_END)
        if not held.tell():
            return 0
        data = held.getvalue()
        count = min(len(view), len(data))
        view[:count] = data[:count]
        self.unreader.buf = io.BytesIO()
        self.unreader.buf.write(data[count:])
        return count


def _gunicorn_body(body: Any) -> SocketBody | None:
    """The direct reader where the body is gunicorn's, of a known length over
    a plain or TLS socket; None otherwise (then the stream is read)."""
    try:
        from gunicorn.http.body import Body, LengthReader
        from gunicorn.http.unreader import SocketUnreader
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        return None
    if type(body) is not Body or type(body.reader) is not LengthReader:
        return None
    if type(body.reader.unreader) is not SocketUnreader:
        return None
    if not isinstance(getattr(body, "buf", None), io.BytesIO):
        return None
    return SocketBody(body)


__all__ = ["ReadInto", "SocketBody", "StreamReader", "fill", "reader"]
