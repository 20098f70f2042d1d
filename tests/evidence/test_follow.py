"""Evidence added to a request after it went to the partner follows on its
own, in process (the two live nodes show it end to end in
test_late_items_live.py): started by the node once the item commits, by the
clock if the node stopped before; an item added before the submission waits
for it, one received from the partner is never sent back."""

from __future__ import annotations

import pytest

from accord.assistance import services as assistance
from accord.core.audit import Actor
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.evidence import transfer
from accord.evidence.models import Transfer, TransferStatus
from accord.federation.models import MessageStatus, OutboxMessage
from tests.assistance.arrivals import submitted
from tests.assistance.flow import request_body
from tests.evidence.transfer_kit import Partner
from tests.evidence.world import add
from tests.federation.test_inbox_rejections import RemotePeer

pytestmark = pytest.mark.django_db

DATA = b"a further court order\n" * 50


@pytest.fixture
def partner(db) -> Partner:
    return Partner(RemotePeer.create("us.follow"))


@pytest.fixture
def request_(users, partner):
    request = submitted(users, partner.remote.peer)
    OutboxMessage.objects.filter(peer=partner.remote.peer).update(status=MessageStatus.APPLIED)
    return request


def test_an_item_added_after_the_submission_goes_by_itself(
    users, request_, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        item = add(users[Role.INVESTIGATOR], DATA, request=request_)
    [row] = Transfer.objects.filter(item=item)
    assert (row.status, row.peer_id, row.started_by) == (
        TransferStatus.ACTIVE,
        request_.peer_id,
        None,
    )
    started = AuditEvent.objects.get(action="evidence:transfer:start", target_id=str(item.pk))
    assert started.actor == "system:evidence"
    assert transfer.tick()["followed"] == 0  # nothing left for the clock


def test_the_clock_sends_an_item_that_did_not_follow(users, request_) -> None:
    item = add(users[Role.INVESTIGATOR], DATA, request=request_)  # no commit: as if killed
    assert not Transfer.objects.filter(item=item).exists()
    assert transfer.tick()["followed"] == 1
    assert Transfer.objects.get(item=item).status == TransferStatus.ACTIVE
    assert transfer.tick()["followed"] == 0


def test_an_item_on_a_draft_waits_for_the_submission(
    users, partner, django_capture_on_commit_callbacks
) -> None:
    body = request_body("data_order", partner.node_id)
    body.pop("peer")
    draft = assistance.create_request(Actor.of(users[Role.INVESTIGATOR]), partner.remote.peer, body)
    with django_capture_on_commit_callbacks(execute=True):
        item = add(users[Role.INVESTIGATOR], DATA, request=draft)
    assert not Transfer.objects.filter(item=item).exists()
    assert transfer.tick()["followed"] == 0


def test_a_failed_transfer_is_not_started_again_by_itself(users, request_) -> None:
    item = add(users[Role.INVESTIGATOR], DATA, request=request_)
    assert transfer.tick()["followed"] == 1
    Transfer.objects.filter(item=item).update(status=TransferStatus.FAILED, reason="refused")
    assert transfer.tick()["followed"] == 0  # the team sends it again by hand
