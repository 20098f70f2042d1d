"""Sending evidence from the item page, the JSON API and the CLI: the same
service and rules (only the request's team, only to its partner, only once
the partner has the request), progress shown on the page and read through the
API without touching the custody chain."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.evidence.models import CustodyRecordRow, Transfer, TransferStatus
from accord.federation.models import MessageStatus, OutboxMessage
from tests.assistance.arrivals import submitted
from tests.evidence.world import add, make_people, make_request
from tests.federation.test_inbox_rejections import RemotePeer

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner(db) -> RemotePeer:
    return RemotePeer.create("us.pages")


@pytest.fixture
def item(users, partner):
    request = submitted(users, partner.peer)
    OutboxMessage.objects.filter(peer=partner.peer).update(status=MessageStatus.APPLIED)
    return add(users[Role.INVESTIGATOR], b"court order bytes", request=request)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_send_and_follow_through_the_api(users, item) -> None:
    client = client_of(users[Role.INVESTIGATOR])

    started = client.post(
        f"/api/v1/evidence/items/{item.pk}/send", {}, content_type="application/json"
    )

    assert started.status_code == 202, started.content
    [row] = started.json()["transfers"]
    assert (row["peer"], row["direction"], row["status"]) == ("us.pages", "out", "active")
    records = CustodyRecordRow.objects.filter(item=item).count()
    progress = client.get(f"/api/v1/evidence/items/{item.pk}/transfers")
    assert progress.status_code == 200
    assert progress.json()[0]["chunks"] == 1
    assert CustodyRecordRow.objects.filter(item=item).count() == records  # a read, no record
    again = client.post(
        f"/api/v1/evidence/items/{item.pk}/send", {}, content_type="application/json"
    )
    assert again.status_code == 409


def test_the_api_refuses_a_peer_that_is_not_the_partner(users, item) -> None:
    client = client_of(users[Role.INVESTIGATOR])
    RemotePeer.create("xx.elsewhere")
    for peer, status in (("xx.elsewhere", 409), ("absent.node", 422)):
        answer = client.post(
            f"/api/v1/evidence/items/{item.pk}/send",
            {"peer": peer},
            content_type="application/json",
        )
        assert answer.status_code == status, answer.content
    assert not Transfer.objects.exists()
    refused = AuditEvent.objects.filter(action="evidence:item:refused", data__action="send")
    assert refused.count() == 2


def test_off_the_team_the_item_is_not_there(users, item) -> None:
    outsider = make_people()["outsider"]
    answer = client_of(outsider).post(
        f"/api/v1/evidence/items/{item.pk}/send", {}, content_type="application/json"
    )
    assert answer.status_code == 404
    assert not Transfer.objects.exists()


def test_a_draft_requests_evidence_waits_for_its_submission() -> None:
    people = make_people()
    draft = make_request(people)
    draft_item = add(people["author"], b"bytes", request=draft)
    answer = client_of(people["author"]).post(
        f"/api/v1/evidence/items/{draft_item.pk}/send", {}, content_type="application/json"
    )
    assert answer.status_code == 409
    assert "submit it first" in answer.json()["detail"]


def test_the_item_page_offers_sending_and_shows_progress_in_chinese(users, item) -> None:
    reader = users[Role.INVESTIGATOR]
    reader.language = "zh-hans"
    reader.save(update_fields=["language"])
    client = client_of(reader)
    page = client.get(reverse("evidence:item", kwargs={"item_id": item.pk})).content.decode()
    assert 'data-testid="send"' in page and "发送给 us.pages" in page

    sent = client.post(reverse("evidence:send", kwargs={"item_id": item.pk}))

    assert sent.status_code == 302
    page = client.get(reverse("evidence:item", kwargs={"item_id": item.pk})).content.decode()
    assert 'data-status="active"' in page and "进行中" in page
    auditor = client_of(users[Role.AUDITOR])
    seen = auditor.get(reverse("evidence:item", kwargs={"item_id": item.pk})).content.decode()
    assert 'data-testid="transfers"' in seen and 'data-testid="send"' not in seen


def test_the_cli_sends_as_a_named_user(users, item) -> None:
    out, username = io.StringIO(), users[Role.INVESTIGATOR].username
    call_command("evidence", "send", str(item.pk), "--as", username, stdout=out)
    assert "to us.pages: 1 chunks" in out.getvalue()
    assert Transfer.objects.get(item=item).status == TransferStatus.ACTIVE
    with pytest.raises(CommandError, match="already on its way"):
        call_command("evidence", "send", str(item.pk), "--as", username)
