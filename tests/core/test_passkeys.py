"""Passkeys (WebAuthn) as the alternative second factor (issue 14), through the
pages as a browser drives them: the options (JSON), then the form with the
authenticator's answer. A software authenticator (P-256, "none" attestation)
stands in for the browser's; the browser test uses Chromium's virtual one.
The refusal rules (the last second factor of a role that requires one stays;
a forged, replayed or someone else's passkey verifies nothing) and the audit of
every enrolment, removal, success and failure are checked here."""

from __future__ import annotations

import hashlib
import json
import os
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client, override_settings
from django_otp_webauthn.models import WebAuthnCredential

from accord.core import passkeys
from accord.core.audit import AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from tests.live import TEST_PASSWORD

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"  # Django's test client
OVERVIEW = "/account/second-factor/"
ENROL = "/account/second-factor/enrol/"
VERIFY = "/account/second-factor/verify/"
ADD = "/account/second-factor/passkeys/"
ADD_OPTIONS = ADD + "options/"
SIGN_IN = ADD + "sign-in/"
SIGN_IN_OPTIONS = SIGN_IN + "options/"


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """A platform authenticator in software: one P-256 key per credential."""

    origin: str = ORIGIN
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    count: int = 0

    def _client_data(self, kind: str, options: dict) -> bytes:
        data = {"type": kind, "challenge": options["challenge"], "origin": self.origin}
        return json.dumps(data).encode()

    def _auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        self.count += 1
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + self.count.to_bytes(4, "big") + attested

    def create(self, options: dict) -> str:
        numbers = self.key.public_key().public_numbers()
        cose = {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
        attested = bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
        auth_data = self._auth_data(options["rp"]["id"], 0x45, attested + cbor2.dumps(cose))
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(self._client_data("webauthn.create", options)),
                    "attestationObject": b64url(attestation),
                    "transports": ["internal"],
                },
                "clientExtensionResults": {"credProps": {"rk": True}},
            }
        )

    def get(self, options: dict) -> str:
        client_data = self._client_data("webauthn.get", options)
        auth_data = self._auth_data(options["rpId"], 0x05)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                },
                "clientExtensionResults": {},
            }
        )


