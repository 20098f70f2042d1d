"""The intel pages: search, object detail with versions and relationships,
bundle import (the form and its script's JSON answer) and export without RED."""

from __future__ import annotations

import json

import pytest
import stix2
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.intel.models import Collection, StixObject

pytestmark = pytest.mark.django_db
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def bundle(*objects) -> SimpleUploadedFile:
    data = {
        "type": "bundle",
        "id": "bundle--6f2d4e7a-2f5e-4a63-9d7c-6c1f3b0f6a10",
        "objects": [json.loads(o.serialize()) for o in objects],
    }
    return SimpleUploadedFile("bundle.json", json.dumps(data).encode(), "application/json")


def indicator(value: str, **extra) -> stix2.Indicator:
    return stix2.Indicator(
        pattern=f"[ipv4-addr:value = '{value}']",
        pattern_type="stix",
        valid_from="2026-01-01T00:00:00Z",
        **extra,
    )


def test_an_analyst_imports_searches_and_opens_an_object(client_for):
    shared = Collection.objects.get(alias="shared")
    first, second = indicator("203.0.113.9"), indicator("198.51.100.4")
    link = stix2.Relationship(
        source_ref=first.id, target_ref=second.id, relationship_type="related-to"
    )
    client = client_for(Role.ANALYST)
    answer = client.post(
        reverse("intel:import"),
        {"collection": str(shared.pk), "bundle": bundle(first, second, link)},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert answer.status_code == 200, answer.content
    assert "3" in answer.json()["message"]
    page = client.get(reverse("intel:home"), {"q": "203.0.113.9"}).content.decode()
    assert "203.0.113.9" in page and "198.51.100.4" not in page
    row = StixObject.objects.get(stix_id=first.id)
    detail = client.get(reverse("intel:object", args=[row.pk])).content.decode()
    assert "related to" in detail and "198.51.100.4" in detail


def test_a_file_that_is_not_a_bundle_is_refused_and_stores_nothing(client_for):
    shared = Collection.objects.get(alias="shared")
    upload = SimpleUploadedFile("x.json", b"not json", "application/json")
    answer = client_for(Role.ANALYST).post(
        reverse("intel:import"),
        {"collection": str(shared.pk), "bundle": upload},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert answer.status_code == 422
    assert not StixObject.objects.exists()


def test_the_export_withholds_tlp_red(client_for):
    shared = Collection.objects.get(alias="shared")
    client = client_for(Role.ANALYST)
    secret = indicator("192.0.2.66", object_marking_refs=[RED])
    client.post(
        reverse("intel:import"),
        {"collection": str(shared.pk), "bundle": bundle(indicator("192.0.2.1"), secret)},
    )
    exported = client.get(reverse("intel:export", args=[shared.pk]))
    objects = json.loads(exported.content)["objects"]
    assert [o["pattern"] for o in objects] == ["[ipv4-addr:value = '192.0.2.1']"]
    assert exported["X-Accord-Withheld"] == "1"
    assert AuditEvent.objects.filter(action="intel:objects:export").count() == 1
    # Inside the node, the object is there and marked.
    row = StixObject.objects.get(stix_id=secret.id)
    page = client.get(reverse("intel:object", args=[row.pk])).content.decode()
    assert "TLP:RED" in page


def test_an_analyst_sets_handling_conditions_on_import_and_sees_them(client_for):
    shared = Collection.objects.get(alias="shared")
    first = indicator("203.0.113.31")
    client = client_for(Role.ANALYST)
    answer = client.post(
        reverse("intel:import"),
        {
            "collection": str(shared.pk),
            "bundle": bundle(first),
            "handling_code": "receiving-agency",
            "reliability": "B",
            "accuracy": "2",
            "purpose": "Operation Dawn",
            "expires": "2099-01-31",
        },
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert answer.status_code == 200, answer.content
    row = StixObject.objects.get(stix_id=first.id)
    assert (row.handling, row.handling_bound) == ("receiving-agency", False)
    assert row.expires.isoformat().startswith("2099-01-31T23:59:59")
    page = client.get(reverse("intel:object", args=[row.pk])).content.decode()
    for text in (
        "Within the receiving agency only",
        "B: usually reliable",
        "2: probably true",
        "Operation Dawn",
        "this node",
    ):
        assert text in page, text
    # Set here, so they do not bind this node: every way out is open.
    assert "partner nodes abroad" in page and "bundle exports" in page


def test_conditions_set_elsewhere_bind_and_show_it(client_for):
    from accord.core.audit import Actor
    from accord.intel.ingest import ingest

    shared = Collection.objects.get(alias="shared")
    data = json.loads(indicator("203.0.113.32").serialize())
    data["extensions"] = {
        "extension-definition--4da54d41-2884-4772-ad2c-4d22b1f12193": {
            "extension_type": "property-extension",
            "handling_code": "receiving-agency",
            "originator": "us.doj",
        }
    }
    ingest(shared, [data], None, Actor.system("test"))
    row = StixObject.objects.get(stix_id=data["id"])
    assert row.handling_bound
    page = client_for(Role.ANALYST).get(reverse("intel:object", args=[row.pk])).content.decode()
    assert "us.doj" in page and "binding on this node" in page
    released = page.split("Released to", 1)[1][:200]
    assert "bundle exports" in released and "partner nodes abroad" not in released
    assert "TAXII partner accounts" not in released


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"handling_code": "receiving-agency", "reliability": "Q"}, "A to F"),
        ({"purpose": "Only a purpose"}, "handling code"),
        ({"handling_code": "receiving-agency", "expires": "2001-01-01"}, "future"),
    ],
)
def test_bad_conditions_on_the_import_form_store_nothing(client_for, fields, message):
    shared = Collection.objects.get(alias="shared")
    answer = client_for(Role.ANALYST).post(
        reverse("intel:import"),
        {"collection": str(shared.pk), "bundle": bundle(indicator("203.0.113.33")), **fields},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert answer.status_code == 422 and message in answer.json()["error"]
    assert not StixObject.objects.exists()


def test_a_bundle_nested_too_deeply_is_refused_not_a_crash(client_for):
    shared = Collection.objects.get(alias="shared")
    upload = SimpleUploadedFile("deep.json", b"[" * 100_000 + b"]" * 100_000, "application/json")
    answer = client_for(Role.ANALYST).post(
        reverse("intel:import"),
        {"collection": str(shared.pk), "bundle": upload},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert answer.status_code == 422
    assert not StixObject.objects.exists()


def test_a_token_prefix_that_fits_several_tokens_revokes_nothing():
    from django.core.exceptions import ValidationError

    from accord.core.audit import Actor
    from accord.intel.accounts import revoke_token
    from accord.intel.models import Account, Token

    account = Account.objects.create(name="tool")
    for prefix in ("acc_AbC1xy", "acc_AbC2zz"):
        Token.objects.create(account=account, digest=prefix.ljust(64, "0"), prefix=prefix)
    with pytest.raises(ValidationError, match="fits 2 tokens"):
        revoke_token(Actor.system("test"), account, "acc_AbC")
    assert account.tokens.count() == 2
    assert revoke_token(Actor.system("test"), account, "acc_AbC2") == 1
    assert list(account.tokens.values_list("prefix", flat=True)) == ["acc_AbC1xy"]
