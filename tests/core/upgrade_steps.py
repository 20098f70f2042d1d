"""The two halves of the upgrade test that run inside a node's own process
(`python -m tests.core.upgrade_steps old|check`): fill a database migrated to
the previous release's migrations through the historical models, the way a
data migration sees them; then, after `accord migrate`, read it back through
today's code. Each prints one JSON document for the test to compare."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import django

# The leaf migration of every app at the previous release (tests/core/test_upgrade.py
# names the commit): what a node upgraded from that release holds.
PREVIOUS_RELEASE = [
    ("assistance", "0004_request_case"),
    ("cases", "0002_import_jobs"),
    ("core", "0003_audit_staged_reads"),
    ("dialogue", "0001_initial"),
    ("evidence", "0003_transfers"),
    ("federation", "0004_replicas"),
    ("intel", "0005_seal_subscription_secrets"),
    ("matching", "0003_answer_version"),
]
PEER = "us.upgrade"
NOTES_OUT, NOTES_IN, PENDING_OUT = 3, 4, 2
FILE_BYTES = b"account,amount\n6222-0000,100\n"


def fill() -> dict[str, Any]:
    """Migrate to the previous release and write one of everything a working node holds."""
    from django.conf import settings
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from nacl.public import PrivateKey

    from accord.core.audit import GENESIS_HASH, compute_hash

    executor = MigrationExecutor(connection)
    executor.migrate(PREVIOUS_RELEASE)
    executor.loader.build_graph()
    apps = executor.loader.project_state(PREVIOUS_RELEASE).apps
    now = datetime.now(UTC)

    User = apps.get_model("core", "User")
    officer = User.objects.create(username="officer", password="!", role="investigator")

    Peer = apps.get_model("federation", "Peer")
    public = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    peer = Peer.objects.create(
        node_id=PEER,
        url="http://127.0.0.1:9",
        party="United States",
        agency="Department of Justice",
        signing_key=public,
        encryption_key=public,
        fingerprint="ab" * 32,
        next_out_seq=NOTES_OUT + PENDING_OUT + 1,
        next_in_seq=NOTES_IN + 1,
    )
    Outbox = apps.get_model("federation", "OutboxMessage")
    Inbox = apps.get_model("federation", "InboxMessage")
    Note = apps.get_model("federation", "Note")
    for seq in range(1, NOTES_OUT + PENDING_OUT + 1):
        delivered = seq <= NOTES_OUT
        message = Outbox.objects.create(
            id=uuid.uuid4(),
            peer=peer,
            seq=seq,
            kind="core.note",
            body=f"sealed-{seq}",
            body_sha256=hashlib.sha256(f"sealed-{seq}".encode()).hexdigest(),
            status="applied" if delivered else "pending",
            delivered_at=now if delivered else None,
            receipt={"message_id": "x", "seq": seq} if delivered else None,
        )
        Note.objects.create(
            direction="out",
            peer=peer,
            message_id=message.id,
            author=officer,
            author_name="Officer",
            subject=f"out {seq}",
            text="text",
            language="en",
        )
    for seq in range(1, NOTES_IN + 1):
        message_id = uuid.uuid4()
        Inbox.objects.create(
            id=message_id,
            peer=peer,
            seq=seq,
            kind="core.note",
            body_sha256="cd" * 32,
            received_at=now,
            status="applied",
            receipt={"message_id": str(message_id), "seq": seq},
            envelope={"id": str(message_id), "seq": seq},
        )
        Note.objects.create(
            direction="in",
            peer=peer,
            message_id=message_id,
            author_name="Agent",
            subject=f"in {seq}",
            text="text",
            language="en",
        )

    Request = apps.get_model("assistance", "AssistanceRequest")
    request = Request.objects.create(
        id=uuid.uuid4(),
        reference="CN-2026-UPGRADE",
        requesting_node="xx.test",
        requested_node=PEER,
        outgoing=True,
        peer=peer,
        request_type="stored_data",
        legal_basis="bilateral",
        requesting_authority="Ministry",
        central_authority="Central",
        summary="Fraud ring",
        purpose="Evidence",
        urgency="standard",
        language="en",
        signer="Officer",
        state="submitted",
        version=2,
        created_at=now,
    )
    Event = apps.get_model("assistance", "RequestEvent")
    for version, (action, before, after) in enumerate(
        [("create", "", "draft"), ("submit", "draft", "submitted")], start=1
    ):
        Event.objects.create(
            request=request,
            version=version,
            action=action,
            from_state=before,
            to_state=after,
            side="requesting",
            actor_name="Officer",
            actor_role="investigator",
            at=now,
        )
    # A response file stored the old way (in clear, in the data directory):
    # the upgrade moves it into evidence.
    digest = hashlib.sha256(FILE_BYTES).hexdigest()
    apps.get_model("assistance", "ResponseFile").objects.create(
        request=request,
        version=2,
        name="accounts.csv",
        content_type="text/csv",
        size=len(FILE_BYTES),
        sha256=digest,
    )
    folder = Path(settings.DATA_DIR) / "assistance-files"
    folder.mkdir(exist_ok=True)
    (folder / digest).write_bytes(FILE_BYTES)

    Case = apps.get_model("cases", "Case")
    case = Case.objects.create(
        id=uuid.uuid4(),
        reference="CASE-UPGRADE",
        title="Fraud ring",
        title_language="en",
        created_at=now,
    )
    Observable = apps.get_model("cases", "Observable")
    for value in ("6222-0000", "fraud@example.com"):
        Observable.objects.create(case=case, code="other", normal=value, display=value)
    request.case_id = case.pk
    request.save(update_fields=["case"])

    Collection = apps.get_model("intel", "Collection")
    collection = Collection.objects.get(alias="shared")
    Stix = apps.get_model("intel", "StixObject")
    stix_id = f"indicator--{uuid.uuid4()}"
    for version in (now - timedelta(days=1), now):
        stamp = version.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        Stix.objects.create(
            collection=collection,
            stix_id=stix_id,
            stix_type="indicator",
            spec_version="2.1",
            version=stamp,
            date_added=version,
            body=json.dumps({"id": stix_id, "type": "indicator", "modified": stamp}),
        )

    Head = apps.get_model("core", "AuditHead")
    Event = apps.get_model("core", "AuditEvent")
    head, _ = Head.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
    for index in range(5):
        event = Event(
            at=now + timedelta(microseconds=index),
            actor="system:upgrade-test",
            action="note.send",
            target_type="federation.peer",
            target_id=PEER,
            data={"n": index},
        )
        event.seq, event.prev_hash = head.seq + 1, head.hash
        event.hash = compute_hash(event)
        event.save()
        head.seq, head.hash = event.seq, event.hash
    head.save()
    return {"audit_head": head.seq, "case": str(case.pk), "stix_id": stix_id, "file": digest}


def check() -> dict[str, Any]:
    """Read the upgraded database through today's code."""
    from django.db import transaction

    from accord.assistance.models import AssistanceRequest
    from accord.core import audit
    from accord.core.audit import Actor, AuditAction
    from accord.evidence.models import EvidenceItem
    from accord.federation import outbox
    from accord.federation.models import InboxMessage, MessageStatus, Note, OutboxMessage, Peer
    from accord.federation.wire import PingBody
    from accord.intel.models import StixObject

    peer = Peer.objects.get(node_id=PEER)
    request = AssistanceRequest.objects.get(reference="CN-2026-UPGRADE")
    before = {
        "next_out_seq": peer.next_out_seq,
        "next_in_seq": peer.next_in_seq,
        "outbox": list(OutboxMessage.objects.filter(peer=peer).values_list("seq", "status")),
        "inbox": list(InboxMessage.objects.filter(peer=peer).values_list("seq", flat=True)),
        "notes": sorted(Note.objects.values_list("direction", "subject")),
        "request": [request.state, request.version, request.case.reference],
        "steps": list(request.events.values_list("version", "action", "to_state")),
        "observables": sorted(request.case.observables.values_list("normal", flat=True)),
        "stix_versions": StixObject.objects.filter(stix_type="indicator").count(),
        "evidence": list(EvidenceItem.objects.values_list("sha256", "size")),
        "verify": audit.verify().ok,
    }
    # The channel goes on where it stood: the next message takes the next seq.
    with transaction.atomic():
        message = outbox.enqueue(peer, "core.ping", PingBody(n=1))
        audit.record(Actor.system("upgrade-test"), AuditAction.PING_SEND, peer)
    before["new_seq"] = message.seq
    before["pending"] = list(
        OutboxMessage.objects.filter(peer=peer, status=MessageStatus.PENDING)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    before["verify_after"] = audit.verify().ok
    return before


if __name__ == "__main__":
    django.setup()
    step = {"old": fill, "check": check}[sys.argv[1]]
    print(json.dumps(step(), default=str))
