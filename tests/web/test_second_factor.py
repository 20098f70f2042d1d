"""The second factor (issue 14): node administrators and central-authority
officers cannot use the node, pages or session API, before they verify a code
after the password (or enrol an authenticator); anyone else may enrol. These
tests sign in through the pages, as a person does: the shortcut the other tests
take (tests/conftest.py) is not used here."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from accord.core.audit import AuditAction
from accord.core.democlient import OneTimeCodes
from accord.core.models import AuditEvent
from accord.core.roles import Role
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db

VERIFY = "/account/second-factor/verify/"
ENROL = "/account/second-factor/enrol/"


def signed_in_with_password(username: str, **headers: str) -> Client:
    client = Client(**headers)
    response = client.post("/login/", {"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    return client


def actions_since(seq: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("action", flat=True)
    )


def head() -> int:
    last = AuditEvent.objects.order_by("-seq").first()
    return last.seq if last else 0


def enrol(client: Client, username: str) -> tuple[OneTimeCodes, list[str]]:
    """Set up an authenticator through the enrolment page; its codes and the recovery codes."""
    page = client.get(ENROL)
    assert page.status_code == 200
    codes = OneTimeCodes(page.context["secret"])
    done = client.post(ENROL, {"code": codes.next("in-process", username)})
    assert done.status_code == 200 and done["Cache-Control"] == "no-store"
    return codes, list(done.context["codes"])


@pytest.mark.parametrize("role", [Role.NODE_ADMIN, Role.CENTRAL_AUTHORITY])
def test_a_required_role_uses_nothing_before_enrolling(users, role):
    client = signed_in_with_password(users[role].username)
    assert client.get("/").url == f"{ENROL}?next=/"
    api = client.get("/api/v1/users")
    assert api.status_code == 403 and "second factor" in api.json()["detail"]
    assert client.get("/requests/").status_code == 302
    page = client.get(ENROL)
    # The QR code is inline SVG (no script), and the secret is shown as text too.
    assert b"<svg" in page.content and page.context["secret"].encode() in page.content
    assert page.context["uri"].startswith("otpauth://totp/Accord%20xx.test%3A")
    before = head()
    refused = client.post(ENROL, {"code": "000000"})
    assert refused.status_code == 200 and refused.context["form"].errors
    assert actions_since(before) == [AuditAction.TWOFACTOR_FAILED]
    assert client.get("/").status_code == 302


def test_enrolment_shows_recovery_codes_once_and_opens_the_node(users):
    client = signed_in_with_password("node_admin-user")
    before = head()
    _, recovery = enrol(client, "node_admin-user")
    assert len(recovery) == 10 and len(set(recovery)) == 10
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/users").status_code == 200
    # Enrolling was this sign-in's code step: only now is the user logged in.
    assert actions_since(before)[:2] == [AuditAction.TWOFACTOR_ENROL, AuditAction.LOGIN]


def test_sign_in_asks_for_the_code_after_the_password(users):
    codes, _ = enrol(signed_in_with_password("central_authority-user"), "central_authority-user")
    client = signed_in_with_password("central_authority-user", REMOTE_ADDR="198.51.100.4")
    assert client.get("/requests/").url == f"{VERIFY}?next=/requests/"
    code = codes.next("in-process", "central_authority-user")
    right = client.post(VERIFY, {"code": code, "next": "/requests/"})
    assert right.url == "/requests/" and client.get("/").status_code == 200
    # A wrong code, or the same code again, verifies no other sign-in.
    before = head()
    other = signed_in_with_password("central_authority-user", REMOTE_ADDR="198.51.100.4")
    assert other.post(VERIFY, {"code": code}).status_code == 200
    assert other.post(VERIFY, {"code": "123456"}).status_code == 200
    assert other.get("/").status_code == 302
    failed = AuditEvent.objects.filter(seq__gt=before, action=AuditAction.TWOFACTOR_FAILED)
    assert [(e.actor, e.ip) for e in failed] == [
        ("user:central_authority-user", "198.51.100.4")
    ] * 2


def test_a_recovery_code_works_once_and_its_use_is_audited(users):
    _, recovery = enrol(signed_in_with_password("node_admin-user"), "node_admin-user")
    before = head()
    client = signed_in_with_password("node_admin-user")
    assert client.post(VERIFY, {"code": recovery[0].upper()}).status_code == 302
    assert client.get("/").status_code == 200
    again = signed_in_with_password("node_admin-user")
    assert again.post(VERIFY, {"code": recovery[0]}).status_code == 200
    assert actions_since(before) == [
        AuditAction.PASSWORD_ACCEPTED,
        AuditAction.TWOFACTOR_RECOVERY_USED,
        AuditAction.LOGIN,
        AuditAction.PASSWORD_ACCEPTED,
        AuditAction.TWOFACTOR_FAILED,
    ]
    logged_in = AuditEvent.objects.get(seq__gt=before, action=AuditAction.LOGIN)
    assert logged_in.data == {"second_factor": "recovery code"}
    used = AuditEvent.objects.get(seq__gt=before, action=AuditAction.TWOFACTOR_RECOVERY_USED)
    assert used.data == {"left": 9}


def test_new_recovery_codes_replace_the_old_ones(users):
    client = signed_in_with_password("node_admin-user")
    _, old = enrol(client, "node_admin-user")
    fresh = client.post("/account/second-factor/recovery-codes/")
    new = list(fresh.context["codes"])
    assert not set(old) & set(new)
    assert AuditEvent.objects.filter(action=AuditAction.TWOFACTOR_RECOVERY_NEW).count() == 1
    assert (
        signed_in_with_password("node_admin-user").post(VERIFY, {"code": new[1]}).status_code == 302
    )
    assert (
        signed_in_with_password("node_admin-user").post(VERIFY, {"code": old[1]}).status_code == 200
    )


def test_other_roles_may_enrol_and_are_then_asked_too(users):
    before = head()
    client = signed_in_with_password("investigator-user")
    assert client.get("/").status_code == 200  # not required of an investigator
    codes, _ = enrol(client, "investigator-user")
    later = signed_in_with_password("investigator-user")
    assert later.get("/").url == f"{VERIFY}?next=/"
    code = codes.next("in-process", "investigator-user")
    assert later.post(VERIFY, {"code": code}).url == "/"
    # Enrolling by choice is no sign-in; the next sign-in waits for its code.
    assert actions_since(before) == [
        AuditAction.LOGIN,
        AuditAction.TWOFACTOR_ENROL,
        AuditAction.PASSWORD_ACCEPTED,
        AuditAction.TWOFACTOR_VERIFIED,
        AuditAction.LOGIN,
    ]


def test_an_administrator_resets_a_lost_second_factor(users):
    enrol(signed_in_with_password("central_authority-user"), "central_authority-user")
    admin = signed_in_with_password("node_admin-user")
    enrol(admin, "node_admin-user")
    officer = users[Role.CENTRAL_AUTHORITY]
    admin.post(f"/admin/users/{officer.pk}/second-factor/reset/")
    reset = AuditEvent.objects.get(action=AuditAction.TWOFACTOR_RESET)
    assert (reset.actor, reset.data) == ("user:node_admin-user", {"username": officer.username})
    # The officer sets up a new authenticator at the next sign-in.
    assert signed_in_with_password(officer.username).get("/").url == f"{ENROL}?next=/"
    # Someone without the permission cannot reset anyone's.
    analyst = signed_in_with_password("analyst-user")
    assert analyst.post(f"/admin/users/{officer.pk}/second-factor/reset/").status_code == 403


def test_the_pages_speak_chinese(users):
    users[Role.NODE_ADMIN].language = "zh-hans"
    users[Role.NODE_ADMIN].save(update_fields=["language"])
    page = signed_in_with_password("node_admin-user").get(ENROL)
    with translation.override("zh-hans"):
        title = gettext("Set up an authenticator")
    assert title != "Set up an authenticator" and title in page.content.decode()
    assert re.search(r"<code[^>]*>[A-Z2-7]{32}</code>", page.content.decode())
