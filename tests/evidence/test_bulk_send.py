"""A part's PUT with its body sent from the stored file by the kernel
(evidence.bulk_send), against a real HTTP server on loopback: the receiver
gets exactly the part's bytes with the headers the pusher signed, the
connection is kept for the next part, and a file cut short or a connection
that fails is reported as the pusher expects."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.evidence import blobs, bulk_send

DATA = bytes(range(256)) * 1000


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn does
    received: list[dict[str, Any]] = []

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        self.received.append(
            {
                "path": self.path,
                "body": body,
                "headers": dict(self.headers),
                "port": self.client_address[1],
            }
        )
        status, answer = (
            (422, {"reason": "bad_part_hash", "detail": "no"})
            if "refuse" in self.path
            else (200, {"status": "active"})
        )
        out = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Receiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/base"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture
def stored(tmp_path: Path) -> str:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    return str(path)


def test_parts_go_from_the_file_with_the_signed_headers_over_one_connection(server, stored):
    sender = bulk_send.PlainSender(server, timeout=10)
    try:
        for index, (offset, length) in enumerate([(0, 1000), (1000, 50_000), (51_000, 205_000)]):
            headers = {"Content-Length": str(length), "X-Accord-Test": f"part {index}"}
            status, answer = sender.put(f"/parts/{index}", headers, stored, offset, length)
            assert (status, answer) == (200, {"status": "active"})
    finally:
        sender.close()
    got = Receiver.received
    assert [r["path"] for r in got] == ["/base/parts/0", "/base/parts/1", "/base/parts/2"]
    assert [r["body"] for r in got] == [DATA[:1000], DATA[1000:51_000], DATA[51_000:256_000]]
    assert [r["headers"]["X-Accord-Test"] for r in got] == ["part 0", "part 1", "part 2"]
    assert len({r["port"] for r in got}) == 1  # kept alive between parts


def test_a_refusal_comes_back_as_the_receivers_answer(server, stored):
    sender = bulk_send.PlainSender(server, timeout=10)
    try:
        status, answer = sender.put("/refuse", {"Content-Length": "10"}, stored, 0, 10)
    finally:
        sender.close()
    assert (status, answer["reason"]) == (422, "bad_part_hash")


def test_a_stored_file_cut_short_is_damage_not_a_hang(server, stored):
    sender = bulk_send.PlainSender(server, timeout=5)
    try:
        with pytest.raises(blobs.Damaged):
            sender.put("/parts/9", {"Content-Length": "300000"}, stored, 0, 300_000)
    finally:
        sender.close()


def test_a_receiver_away_is_a_transport_error_to_try_again(stored):
    sender = bulk_send.PlainSender("http://127.0.0.1:9", timeout=5)  # nothing listens there
    with pytest.raises(httpx.TransportError):
        sender.put("/parts/0", {"Content-Length": "10"}, stored, 0, 10)


def test_only_plain_http_addresses_are_sent_this_way():
    assert bulk_send.PlainSender.for_peer("https://node.example/", 10) is None
    assert bulk_send.PlainSender.for_peer("http://127.0.0.1:8000", 10) is not None
