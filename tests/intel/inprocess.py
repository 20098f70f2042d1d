"""TAXII in process, through Django's test client: a partner account with a
Bearer token on the `shared` collection, and objects stored as an analyst's
import stores them. For tests about what one request answers and records,
where a live node (tests/intel/conftest.py) would only add start-up time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import stix2
from django.test import Client

from accord.core.audit import Actor
from accord.intel import accounts
from accord.intel.ingest import ingest
from accord.intel.models import Collection
from tests.intel.support import TAXII, TLP_RED


@dataclass(frozen=True)
class Partner:
    """A partner tool with read and write rights on `shared`."""

    collection: Collection
    token: str

    @property
    def objects_url(self) -> str:
        return f"/taxii2/api1/collections/{self.collection.pk}/objects/"

    def get(self, path: str, **params: Any) -> Any:
        return Client().get(
            path, params, HTTP_ACCEPT=TAXII, HTTP_AUTHORIZATION=f"Bearer {self.token}"
        )

    def post(self, *objects: dict) -> dict:
        answer = Client().post(
            self.objects_url,
            json.dumps({"objects": list(objects)}),
            content_type=TAXII,
            HTTP_ACCEPT=TAXII,
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
        )
        assert answer.status_code == 202, answer.content
        return answer.json()


def make_partner() -> Partner:
    system = Actor.system("test")
    account = accounts.add_account(system, "tool", "tool-password-0123", ["shared"], ["shared"])
    return Partner(Collection.objects.get(alias="shared"), accounts.issue_token(system, account))


def indicator(value: str, *, red: bool = False, **extra: Any) -> dict:
    if red:
        extra["object_marking_refs"] = [TLP_RED]
    made = stix2.Indicator(
        name=f"indicator {value}",
        pattern=f"[ipv4-addr:value = '{value}']",
        pattern_type="stix",
        valid_from="2024-01-01T00:00:00Z",
        **extra,
    )
    return json.loads(made.serialize())


def imported(collection: Collection, *objects: dict) -> None:
    """Stored by this node's own analysts (a bundle import)."""
    status = ingest(collection, list(objects), None, Actor.system("test"))
    assert status.failure_count == 0, status.failures
