"""A part's bytes sent from the stored file by the kernel (docs/evidence.md
7.6, "The sender").

The parts are the stored ciphertext as it lies, so over plain HTTP the body
of a part's PUT needs no pass through the sender's memory: `sendfile` hands
the file's pages to the socket, and the pusher's thread only writes the
signed headers and reads the answer. That leaves the sender's share of the
machine to the receiver, which has the work to do (authenticating, writing
and hashing every byte). Over HTTPS (the bytes must be encrypted in this
process) or from a storage that is not a local folder, the pusher streams
the part through httpx as before. One kept-alive connection per pusher
thread; any error closes it and is reported as httpx's TransportError, so
the pusher tries the part again as it does any transient failure."""

from __future__ import annotations

import http.client
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.utils.translation import gettext as _

from accord.evidence import blobs
from accord.evidence.models import Blob


def local_file(blob: Blob) -> str | None:
    """The stored file's path where the storage is a local folder."""
    try:
        return str(blobs.storage().path(blob.storage_name))
    except NotImplementedError:
        return None


class PlainSender:
    """PUTs of parts to a peer at an http:// address, bodies by sendfile."""

    def __init__(self, base: str, timeout: float) -> None:
        url = urlsplit(base)
        if url.scheme != "http" or not url.hostname:
            raise ValueError("only a plain http:// address")
        self.host, self.port, self.prefix = url.hostname, url.port or 80, url.path.rstrip("/")
        self.timeout = timeout
        self.local = threading.local()
        self.opened: list[http.client.HTTPConnection] = []
        self.guard = threading.Lock()

    @classmethod
    def for_peer(cls, base: str, timeout: float) -> PlainSender | None:
        return cls(base, timeout) if urlsplit(base).scheme == "http" else None

    def put(
        self, path: str, headers: dict[str, str], file: str, offset: int, length: int
    ) -> tuple[int, Any]:
        """(status, JSON answer or None) of the PUT of bytes [offset,
        offset + length) of `file`; headers must carry Content-Length."""
        conn = self._connection()
        try:
            conn.putrequest("PUT", self.prefix + path, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            with open(file, "rb") as handle:
                assert conn.sock is not None
                sent = conn.sock.sendfile(handle, offset, length)
            if sent != length:
                self._drop(conn)
                raise blobs.Damaged(_("The stored bytes of this item are cut short."))
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(conn)
            raise httpx.TransportError(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            self._drop(conn)
        return response.status, _json(body)

    def close(self) -> None:
        with self.guard:
            opened, self.opened = self.opened, []
        for conn in opened:
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
            with self.guard:
                self.opened.append(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self.local.conn = None
        with self.guard:
            if conn in self.opened:
                self.opened.remove(conn)


def _json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body)
    except ValueError:
        return None


__all__ = ["PlainSender", "local_file"]
