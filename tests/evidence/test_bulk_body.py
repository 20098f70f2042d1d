"""A part's body read straight from gunicorn's socket (evidence.bulk_body):
the bytes gunicorn holds already come first, the rest from the socket, the
body's length is counted as gunicorn counts it, and nothing past the body
(a pipelined next request) is taken."""

from __future__ import annotations

import io
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from accord.evidence import bulk_body

BODY = bytes(range(256)) * 4096  # 1 MiB
NEXT = b"GET /next HTTP/1.1\r\n\r\n"


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


def gunicorn_body(sock: socket.socket, length: int) -> Body:
    return Body(LengthReader(SocketUnreader(sock), length))


def send_later(sock: socket.socket, data: bytes) -> threading.Thread:
    thread = threading.Thread(target=sock.sendall, args=(data,))
    thread.start()
    return thread


def read_all(readinto: bulk_body.ReadInto, size: int, step: int) -> bytes:
    """`size` bytes read `step` at a time, as the part's writer reads them."""
    out = bytearray()
    view = memoryview(bytearray(step))
    while len(out) < size:
        count = bulk_body.fill(readinto, view[: min(step, size - len(out))])
        if not count:
            break
        out += view[:count]
    return bytes(out)


@pytest.mark.parametrize("step", [1000, 65_536, 1_048_592])
def test_the_body_comes_whole_whatever_gunicorn_read_ahead(pair, step) -> None:
    left, right = pair
    body = gunicorn_body(right, len(BODY))
    sender = send_later(left, BODY + NEXT)
    # The application (or gunicorn) read a little through the stream already,
    # so some bytes sit in the body's buffer and some in the unreader's.
    first = body.read(10)
    assert body.buf.tell() and body.reader.unreader.buf.tell()
    reader = bulk_body._gunicorn_body(body)
    assert reader is not None
    rest = read_all(reader.readinto, len(BODY) - 10, step)
    sender.join()
    assert first + rest == BODY
    assert body.reader.length == 0  # counted as gunicorn counts it: the connection is reusable
    assert not body.failed
    # What follows the body is still the next request's.
    assert body.reader.unreader.read(len(NEXT)) == NEXT


def test_a_body_cut_short_marks_the_connection_unusable(pair) -> None:
    left, right = pair
    body = gunicorn_body(right, len(BODY))
    left.sendall(BODY[:5000])
    left.shutdown(socket.SHUT_WR)
    reader = bulk_body._gunicorn_body(body)
    assert reader is not None
    view = memoryview(bytearray(len(BODY)))
    assert bulk_body.fill(reader.readinto, view) == 5000
    assert bytes(view[:5000]) == BODY[:5000]
    assert body.failed


def test_any_other_stream_is_read_through_its_own_buffers() -> None:
    assert bulk_body._gunicorn_body(io.BytesIO(BODY)) is None
    reader = bulk_body.StreamReader(io.BytesIO(BODY))
    assert read_all(reader.readinto, len(BODY), 4096) == BODY
