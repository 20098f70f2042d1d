"""Shared by the TAXII tests: the accounts the fixture makes, and small
helpers that read TAXII answers."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import stix2

from tests.live import LiveNode

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
# The smallest request limit the server allows: keeps the oversize payloads small.
MAX_CONTENT = 65536
TLP_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
HTTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    token: str

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.name}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token}


@dataclass
class TaxiiNode:
    node: LiveNode
    collections: dict[str, str]  # alias -> collection id
    rw: Account  # reads and writes every collection
    ro: Account  # reads `shared` only
    nobody: Account  # no grant at all

    @property
    def discovery_url(self) -> str:
        return self.node.url + "/taxii2/"

    @property
    def root_url(self) -> str:
        return self.node.url + "/taxii2/api1/"

    def collection_url(self, alias: str) -> str:
        return f"{self.root_url}collections/{self.collections[alias]}/"

    def objects_url(self, alias: str) -> str:
        return self.collection_url(alias) + "objects/"

    def stored(self, alias: str) -> int:
        """Object versions the collection holds, TLP:RED included (what the
        operator sees with `accord intel collections`)."""
        return stored_counts(self.node)[alias]

    def http(self) -> httpx.Client:
        # gunicorn drops idle connections after 2 s: never reuse one that old.
        limits = httpx.Limits(keepalive_expiry=1.0)
        return httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False, limits=limits)


def _collection_lines(node: LiveNode) -> list[list[str]]:
    out = node.accord("intel", "collections").stdout
    return [line.split() for line in out.splitlines()[1:] if line.strip()]  # under the header


def stored_counts(node: LiveNode) -> dict[str, int]:
    return {words[1]: int(words[2]) for words in _collection_lines(node)}


def ts(text: str) -> datetime:
    """A STIX/TAXII timestamp, whatever its precision."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def as_json(stix_object: Any) -> dict[str, Any]:
    """What a producer sends: the stix2 object's own serialisation."""
    return json.loads(stix_object.serialize())


def envelope(*stix_objects: Any) -> dict[str, Any]:
    return {"objects": [o if isinstance(o, dict) else as_json(o) for o in stix_objects]}


def assert_taxii_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """A TAXII 2.1 error message (§3.6.1): the status, the TAXII media type,
    and a JSON body with a title and the status as a string."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].replace(" ", "") == TAXII
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("title"), str) and body["title"].strip(), body
    assert body.get("http_status") == str(status), body
    if status == 401:
        challenge = response.headers.get("www-authenticate", "")
        assert "basic" in challenge.lower(), response.headers
    return body


def indicator(value: str, **extra: Any) -> stix2.Indicator:
    """An indicator for one IPv4 address, as a producer would build it."""
    return stix2.Indicator(
        name=f"indicator {value}",
        pattern=f"[ipv4-addr:value = '{value}']",
        pattern_type="stix",
        valid_from="2024-01-01T00:00:00Z",
        **extra,
    )
