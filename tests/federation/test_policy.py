"""The federation policy: the permission table decides who may manage the
channel and who may correspond, and a removed peer is not removed again. The
pages offer exactly what it allows."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import PermissionDenied
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from accord.core.audit import Actor, AuditAction
from accord.core.identity import key_fingerprint
from accord.core.models import AuditEvent
from accord.core.policy import CONFLICT, FORBIDDEN
from accord.core.roles import Role
from accord.federation import peering
from accord.federation.models import Peer
from accord.federation.policy import Action, ChannelRefused, allowed

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer() -> Peer:
    signing = bytes(SigningKey.generate().verify_key)
    return Peer.objects.create(
        node_id="us.policy",
        url="http://127.0.0.1:9",
        signing_key=base64.b64encode(signing).decode(),
        encryption_key=base64.b64encode(bytes(PrivateKey.generate().public_key)).decode(),
        fingerprint=key_fingerprint(signing),
    )


@pytest.mark.parametrize("action", [Action.ADD_PEER, Action.RETRY, Action.VIEW_CHANNEL])
def test_only_the_node_administrator_manages_the_channel(users, action):
    assert allowed(users[Role.NODE_ADMIN], action) is None
    refusal = allowed(users[Role.INVESTIGATOR], action)
    assert refusal is not None and refusal.status == FORBIDDEN


def test_correspondents_send_notes_and_auditors_do_not(users):
    assert allowed(users[Role.ANALYST], Action.SEND_NOTE) is None
    assert allowed(users[Role.AUDITOR], Action.SEND_NOTE) is not None


def test_the_operator_at_the_shell_may_do_everything(peer):
    assert all(allowed(None, action, peer) is None for action in Action)


def test_removing_a_removed_peer_is_refused_and_audited(system, peer):
    peering.remove_peer(system, peer)
    peer.refresh_from_db()
    refusal = allowed(None, Action.REMOVE_PEER, peer)
    assert refusal is not None and refusal.status == CONFLICT
    with pytest.raises(ChannelRefused):
        peering.remove_peer(system, peer)
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == AuditAction.ACCESS_DENIED
    assert event.data["what"] == "remove_peer"


def test_a_refused_permission_is_audited_before_anything_changes(users, peer):
    with pytest.raises(PermissionDenied):
        peering.remove_peer(Actor.of(users[Role.ANALYST]), peer)
    peer.refresh_from_db()
    assert peer.active
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.data == {"what": "remove_peer"}


def test_the_channel_page_offers_removal_only_for_active_peers(client_for, peer):
    Peer.objects.create(node_id="us.gone", url="http://127.0.0.1:9", active=False)
    page = client_for(Role.NODE_ADMIN).get("/federation/").content.decode()
    assert "/federation/peers/us.policy/remove/" in page
    assert "/federation/peers/us.gone/remove/" not in page
