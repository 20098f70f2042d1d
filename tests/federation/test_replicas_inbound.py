"""The reconciliation messages as they arrive (federation.replicas), in
process: the partner is played by the test through the real inbox. A snapshot
is applied only from the item's owner and only when it is a whole, consistent
copy; anything else is refused with a reason and changes nothing. A digest is
answered with this node's own copies and with requests for the owner's."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from accord.assistance import wire
from accord.assistance.models import AssistanceRequest
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation import replicas
from accord.federation.envelope import open_body
from accord.federation.models import Divergence, MessageStatus, OutboxMessage, Peer
from accord.federation.policy import ChannelRefused
from accord.federation.wire import ASK_KIND, DIGEST_KIND, SNAPSHOT_KIND
from tests.assistance.arrivals import arrive, submitted
from tests.federation.test_inbox_rejections import INBOX, RemotePeer, batch

pytestmark = pytest.mark.django_db

REPAIRED = "federation:replica:repaired"
REFUSED = "federation:inbox:refuse"


@pytest.fixture
def remote(db) -> RemotePeer:
    return RemotePeer.create("yy.replicas")


@pytest.fixture
def deliver(client, remote):
    def send(kind: str, body: dict[str, Any]) -> dict[str, Any]:
        envelope = remote.envelope(remote.next_in_seq(), body, kind=kind)
        response = client.post(
            INBOX, data=json.dumps(batch(envelope)), content_type="application/json"
        )
        assert response.status_code == 200, response.content
        [receipt] = response.json()["receipts"]
        return receipt

    return send


def delivered(users, remote: RemotePeer) -> AssistanceRequest:
    """A request this node asked of the partner, whose submission it applied."""
    request = submitted(users, remote.peer)
    OutboxMessage.objects.filter(pk=request.submit_message_id).update(status=MessageStatus.APPLIED)
    return request


def key(request: AssistanceRequest) -> str:
    return f"assistance.request:{request.pk}"


def sent(remote: RemotePeer, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(open_body(m.body, remote.encryption_key, this_node().encryption_public))
        for m in OutboxMessage.objects.filter(peer=remote.peer, kind=kind).order_by("seq")
    ]


def test_the_owners_snapshot_repairs_a_tampered_copy(users, remote, deliver) -> None:
    request = delivered(users, remote)
    owners = wire.shared_view(request)
    AssistanceRequest.objects.filter(pk=request.pk).update(summary="tampered", state="closed")

    receipt = deliver(SNAPSHOT_KIND, {"key": key(request), "view": owners})

    assert receipt["status"] == "applied", receipt
    request.refresh_from_db()
    assert wire.shared_view(request) == owners
    event = AuditEvent.objects.filter(action=REPAIRED).get()
    assert event.target_id == key(request) and event.data["peer"] == remote.node_id
    assert event.data["before"] != event.data["after"] == replicas.digest(owners)
    row = Divergence.objects.get(key=key(request))
    assert row.repaired and row.resolved_at is not None


def test_a_snapshot_from_a_node_that_does_not_own_the_item_is_refused(
    users, remote, deliver
) -> None:
    # The partner asked this node: this node orders every step, so it owns it.
    request = arrive(users, remote.peer)
    before = wire.shared_view(request)
    forged = {**before, "state": "withdrawn"}

    receipt = deliver(SNAPSHOT_KIND, {"key": key(request), "view": forged})

    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith("not_owner"), receipt
    request.refresh_from_db()
    assert wire.shared_view(request) == before
    assert not AuditEvent.objects.filter(action=REPAIRED).exists()


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda v: {k: x for k, x in v.items() if k != "state"}, "invalid_snapshot: state"),
        (lambda v: {**v, "state": "closed"}, "invalid_snapshot: the timeline"),
        (lambda v: {**v, "version": v["version"] + 1}, "invalid_snapshot: the timeline"),
        (lambda v: {**v, "requesting_node": "elsewhere"}, "invalid_snapshot: it names"),
        (lambda v: {**v, "extra": 1}, "invalid_snapshot: extra"),
        (lambda v: {**v, "content": {**v["content"], "urgency": "soon"}}, "invalid_snapshot"),
    ],
)
def test_a_malformed_snapshot_changes_nothing(users, remote, deliver, tamper, reason) -> None:
    request = delivered(users, remote)
    AssistanceRequest.objects.filter(pk=request.pk).update(summary="ours")
    request.refresh_from_db()
    before = wire.shared_view(request)
    owners = {**before, "content": {**before["content"], "summary": "theirs"}}

    receipt = deliver(SNAPSHOT_KIND, {"key": key(request), "view": tamper(owners)})

    assert receipt["status"] == "refused"
    assert receipt["reason"].startswith(reason), receipt["reason"]
    request.refresh_from_db()
    assert wire.shared_view(request) == before
    assert AuditEvent.objects.filter(action=REFUSED).exists()


def test_an_unknown_item_is_refused(remote, deliver) -> None:
    receipt = deliver(SNAPSHOT_KIND, {"key": "nothing.here:1", "view": {}})
    assert (receipt["status"], receipt["reason"]) == ("refused", "unknown_item: nothing.here:1")


def test_a_digest_is_answered_by_what_each_side_owns(users, remote, deliver) -> None:
    ours = [arrive(users, remote.peer) for _ in range(2)]  # this node owns them
    theirs = delivered(users, remote)  # the partner owns it
    in_step = arrive(users, remote.peer)
    entries = [
        # Ours, but the partner's copy differs: this node sends its own.
        {"key": key(ours[0]), "owner": "zz.here", "sha256": "0" * 64},
        # Theirs, and ours differs: this node asks for the partner's copy.
        {"key": key(theirs), "owner": remote.node_id, "sha256": "1" * 64},
        {"key": key(in_step), "owner": "zz.here", "sha256": ""},
    ]
    entries[0]["owner"] = entries[2]["owner"] = ours[0].requested_node
    entries[2]["sha256"] = replicas.digest(wire.shared_view(in_step))
    # ours[1] is missing from the digest though in its range: the partner lacks it.

    receipt = deliver(DIGEST_KIND, {"first": "", "last": replicas.END, "entries": entries})

    assert receipt["status"] == "applied", receipt
    snapshots = {body["key"]: body["view"] for body in sent(remote, SNAPSHOT_KIND)}
    assert set(snapshots) == {key(ours[0]), key(ours[1])}
    assert snapshots[key(ours[0])] == wire.shared_view(ours[0])
    assert sent(remote, ASK_KIND) == [{"keys": [key(theirs)]}]
    [row] = Divergence.objects.filter(resolved_at=None)
    assert (row.key, row.status, row.owner) == (key(theirs), "asked", remote.node_id)


def test_a_digest_part_compares_only_its_range(users, remote, deliver) -> None:
    requests = sorted((arrive(users, remote.peer) for _ in range(3)), key=key)
    first, last = key(requests[0]), key(requests[1])
    entries = [
        {"key": key(r), "owner": r.requested_node, "sha256": replicas.digest(wire.shared_view(r))}
        for r in requests[:2]
    ]

    deliver(DIGEST_KIND, {"first": first, "last": last, "entries": entries})

    # The third lies past the part's range: nothing is said about it.
    assert sent(remote, SNAPSHOT_KIND) == [] and sent(remote, ASK_KIND) == []


def test_reconcile_sends_the_digest_in_parts_covering_every_key(
    users, remote, system, monkeypatch
) -> None:
    monkeypatch.setattr(replicas, "PART_SIZE", 2)
    requests = [arrive(users, remote.peer) for _ in range(5)]

    assert replicas.reconcile(system, remote.peer) == 5

    parts = sent(remote, DIGEST_KIND)
    assert [len(p["entries"]) for p in parts] == [2, 2, 1]
    assert parts[0]["first"] == "" and parts[-1]["last"] == replicas.END
    listed = [e["key"] for p in parts for e in p["entries"]]
    assert sorted(listed) == sorted(key(r) for r in requests)
    for part in parts:
        assert all(part["first"] <= e["key"] <= part["last"] for e in part["entries"])
    for before, after in itertools.pairwise(parts):
        assert before["last"] < after["first"]


def test_an_ask_for_an_item_the_asker_owns_is_refused(users, remote, deliver) -> None:
    theirs = delivered(users, remote)
    receipt = deliver(ASK_KIND, {"keys": [key(theirs)]})
    assert receipt["status"] == "refused" and receipt["reason"].startswith("not_owner")
    assert sent(remote, SNAPSHOT_KIND) == []


def test_the_federation_page_compares_replicas_for_admins_only(client_for, remote) -> None:
    url = f"/federation/peers/{remote.node_id}/reconcile/"
    denied = client_for(Role.INVESTIGATOR).post(url)
    assert denied.status_code == 403
    assert sent(remote, DIGEST_KIND) == []
    assert AuditEvent.objects.filter(action="core:access:denied").exists()

    admin = client_for(Role.NODE_ADMIN)
    answer = admin.post(url, follow=True)

    assert answer.status_code == 200
    assert "is on its way" in answer.content.decode()
    assert len(sent(remote, DIGEST_KIND)) == 1
    assert AuditEvent.objects.filter(action="federation:replicas:check").count() == 1


def test_a_removed_peer_is_not_compared(client_for, remote, system) -> None:
    Peer.objects.filter(pk=remote.peer.pk).update(active=False)
    remote.peer.refresh_from_db()
    with pytest.raises(ChannelRefused):
        replicas.reconcile(system, remote.peer)
    answer = client_for(Role.NODE_ADMIN).post(
        f"/federation/peers/{remote.node_id}/reconcile/", follow=True
    )
    assert "is no longer a peer" in answer.content.decode()
    assert sent(remote, DIGEST_KIND) == []
    assert not AuditEvent.objects.filter(action="federation:replicas:check").exists()


def test_a_listed_item_found_equal_again_leaves_the_list_audited(users, remote, deliver) -> None:
    """Out of step, then the owner's copy turns out equal to this node's (the
    partner repaired its own, or a late message arrived): the item leaves the
    list with no repair here, and the change is audited."""
    request = delivered(users, remote)
    Divergence.objects.create(
        peer=remote.peer, key=key(request), owner=remote.peer.node_id, status="asked"
    )
    before = AuditEvent.objects.filter(action="federation:replica:in-step").count()

    receipt = deliver(SNAPSHOT_KIND, {"key": key(request), "view": wire.shared_view(request)})

    assert receipt["status"] == "applied", receipt
    listed = Divergence.objects.get(peer=remote.peer, key=key(request))
    assert listed.resolved_at is not None and not listed.repaired
    events = AuditEvent.objects.filter(action="federation:replica:in-step")
    assert events.count() == before + 1
    assert events.latest("id").target_id == key(request)
