"""`accord createuser --totp` and `accord secondfactor`: a second factor set up
from the node's shell works at sign-in, a bad secret leaves nothing behind, and
a reset is audited (issue 14)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from accord.core import twofactor
from accord.core.audit import AuditAction
from accord.core.democlient import OneTimeCodes
from accord.core.models import AuditEvent, User
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def run(monkeypatch, *args: str, stdin: str = "") -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createuser_with_totp_prints_what_the_authenticator_needs(monkeypatch):
    out = run(
        monkeypatch,
        "createuser",
        "wang.fang",
        "--role",
        "node_admin",
        "--password-stdin",
        "--totp",
        stdin=TEST_PASSWORD + "\n",
    )
    secret = re.search(r"Authenticator secret: ([A-Z2-7]+)", out).group(1)
    assert f"otpauth://totp/Accord%20xx.test%3Awang.fang?secret={secret}" in out
    recovery = re.search(r"Recovery codes \(each works once\): (.+)", out).group(1).split()
    user = User.objects.get(username="wang.fang")
    code = OneTimeCodes(secret).next("cli", "wang.fang")
    assert isinstance(twofactor.verify(user, code), twofactor.TOTPDevice)
    assert isinstance(twofactor.verify(user, recovery[0]), twofactor.StaticDevice)
    enrolled = AuditEvent.objects.get(action=AuditAction.TWOFACTOR_ENROL)
    assert enrolled.actor == "system:cli"


def test_a_given_secret_is_used_and_a_bad_one_creates_no_user(monkeypatch):
    given = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    out = run(
        monkeypatch,
        "createuser",
        "li.na",
        "--role",
        "central_authority",
        "--password-stdin",
        "--totp-secret",
        given,
        stdin=TEST_PASSWORD + "\n",
    )
    assert f"Authenticator secret: {given}" in out
    with pytest.raises(CommandError, match="base32"):
        run(
            monkeypatch,
            "createuser",
            "zhao.lei",
            "--role",
            "node_admin",
            "--password-stdin",
            "--totp-secret",
            "not base32!",
            stdin=TEST_PASSWORD + "\n",
        )
    assert not User.objects.filter(username="zhao.lei").exists()


def test_secondfactor_reset_from_the_shell_is_audited(monkeypatch, users):
    officer = users["central_authority"]
    run(monkeypatch, "secondfactor", "enrol", officer.username)
    assert twofactor.enrolled(officer)
    assert "reset" in run(monkeypatch, "secondfactor", "reset", officer.username)
    assert not twofactor.enrolled(officer) and twofactor.recovery_codes_left(officer) == 0
    reset = AuditEvent.objects.get(action=AuditAction.TWOFACTOR_RESET)
    assert (reset.actor, reset.data) == ("system:cli", {"username": officer.username})
