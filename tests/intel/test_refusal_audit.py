"""Every refused intel action leaves an audit event, as in every other app
(issue 11): a partner's collection shared onward (409, through the service
and the CLI), and a TAXII account reaching past its grants (403 for a write
it may not make, 404 for a collection it holds no right on). The refusal's
record survives the refusal, and nothing else changes.

In process, against the TAXII views through Django's test client."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.federation.models import Peer
from accord.intel import accounts
from accord.intel.ingest import ingest
from accord.intel.models import Collection, Share, Status, StixObject
from accord.intel.policy import IntelRefused
from accord.intel.store import mirror_for
from accord.intel.sync import share

pytestmark = pytest.mark.django_db

REFUSED = AuditAction.INTEL_REFUSED
CLI = Actor.system("cli")
TAXII = "application/taxii+json;version=2.1"
TIME = "2024-01-01T00:00:00.000Z"


def peer() -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="us.doj",
        url="http://127.0.0.1:9/",
        party="United States",
        agency="DOJ",
        signing_key=key,
        encryption_key=key,
        fingerprint="1" * 64,
    )


def indicator(n: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=n, version=4)}",
        "created": TIME,
        "modified": TIME,
        "name": f"Indicator {n}",
        "pattern": f"[ipv4-addr:value = '198.51.100.{n}']",
        "pattern_type": "stix",
        "valid_from": TIME,
    }


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=REFUSED).order_by("seq"))


def everything() -> dict[str, int]:
    """What a refused action must leave as it was."""
    return {
        "shares": Share.objects.count(),
        "objects": StixObject.objects.count(),
        "statuses": Status.objects.count(),
    }


def test_sharing_a_partners_collection_onward_is_refused_and_audited():
    other = peer()
    theirs = mirror_for(other, str(uuid.uuid4()), "Their indicators")
    before = everything()

    with pytest.raises(IntelRefused, match="not shared onward"):
        share(CLI, theirs, other)

    [event] = refusals()
    assert event.actor == "system:cli"
    assert event.target_id == str(theirs.pk)
    assert event.data == {
        "what": "share_collection",
        "reason": "A partner's collection is not shared onward.",
        "status": 409,
    }
    assert everything() == before


def test_the_operator_refused_at_the_shell_is_audited_too():
    other = peer()
    theirs = mirror_for(other, str(uuid.uuid4()), "Their indicators")
    with pytest.raises(CommandError, match="not shared onward"):
        call_command("intel", "share", theirs.alias, other.node_id)
    [event] = refusals()
    assert event.actor == "system:cli" and event.data["status"] == 409
    assert not Share.objects.exists()


@pytest.fixture
def read_only() -> dict[str, str]:
    """A partner tool's account that may read `shared` and write nothing."""
    account = accounts.add_account(CLI, "ro-tool", "", read=["shared"], write=[])
    return {"HTTP_AUTHORIZATION": "Bearer " + accounts.issue_token(CLI, account)}


def objects_url(collection: Collection) -> str:
    return f"/taxii2/api1/collections/{collection.pk}/objects/"


def test_a_taxii_write_the_account_may_not_make_is_refused_and_audited(client: Client, read_only):
    shared = Collection.objects.get(alias="shared")
    before = everything()

    answer = client.post(
        objects_url(shared),
        data=json.dumps({"objects": [indicator(1)]}),
        content_type=TAXII,
        HTTP_ACCEPT=TAXII,
        **read_only,
    )

    assert answer.status_code == 403
    [event] = refusals()
    assert event.actor == "taxii:ro-tool"
    assert event.target_id == str(shared.pk)
    assert event.data["what"] == "taxii_write" and event.data["status"] == 403
    assert "may not write" in event.data["reason"]
    assert everything() == before


def test_a_taxii_delete_the_account_may_not_make_is_refused_and_audited(client: Client, read_only):
    shared = Collection.objects.get(alias="shared")
    ingest(shared, [indicator(2)], None, CLI)
    before = everything()

    answer = client.delete(
        objects_url(shared) + indicator(2)["id"] + "/", HTTP_ACCEPT=TAXII, **read_only
    )

    assert answer.status_code == 403
    [event] = refusals()
    assert event.data["what"] == "taxii_write" and event.data["status"] == 403
    assert everything() == before


def test_a_collection_the_account_holds_no_right_on_is_not_found_and_audited(
    client: Client, read_only
):
    hidden = Collection.objects.create(id=uuid.uuid4(), alias="hidden", title="Hidden")
    answer = client.get(objects_url(hidden), HTTP_ACCEPT=TAXII, **read_only)
    assert answer.status_code == 404
    [event] = refusals()
    assert event.target_id == str(hidden.pk)
    assert event.data["what"] == "taxii_read" and event.data["status"] == 404
    # A collection that does not exist at all is no refusal: nothing to record.
    missing = Collection(id=uuid.uuid4())
    assert client.get(objects_url(missing), HTTP_ACCEPT=TAXII, **read_only).status_code == 404
    assert len(refusals()) == 1
