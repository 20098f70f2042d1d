"""The dialogue policy in one place: `allowed` answers from the permission
table and the authorship rules, and the services refuse exactly what it
refuses (tests/test_object_authorization.py checks the pages offer exactly
what it allows)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accord.core.policy import Refused
from accord.core.roles import ROLE_PERMISSIONS, Role
from accord.dialogue import export, signing
from accord.dialogue.policy import PERMISSIONS, Action, NotYours, allowed
from tests.dialogue.conftest import Record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_a_role_may_do_what_the_permission_table_gives_it(users, role, action):
    refusal = allowed(users[role], action)
    assert (refusal is None) == (PERMISSIONS[action] in ROLE_PERMISSIONS[role])


def test_this_node_changes_only_what_it_authors(record: Record, users):
    ca = users[Role.CENTRAL_AUTHORITY]
    assert allowed(ca, Action.SAVE_ROUND, record.round1) is None
    assert "other side keeps" in str(allowed(ca, Action.SAVE_ROUND, record.round2))
    assert allowed(ca, Action.SAVE_ROUND, record.dialogue) is None  # a new round
    assert allowed(ca, Action.AMEND_OUTCOME, record.agreed) is None
    assert "proposed an outcome amends" in str(allowed(ca, Action.AMEND_OUTCOME, record.theirs))
    assert allowed(ca, Action.REPORT_COMMITMENT, record.we_owe) is None
    assert "owes a commitment" in str(allowed(ca, Action.REPORT_COMMITMENT, record.they_owe))


def test_this_node_signs_the_latest_version_once(record: Record, users):
    ca = users[Role.CENTRAL_AUTHORITY]
    assert allowed(ca, Action.SIGN_OUTCOME, record.theirs.latest()) is None
    assert "already signed" in str(allowed(ca, Action.SIGN_OUTCOME, record.pending.latest()))


def test_a_refusal_is_both_the_shared_refusal_and_a_permission_denial():
    assert issubclass(NotYours, Refused) and issubclass(NotYours, PermissionDenied)


def test_the_export_rebuilds_the_content_every_node_signed(record: Record):
    document = export.export_dialogue(record.dialogue)
    for outcome in document["outcomes"]:
        for version in outcome["versions"]:
            held = signing.outcome_content(
                record.dialogue.rounds.get(pk=outcome["round"]).outcomes.get(pk=outcome["id"]),
                version["version"],
                version["text_en"],
                version["text_zh"],
            )
            assert export._content(document, outcome, version) == held
            assert signing.content_hash(held) == version["content_sha256"]
