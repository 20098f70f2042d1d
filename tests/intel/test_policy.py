"""The intel policy: who may do what is read from the permission table, a
partner's collection is not passed on, and a TAXII account reaches only the
collections its grants name. Services enforce the same answers."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from django.core.exceptions import PermissionDenied

from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.core.policy import CONFLICT, FORBIDDEN
from accord.core.roles import ROLE_PERMISSIONS, Role
from accord.federation.models import Peer
from accord.intel import policy
from accord.intel.exports import export_bundle
from accord.intel.models import Account, Collection, Grant
from accord.intel.policy import Action, IntelRefused, allowed
from accord.intel.store import mirror_for
from accord.intel.sync import share

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize("action", list(Action))
def test_each_role_may_act_exactly_when_the_permission_table_says(users, action):
    shared = Collection.objects.get(alias="shared")
    for role, user in users.items():
        refusal = allowed(user, action, shared)
        holds = policy.PERMISSIONS[action] in ROLE_PERMISSIONS[role]
        assert (refusal is None) == holds, (role, action)
        if refusal is not None:
            assert refusal.status == FORBIDDEN


def test_the_operator_at_the_shell_may_do_everything():
    shared = Collection.objects.get(alias="shared")
    assert all(allowed(Actor.system("cli"), action, shared) is None for action in Action)


def test_a_partners_collection_is_not_shared_onward():
    other = peer()
    theirs = mirror_for(other, str(uuid.uuid4()), "Their indicators")
    refusal = allowed(Actor.system("cli"), Action.SHARE, theirs)
    assert refusal is not None and refusal.status == CONFLICT
    with pytest.raises(IntelRefused, match="not shared onward"):
        share(Actor.system("cli"), theirs, other)
    assert allowed(Actor.system("cli"), Action.UNSHARE, theirs) is None


def test_a_user_without_the_permission_is_refused_by_the_service_and_audited(users):
    shared = Collection.objects.get(alias="shared")
    with pytest.raises(PermissionDenied):
        export_bundle(shared, Actor.of(users[Role.AUDITOR]))
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.data == {"what": Action.EXPORT.value}
    assert not AuditEvent.objects.filter(action=AuditAction.INTEL_EXPORT).exists()


def test_a_taxii_account_reaches_only_what_its_grant_names():
    shared = Collection.objects.get(alias="shared")
    account = Account.objects.create(name="tool")
    missing = policy.reach(account, shared)
    assert missing is not None and missing.status == 404
    Grant.objects.create(account=account, collection=shared, can_read=True)
    assert policy.reach(account, shared) is None
    read_only = policy.reach(account, shared, write=True)
    assert read_only is not None and read_only.status == 403
    assert "may not write" in read_only.reason
    assert policy.collections_for(account) == [(shared, True, False)]