def signed_in_with_password(username: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    return client


def head() -> int:
    last = AuditEvent.objects.order_by("-seq").first()
    return last.seq if last else 0


def events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def add_passkey(client: Client, authenticator: SoftAuthenticator, name: str = "laptop"):
    options = client.post(ADD_OPTIONS)
    assert options.status_code == 200, options.content
    credential = authenticator.create(options.json())
    return client.post(ADD, {"credential": credential, "name": name, "next": "/"})


def sign_in_with(client: Client, authenticator: SoftAuthenticator, next_url: str = "/"):
    options = client.post(SIGN_IN_OPTIONS)
    assert options.status_code == 200, options.content
    return client.post(SIGN_IN, {"credential": authenticator.get(options.json()), "next": next_url})


def messages_on(client: Client, url: str) -> str:
    return client.get(url).content.decode()


def test_an_officer_enrols_a_passkey_at_first_sign_in_and_signs_in_with_it(users):
    officer = users[Role.CENTRAL_AUTHORITY].username
    client = signed_in_with_password(officer)
    enrol_page = client.get(ENROL).content.decode()
    assert 'data-passkey="create"' in enrol_page and "web/passkey.js" in enrol_page
    before = head()
    key = SoftAuthenticator()
    answer = add_passkey(client, key)
    # The first second factor comes with recovery codes, shown once.
    assert answer.status_code == 200 and len(answer.context["codes"]) == 10
    assert client.get("/").status_code == 200
    enrolled, logged_in = events_since(before)[:2]
    assert enrolled.action == AuditAction.TWOFACTOR_ENROL
    assert enrolled.data == {"username": officer, "second_factor": "passkey", "name": "laptop"}
    assert (logged_in.action, logged_in.data) == (
        AuditAction.LOGIN,
        {"second_factor": "passkey enrolled"},
    )

    later = signed_in_with_password(officer)
    assert later.get("/requests/").url == f"{VERIFY}?next=/requests/"
    assert 'data-passkey="get"' in later.get(VERIFY).content.decode()
    before = head()
    assert sign_in_with(later, key, "/requests/").url == "/requests/"
    verified, logged_in = events_since(before)
    assert (verified.action, verified.data) == (
        AuditAction.TWOFACTOR_VERIFIED,
        {"second_factor": "passkey", "name": "laptop"},
    )
    assert (logged_in.action, logged_in.data) == (AuditAction.LOGIN, {"second_factor": "passkey"})


def test_a_forged_replayed_or_cancelled_answer_verifies_nothing_and_is_audited(users):
    officer = users[Role.NODE_ADMIN].username
    key = SoftAuthenticator()
    add_passkey(signed_in_with_password(officer), key)
    client = signed_in_with_password(officer)
    before = head()
    # Someone else's key under this credential's id: the signature fails.
    forger = SoftAuthenticator(credential_id=key.credential_id)
    assert sign_in_with(client, forger).url.startswith(VERIFY)
    # A genuine answer, sent a second time: its challenge was used up.
    options = client.post(SIGN_IN_OPTIONS).json()
    answer = key.get(options)
    assert client.post(SIGN_IN, {"credential": answer}).url == "/"
    again = signed_in_with_password(officer)
    assert again.post(SIGN_IN, {"credential": answer}).url.startswith(VERIFY)
    # The browser's own failure (the person cancelled) reaches the audit too.
    again.post(SIGN_IN_OPTIONS)
    cancelled = again.post(SIGN_IN, {"credential": "", "error": "NotAllowedError"})
    assert cancelled.url.startswith(VERIFY)
    assert "The passkey was not accepted" in messages_on(again, cancelled.url)
    assert again.get("/").status_code == 302
    failures = [
        (e.data["step"], e.data["reason"])
        for e in events_since(before)
        if e.action == AuditAction.TWOFACTOR_FAILED
    ]
    assert failures == [
        ("sign-in", "invalid_authentication_response"),
        ("sign-in", "no challenge"),
        ("sign-in", "NotAllowedError"),
    ]


def test_someone_elses_passkey_neither_signs_in_nor_is_removed(users):
    admin, officer = users[Role.NODE_ADMIN], users[Role.CENTRAL_AUTHORITY]
    admin_key, officer_key = SoftAuthenticator(), SoftAuthenticator()
    add_passkey(signed_in_with_password(admin.username), admin_key)
    add_passkey(signed_in_with_password(officer.username), officer_key)
    client = signed_in_with_password(admin.username)
    options = client.post(SIGN_IN_OPTIONS).json()
    ids = [c["id"] for c in options["allowCredentials"]]
    assert ids == [b64url(admin_key.credential_id)]
    # The officer's passkey, on the administrator's sign-in: refused.
    assert client.post(SIGN_IN, {"credential": officer_key.get(options)}).url.startswith(VERIFY)
    assert sign_in_with(client, admin_key).url == "/"
    theirs = WebAuthnCredential.objects.get(user=officer)
    client.post(f"{ADD}{theirs.pk}/remove/")
    assert WebAuthnCredential.objects.filter(pk=theirs.pk).exists()


def test_the_last_second_factor_of_a_required_role_cannot_be_removed(users):
    officer = users[Role.CENTRAL_AUTHORITY]
    client = signed_in_with_password(officer.username)
    add_passkey(client, SoftAuthenticator(), "laptop")
    only = WebAuthnCredential.objects.get(user=officer)
    before = head()
    refused = client.post(f"{ADD}{only.pk}/remove/")
    assert refused.url == OVERVIEW
    assert "your last second factor" in messages_on(client, OVERVIEW)
    assert WebAuthnCredential.objects.filter(pk=only.pk).exists()
    [event] = events_since(before)
    assert (event.action, event.data) == (
        AuditAction.TWOFACTOR_REMOVE_REFUSED,
        {"username": officer.username, "name": "laptop"},
    )
    # With a second passkey, either may go; the other stays the second factor.
    assert add_passkey(client, SoftAuthenticator(), "phone").url == OVERVIEW
    before = head()
    client.post(f"{ADD}{only.pk}/remove/")
    assert list(WebAuthnCredential.objects.filter(user=officer).values_list("name", flat=True)) == [
        "phone"
    ]
    [event] = events_since(before)
    assert (event.action, event.data["name"]) == (AuditAction.TWOFACTOR_REMOVE, "laptop")
    assert signed_in_with_password(officer.username).get("/").url == f"{VERIFY}?next=/"


def test_anyone_else_may_remove_their_last_passkey_and_sign_in_with_the_password(users):
    investigator = users[Role.INVESTIGATOR]
    client = signed_in_with_password(investigator.username)
    assert client.get("/").status_code == 200  # nothing owed yet
    add_passkey(client, SoftAuthenticator())
    assert signed_in_with_password(investigator.username).get("/").url == f"{VERIFY}?next=/"
    passkey = WebAuthnCredential.objects.get(user=investigator)
    assert client.post(f"{ADD}{passkey.pk}/remove/").url == OVERVIEW
    # Nothing left for the recovery codes to stand in for: they went too.
    assert "No second factor yet" in messages_on(client, OVERVIEW)
    assert signed_in_with_password(investigator.username).get("/").status_code == 200


def test_a_sign_in_that_owes_a_code_cannot_add_a_passkey(users):
    """A stolen password must not let the thief add a passkey of their own."""
    officer = users[Role.CENTRAL_AUTHORITY]
    add_passkey(signed_in_with_password(officer.username), SoftAuthenticator())
    thief = signed_in_with_password(officer.username)
    assert thief.post(ADD_OPTIONS).url.startswith(VERIFY)
    assert thief.post(ADD, {"credential": "{}"}).url.startswith(VERIFY)
    assert passkeys.may_add(officer) is not None  # (no verified session here)
    assert WebAuthnCredential.objects.filter(user=officer).count() == 1


def test_an_administrators_reset_removes_the_passkeys(users):
    officer = users[Role.CENTRAL_AUTHORITY]
    add_passkey(signed_in_with_password(officer.username), SoftAuthenticator())
    admin = signed_in_with_password(users[Role.NODE_ADMIN].username)
    add_passkey(admin, SoftAuthenticator())
    admin.post(f"/admin/users/{officer.pk}/second-factor/reset/")
    assert not WebAuthnCredential.objects.filter(user=officer).exists()
    assert signed_in_with_password(officer.username).get("/").url == f"{ENROL}?next=/"


def test_the_relying_party_comes_from_the_settings_or_the_page(users):
    client = signed_in_with_password(users[Role.INVESTIGATOR].username)
    assert client.post(ADD_OPTIONS).json()["rp"]["id"] == "testserver"
    with override_settings(
        WEBAUTHN_RP_ID="accord.example.org", WEBAUTHN_ORIGINS=["https://accord.example.org"]
    ):
        options = client.post(ADD_OPTIONS).json()
        assert options["rp"] == {"id": "accord.example.org", "name": "Accord xx.test"}
        # The page at testserver is not an origin of this relying party.
        answer = SoftAuthenticator(origin=ORIGIN).create(options)
        before = head()
        assert client.post(ADD, {"credential": answer}).url.startswith(OVERVIEW)
        [event] = events_since(before)
        assert (event.action, event.data["step"]) == (
            AuditAction.TWOFACTOR_FAILED,
            "passkey enrolment",
        )
        good = SoftAuthenticator(origin="https://accord.example.org").create(
            client.post(ADD_OPTIONS).json()
        )
        assert client.post(ADD, {"credential": good}).status_code == 200  # recovery codes
    assert WebAuthnCredential.objects.filter(user=users[Role.INVESTIGATOR]).count() == 1
