"""A response's files on the request page go in as streams (issue 14, #4): a
body declared over the limit is refused unread, with the reason, and one
within it becomes an evidence item without the worker holding the file in
memory. The body is fed from a file on disk, as a socket would, so what
tracemalloc counts is what the node allocates."""

from __future__ import annotations

import base64
import json
import os
import tracemalloc
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.test.client import ClientHandler

from accord.assistance import services
from accord.assistance.models import AssistanceRequest
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.evidence.models import EvidenceItem
from accord.federation.models import Peer
from tests.assistance.arrivals import arrive

pytestmark = pytest.mark.django_db

MB = 1_048_576
BOUNDARY = "accord-test-boundary"


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="us.uploads",
        url="http://127.0.0.1:9/",
        party="US",
        agency="DoJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def in_execution(users, peer) -> AssistanceRequest:
    request = arrive(users, peer, "data_order")
    central = Actor.of(users[Role.CENTRAL_AUTHORITY])
    for step in ("acknowledge", "start_screening", "accept", "begin_execution"):
        if step == "accept":
            services.record_finding(central, request, "dual_criminality", True, "Fraud in both")
        request.refresh_from_db()
        services.perform(central, request, step, version=request.version)
    request.refresh_from_db()
    return request


def multipart_file(folder: Path, request: AssistanceRequest, size: int) -> Path:
    """A respond step's form with one file of `size` bytes, written to disk."""
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (
            ("action", "respond"),
            ("version", str(request.version)),
            ("text", "The records"),
        )
    )
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="records.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    path = folder / "body"
    with path.open("wb") as out:
        out.write(head.encode())
        block = os.urandom(MB)
        for _ in range(size // MB):
            out.write(block)
        out.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    return path


def post_streamed(
    client: Client, url: str, body: Path, content_type: str = ""
) -> tuple[object, int]:
    """POST the body from its file; returns the response and the peak of what
    was allocated while the node handled it."""
    with body.open("rb") as stream:
        environ = client._base_environ(
            PATH_INFO=url,
            REQUEST_METHOD="POST",
            CONTENT_TYPE=content_type or f"multipart/form-data; boundary={BOUNDARY}",
            CONTENT_LENGTH=str(body.stat().st_size),
            **{"wsgi.input": stream},
        )
        tracemalloc.start()
        try:
            response = ClientHandler(enforce_csrf_checks=False)(environ)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return response, peak


def test_a_response_file_over_the_limit_is_refused_unread(users, peer, settings, tmp_path):
    settings.EVIDENCE_MAX_ITEM_BYTES = 2 * MB
    request = in_execution(users, peer)
    client = Client()
    client.force_login(users[Role.CENTRAL_AUTHORITY])
    body = multipart_file(tmp_path, request, 40 * MB)
    url = f"/requests/{request.pk}/step/"
    response, peak = post_streamed(client, url, body)
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("larger than this node accepts" in m for m in said), said
    assert peak < 10 * MB, peak  # generous: the 40 MB were never read
    request.refresh_from_db()
    assert request.state == "in_execution" and not EvidenceItem.objects.exists()
    refusal = AuditEvent.objects.filter(action=AuditAction.EVIDENCE_REFUSED).latest("seq")
    assert refusal.data["status"] == 413 and refusal.data["request"] == request.reference


def test_a_response_file_is_streamed_into_an_evidence_item(users, peer, settings, tmp_path):
    settings.EVIDENCE_TRANSFER_WINDOW = 1  # what the transfer holds: one chunk
    request = in_execution(users, peer)
    client = Client()
    client.force_login(users[Role.CENTRAL_AUTHORITY])
    size = 40 * MB
    response, peak = post_streamed(
        client, f"/requests/{request.pk}/step/", multipart_file(tmp_path, request, size)
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "responded"
    item = EvidenceItem.objects.get(request=request)
    assert (item.name, item.size) == ("records.bin", size)
    assert [(f.name, f.sha256) for f in request.files.all()] == [("records.bin", item.sha256)]
    assert item.transfers.get().peer == peer
    assert peak < size // 4, peak  # generous: a whole-file read would be 40 MB


def test_a_json_body_over_the_limit_is_refused_unread_with_the_way_out(users, peer, tmp_path):
    request = in_execution(users, peer)
    client = Client()
    client.force_login(users[Role.CENTRAL_AUTHORITY])
    body = tmp_path / "body.json"
    with body.open("wb") as out:
        out.write(b'{"action": "respond", "version": 1, "attachments": [{"data_base64": "')
        for _ in range(40):
            out.write(b"A" * MB)
        out.write(b'"}]}')
    url = f"/api/v1/assistance/requests/{request.pk}/actions"
    response, peak = post_streamed(client, url, body, "application/json")
    assert response.status_code == 413
    assert "evidence items of the request" in json.loads(response.content)["detail"]
    assert peak < 10 * MB, peak
