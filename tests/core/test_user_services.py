"""Users and roles change only through services: permission-checked, validated,
audited, and refusals leave an audit event and no change."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accord.core import services
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent, User
from accord.core.roles import Permission, Role
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_admin_creates_a_user_with_an_argon2_hash(users):
    admin = Actor.of(users[Role.NODE_ADMIN])
    created = services.create_user(admin, "li.ming", "investigator", "a-long-passphrase-1")
    assert created.password.startswith("argon2")
    assert created.check_password("a-long-passphrase-1")
    last = events(AuditAction.USER_CREATE)[-1]
    assert last.actor == "user:node_admin-user"
    assert last.data == {"username": "li.ming", "role": "investigator"}


@pytest.mark.parametrize("role", [r for r in Role if r != Role.NODE_ADMIN])
def test_other_roles_may_not_create_users(users, role):
    count = User.objects.count()
    with pytest.raises(PermissionDenied):
        services.create_user(Actor.of(users[role]), "mallory", "node_admin", "a-long-pass-22")
    assert User.objects.count() == count
    denied = events(AuditAction.ACCESS_DENIED)[-1]
    assert denied.actor == f"user:{role.value}-user"
    assert denied.data == {"what": "create_user"}


@pytest.mark.parametrize(
    ("username", "role", "password", "message"),
    [
        ("bob", "chief", "a-long-pass-22", "Unknown role"),
        ("bad name!", "analyst", "a-long-pass-22", "letters, digits"),
        ("bob", "analyst", "short", "too short"),
        ("bob", "analyst", "password123", "too common"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(system, username, role, password, message):
    before = (User.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError, match=message):
        services.create_user(system, username, role, password)
    assert (User.objects.count(), AuditEvent.objects.count()) == before


def test_duplicate_username_is_refused(system, users):
    with pytest.raises(ValidationError, match="already exists"):
        services.create_user(system, "analyst-user", "analyst", "another-long-pass-3")


def test_role_change_is_audited_with_old_and_new_role(users):
    admin = Actor.of(users[Role.NODE_ADMIN])
    changed = services.change_role(admin, users[Role.ANALYST], "auditor")
    assert changed.role == Role.AUDITOR
    event = events(AuditAction.USER_ROLE_CHANGE)[-1]
    assert event.data == {"username": "analyst-user", "from": "analyst", "to": "auditor"}


def test_admin_cannot_change_own_role(users):
    admin = users[Role.NODE_ADMIN]
    with pytest.raises(ValidationError):
        services.change_role(Actor.of(admin), admin, "analyst")
    admin.refresh_from_db()
    assert admin.role == Role.NODE_ADMIN


def test_investigator_cannot_promote_themselves(users):
    me = users[Role.INVESTIGATOR]
    with pytest.raises(PermissionDenied):
        services.change_role(Actor.of(me), me, "node_admin")
    me.refresh_from_db()
    assert me.role == Role.INVESTIGATOR


def test_deactivated_user_loses_every_permission(users, client_for):
    admin = Actor.of(users[Role.NODE_ADMIN])
    services.set_active(admin, users[Role.AUDITOR], False)
    users[Role.AUDITOR].refresh_from_db()
    assert not any(users[Role.AUDITOR].has_permission(p) for p in Permission)
    assert events(AuditAction.USER_DEACTIVATE)[-1].data == {"username": "auditor-user"}
    signed_in = client_for(None).post(
        "/login/", {"username": "auditor-user", "password": TEST_PASSWORD}
    )
    assert signed_in.status_code == 200  # the form again, not a redirect


def test_language_choice_is_stored_and_audited(users):
    user = users[Role.ANALYST]
    services.set_language(user, "zh-hans")
    user.refresh_from_db()
    assert user.language == "zh-hans"
    assert events(AuditAction.USER_LANGUAGE_CHANGE)[-1].data == {"from": "", "to": "zh-hans"}
    with pytest.raises(ValidationError):
        services.set_language(user, "fr")


def test_password_change_needs_the_current_password(users):
    user = users[Role.ANALYST]
    with pytest.raises(ValidationError):
        services.change_password(user, "wrong", "a-brand-new-passphrase")
    assert events(AuditAction.ACCESS_DENIED)[-1].data["what"] == "change_password"
    services.change_password(user, TEST_PASSWORD, "a-brand-new-passphrase")
    user.refresh_from_db()
    assert user.check_password("a-brand-new-passphrase")
