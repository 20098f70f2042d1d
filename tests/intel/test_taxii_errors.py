"""TAXII 2.1 errors, over plain HTTP: every refusal is a TAXII error message
with its status code (§3.6.1), and a refused request stores nothing. Invalid
objects in a valid envelope are refused one by one in the status resource;
TLP:RED is stored but never served (TAXII reads, `accord intel export`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stix2

from tests.intel.support import (
    MAX_CONTENT,
    TAXII,
    TLP_RED,
    TaxiiNode,
    as_json,
    assert_taxii_error,
    envelope,
    indicator,
    stored_counts,
    ts,
)

pytestmark = pytest.mark.live

TAXII_COLLECTIONS = ("red",)
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
UNKNOWN_OBJECT = "indicator--00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def http(taxii) -> Iterator[httpx.Client]:
    with taxii.http() as client:
        yield client


# This module tries every wrong credential on every endpoint, more often than
# a sign-in allowance lets one address try: the node's allowances are raised
# here. Throttling has its own tests (test_signin_throttling.py,
# tests/core/test_anonymous_failures.py).
TAXII_NODE_ENV = {"ACCORD_LOGIN_MAX_FAILURES": "1000", "ACCORD_ANONYMOUS_LIMIT": "100000"}


def fresh_envelope() -> bytes:
    """A valid envelope with a new object: stored if a refusal let it through."""
    return json.dumps(envelope(indicator("192.0.2.99"))).encode()


def headers(auth: dict[str, str], **extra: str) -> dict[str, str]:
    return {"Accept": TAXII, **auth, **extra}


def post_headers(auth: dict[str, str], **extra: str) -> dict[str, str]:
    return headers(auth, **{"Content-Type": TAXII, **extra})


def read_urls(taxii: TaxiiNode, alias: str = "shared") -> list[str]:
    """Every TAXII GET endpoint of the node, for one collection."""
    objects = taxii.objects_url(alias)
    return [
        taxii.discovery_url,
        taxii.root_url,
        taxii.root_url + "collections/",
        taxii.collection_url(alias),
        objects,
        objects + UNKNOWN_OBJECT + "/",
        objects + UNKNOWN_OBJECT + "/versions/",
        taxii.collection_url(alias) + "manifest/",
        f"{taxii.root_url}status/{uuid.uuid4()}/",
    ]


def collection_urls(base: str, object_id: str = UNKNOWN_OBJECT) -> list[str]:
    """The GET endpoints under one collection URL."""
    return [
        base,
        base + "objects/",
        f"{base}objects/{object_id}/",
        f"{base}objects/{object_id}/versions/",
        base + "manifest/",
    ]


class NothingStored:
    """Object versions per collection before and after (read with the CLI,
    straight from the database: TLP:RED included)."""

    def __init__(self, taxii: TaxiiNode) -> None:
        self.taxii = taxii

    def __enter__(self) -> NothingStored:
        self.before = stored_counts(self.taxii.node)
        return self

    def __exit__(self, kind, *rest) -> None:
        if kind is None:
            assert stored_counts(self.taxii.node) == self.before, "a refused request stored data"


# ---------------------------------------------------------------- the request itself


def test_malformed_body_is_400(taxii, http):
    bodies = [
        b"{not json",
        b"",
        b"\xff\xfe{}",
        b'{"objects": [',
        b"[]",
        b"null",
        b"{}",
        b'{"objects": {}}',
        b'{"objects": "indicator"}',
        b'{"more": false}',
    ]
    with NothingStored(taxii):
        for body in bodies:
            answer = http.post(
                taxii.objects_url("shared"), content=body, headers=post_headers(taxii.rw.bearer)
            )
            assert_taxii_error(answer, 400)


def test_wrong_media_type_on_post_is_415(taxii, http):
    kinds = [
        "application/json",
        "application/stix+json;version=2.1",
        "text/plain",
        "application/taxii+json;version=2.0",
        "application/x-www-form-urlencoded",
    ]
    with NothingStored(taxii):
        for kind in kinds:
            answer = http.post(
                taxii.objects_url("shared"),
                content=fresh_envelope(),
                headers=post_headers(taxii.rw.bearer, **{"Content-Type": kind}),
            )
            assert_taxii_error(answer, 415)
        no_type = http.post(
            taxii.objects_url("shared"), content=fresh_envelope(), headers=headers(taxii.rw.bearer)
        )
        assert_taxii_error(no_type, 415)


def test_wrong_accept_is_406(taxii, http):
    wrong = [
        "application/json",
        "application/taxii+json;version=2.0",
        "text/html",
        "application/stix+json;version=2.1",
    ]
    with NothingStored(taxii):
        for url in read_urls(taxii):
            for accept in wrong:
                answer = http.get(url, headers={**taxii.rw.bearer, "Accept": accept})
                assert_taxii_error(answer, 406)
        for accept in wrong:
            answer = http.post(
                taxii.objects_url("shared"),
                content=fresh_envelope(),
                headers=post_headers(taxii.rw.bearer, Accept=accept),
            )
            assert_taxii_error(answer, 406)
    # What a client may send instead: the media type without a version, or anything.
    for accept in ["application/taxii+json", "*/*", "application/taxii+json;version=2.1, */*"]:
        answer = http.get(taxii.root_url, headers={**taxii.rw.bearer, "Accept": accept})
        assert answer.status_code == 200, (accept, answer.text)
        assert answer.headers["content-type"].replace(" ", "") == TAXII


def test_unknown_collection_is_404(taxii, http):
    real = taxii.collections["shared"]
    with NothingStored(taxii):
        for missing in [str(uuid.uuid4()), "not-a-uuid", "shared", real.upper() + "0"]:
            base = f"{taxii.root_url}collections/{missing}/"
            for url in collection_urls(base):
                assert_taxii_error(http.get(url, headers=headers(taxii.rw.bearer)), 404)
            answer = http.post(
                base + "objects/", content=fresh_envelope(), headers=post_headers(taxii.rw.bearer)
            )
            assert_taxii_error(answer, 404)
            gone = http.delete(f"{base}objects/{UNKNOWN_OBJECT}/", headers=headers(taxii.rw.bearer))
            assert_taxii_error(gone, 404)


def test_unknown_api_root_is_404(taxii, http):
    real = taxii.collections["shared"]
    with NothingStored(taxii):
        for root in ["api2", "API1", "taxii"]:
            base = f"{taxii.node.url}/taxii2/{root}/"
            urls = [
                base,
                base + "collections/",
                f"{base}status/{uuid.uuid4()}/",
                *collection_urls(f"{base}collections/{real}/"),
            ]
            for url in urls:
                assert_taxii_error(http.get(url, headers=headers(taxii.rw.bearer)), 404)
            answer = http.post(
                f"{base}collections/{real}/objects/",
                content=fresh_envelope(),
                headers=post_headers(taxii.rw.bearer),
            )
            assert_taxii_error(answer, 404)


def padded(size: int) -> bytes:
    """A valid envelope of exactly `size` bytes (JSON allows trailing spaces)."""
    body = json.dumps(envelope(indicator("192.0.2.77", description="x" * 100))).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def test_oversize_request_is_413(taxii, http):
    # The server answers without reading the body; gunicorn then drops the
    # connection (it drains at most 64 KiB) though it said keep-alive: ask for
    # a connection of its own for each oversize request.
    once = post_headers(taxii.rw.bearer, Connection="close")
    with NothingStored(taxii):
        for size in (MAX_CONTENT + 1, MAX_CONTENT * 3):
            answer = http.post(taxii.objects_url("shared"), content=padded(size), headers=once)
            body = assert_taxii_error(answer, 413)
            assert str(MAX_CONTENT) in body.get("description", "")

        # Without a Content-Length (chunked) the size is unknown up front.
        def chunks() -> Iterator[bytes]:
            data = padded(MAX_CONTENT + 1)
            for start in range(0, len(data), 8192):
                yield data[start : start + 8192]

        answer = http.post(taxii.objects_url("shared"), content=chunks(), headers=once)
        assert answer.status_code in (411, 413), answer.text
        assert_taxii_error(answer, answer.status_code)
    # The limit itself is allowed (max_content_length is inclusive).
    exact = http.post(
        taxii.objects_url("shared"),
        content=padded(MAX_CONTENT),
        headers=post_headers(taxii.rw.bearer),
    )
    assert exact.status_code == 202, exact.text
    assert exact.json()["success_count"] == 1


def test_bad_query_parameters_are_400(taxii, http):
    objects = taxii.objects_url("shared")
    urls = [objects, taxii.collection_url("shared") + "manifest/"]
    for query in [
        "limit=0",
        "limit=-1",
        "limit=ten",
        "added_after=yesterday",
        "added_after=2024-01-01T00:00:00",
        "match[version]=newest",
        "next=not-a-token",
    ]:
        for url in urls:
            assert_taxii_error(http.get(f"{url}?{query}", headers=headers(taxii.rw.bearer)), 400)


def test_unsupported_methods_are_405(taxii, http):
    """Only GET (and POST/DELETE where TAXII defines them): any other method is
    refused, and never served as if it were a GET."""
    objects = taxii.objects_url("shared")
    kept = indicator("198.51.100.80")
    posted = http.post(
        objects, content=json.dumps(envelope(kept)), headers=post_headers(taxii.rw.bearer)
    )
    assert posted.status_code == 202
    status = f"{taxii.root_url}status/{posted.json()['id']}/"
    only_get = [
        taxii.discovery_url,
        taxii.root_url,
        taxii.root_url + "collections/",
        taxii.collection_url("shared"),
        f"{objects}{kept.id}/versions/",
        taxii.collection_url("shared") + "manifest/",
        status,
    ]
    with NothingStored(taxii):
        cases = [(m, url) for url in only_get for m in ("POST", "PUT", "DELETE", "PATCH")]
        cases += [("PUT", objects), ("PATCH", objects), ("DELETE", objects)]
        cases += [("PUT", f"{objects}{kept.id}/"), ("POST", f"{objects}{kept.id}/")]
        for method, url in cases:
            answer = http.request(
                method, url, content=fresh_envelope(), headers=post_headers(taxii.rw.bearer)
            )
            assert answer.status_code == 405, (method, url, answer.status_code)
            assert_taxii_error(answer, 405)
    still = http.get(f"{objects}{kept.id}/", headers=headers(taxii.rw.bearer))
    assert still.json()["objects"] == [as_json(kept)]


# ---------------------------------------------------------------- who is asking


def bad_credentials(taxii: TaxiiNode) -> dict[str, dict[str, str]]:
    def basic(raw: bytes) -> dict[str, str]:
        import base64

        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    return {
        "none": {},
        "wrong password": basic(b"rw-tool:not-the-password"),
        "unknown user": basic(b"nobody-here:rw-password-0123456"),
        "no password": basic(b"rw-tool"),
        "not base64": {"Authorization": "Basic %%%not-base64%%%"},
        "unknown token": {"Authorization": "Bearer acc_" + "x" * 43},
        "empty bearer": {"Authorization": "Bearer"},
        "token as password": basic(f"rw-tool:{taxii.rw.token}".encode()),
    }


def test_no_or_wrong_credentials_are_401(taxii, http):
    with NothingStored(taxii):
        for label, auth in bad_credentials(taxii).items():
            for url in read_urls(taxii):
                answer = http.get(url, headers=headers(auth))
                assert answer.status_code == 401, (label, url)
                assert_taxii_error(answer, 401)
            posted = http.post(
                taxii.objects_url("shared"), content=fresh_envelope(), headers=post_headers(auth)
            )
            assert_taxii_error(posted, 401)
            gone = http.delete(
                taxii.objects_url("shared") + UNKNOWN_OBJECT + "/", headers=headers(auth)
            )
            assert_taxii_error(gone, 401)


def test_credentials_are_checked_before_anything_else(taxii, http):
    """No 404/406/413 to a stranger: 401 whatever else is wrong."""
    for url in [f"{taxii.node.url}/taxii2/api2/", f"{taxii.root_url}collections/{uuid.uuid4()}/"]:
        assert_taxii_error(http.get(url, headers={"Accept": TAXII}), 401)
    assert_taxii_error(http.get(taxii.root_url, headers={"Accept": "text/html"}), 401)
    with NothingStored(taxii):
        big = http.post(
            taxii.objects_url("shared"),
            content=padded(MAX_CONTENT + 1),
            headers={"Accept": TAXII, "Content-Type": TAXII, "Connection": "close"},
        )
        assert_taxii_error(big, 401)


def test_read_only_account_writing_is_403(taxii, http):
    rw = headers(taxii.rw.bearer)
    kept = indicator("198.51.100.50")
    posted = http.post(
        taxii.objects_url("shared"),
        content=json.dumps(envelope(kept)),
        headers=post_headers(taxii.rw.bearer),
    )
    assert posted.status_code == 202
    with NothingStored(taxii):
        for auth in (taxii.ro.basic, taxii.ro.bearer):
            answer = http.post(
                taxii.objects_url("shared"), content=fresh_envelope(), headers=post_headers(auth)
            )
            assert_taxii_error(answer, 403)
            gone = http.delete(f"{taxii.objects_url('shared')}{kept.id}/", headers=headers(auth))
            assert_taxii_error(gone, 403)
            # Reading is allowed.
            seen = http.get(f"{taxii.objects_url('shared')}{kept.id}/", headers=headers(auth))
            assert seen.status_code == 200 and seen.json()["objects"] == [as_json(kept)]
            # A collection it has no grant on does not exist for it.
            elsewhere = http.post(
                taxii.objects_url("red"), content=fresh_envelope(), headers=post_headers(auth)
            )
            assert_taxii_error(elsewhere, 404)
    still = http.get(f"{taxii.objects_url('shared')}{kept.id}/", headers=rw)
    assert still.json()["objects"] == [as_json(kept)]


def test_account_without_rights_sees_no_collection(taxii, http):
    unknown = f"{taxii.root_url}collections/{uuid.uuid4()}/"
    as_if_missing = [
        http.get(url, headers=headers(taxii.rw.bearer)).json() for url in collection_urls(unknown)
    ]
    with NothingStored(taxii):
        for auth in (taxii.nobody.basic, taxii.nobody.bearer):
            listed = http.get(taxii.root_url + "collections/", headers=headers(auth))
            assert listed.status_code == 200
            assert listed.json().get("collections", []) == []
            for alias in ("shared", "red"):
                urls = collection_urls(taxii.collection_url(alias))
                for url, expected in zip(urls, as_if_missing, strict=True):
                    answer = http.get(url, headers=headers(auth))
                    assert assert_taxii_error(answer, 404) == expected, url
                answer = http.post(
                    taxii.objects_url(alias), content=fresh_envelope(), headers=post_headers(auth)
                )
                assert_taxii_error(answer, 404)
                gone = http.delete(
                    taxii.objects_url(alias) + UNKNOWN_OBJECT + "/", headers=headers(auth)
                )
                assert_taxii_error(gone, 404)


# ---------------------------------------------------------------- per-object refusals


def test_invalid_objects_are_refused_one_by_one(taxii, http):
    good = as_json(indicator("198.51.100.60"))
    other = as_json(stix2.Malware(name="Dropper", is_family=True))
    no_pattern = {k: v for k, v in as_json(indicator("198.51.100.61")).items() if k != "pattern"}
    bad_id = {**as_json(indicator("198.51.100.62")), "id": "indicator--not-a-uuid"}
    bad_pattern = {**as_json(indicator("198.51.100.63")), "pattern": "[ipv4-addr:value = "}
    old_spec = {**as_json(indicator("198.51.100.64")), "spec_version": "2.0"}
    bad_time = {**as_json(indicator("198.51.100.65")), "modified": "yesterday"}
    refused = [no_pattern, bad_id, bad_pattern, old_spec, bad_time]
    shapeless = [42, "indicator", {"type": "indicator"}, None]
    sent = [good, *refused[:3], *shapeless, other, *refused[3:]]
    before = stored_counts(taxii.node)
    answer = http.post(
        taxii.objects_url("shared"),
        content=json.dumps({"objects": sent}),
        headers=post_headers(taxii.rw.bearer),
    )
    assert answer.status_code == 202, answer.text
    assert answer.headers["content-type"].replace(" ", "") == TAXII
    status = answer.json()
    assert status["status"] == "complete"
    assert status["total_count"] == len(sent)
    assert (status["success_count"], status["pending_count"]) == (2, 0)
    assert status["failure_count"] == len(refused) + len(shapeless) == len(status["failures"])
    assert {s["id"] for s in status["successes"]} == {good["id"], other["id"]}
    for failure in status["failures"]:
        assert isinstance(failure["id"], str) and failure["id"]
        assert isinstance(failure["message"], str) and failure["message"].strip()
        assert isinstance(failure.get("version"), str), "status details need a version (§4.3.1)"
    assert {o["id"] for o in refused} <= {f["id"] for f in status["failures"]}
    by_id = {f["id"]: f for f in status["failures"]}
    assert ts(by_id[no_pattern["id"]]["version"]) == ts(no_pattern["modified"])
    assert "pattern" in by_id[no_pattern["id"]]["message"]

    fetched = http.get(f"{taxii.root_url}status/{status['id']}/", headers=headers(taxii.rw.bearer))
    assert fetched.json() == status
    for obj in (good, other):
        back = http.get(
            f"{taxii.objects_url('shared')}{obj['id']}/", headers=headers(taxii.rw.bearer)
        )
        assert back.json()["objects"] == [obj]
    for obj in refused:
        if obj is bad_id:
            continue
        missing = http.get(
            f"{taxii.objects_url('shared')}{obj['id']}/", headers=headers(taxii.rw.bearer)
        )
        assert_taxii_error(missing, 404)
    after = stored_counts(taxii.node)
    assert after == {**before, "shared": before["shared"] + 2}


def test_hostile_json_is_refused_not_a_server_error(taxii, http):
    """Text Python's JSON parser takes but no database or strict JSON reader
    does: refused with a TAXII error or per object, never a 500."""
    auth = post_headers(taxii.rw.bearer)
    before = stored_counts(taxii.node)
    for body in [b"[" * 60000, b'{"objects": ' + b"[" * 5000 + b"]" * 5000 + b"}"]:
        assert_taxii_error(http.post(taxii.objects_url("shared"), content=body, headers=auth), 400)

    def named(name: str, **extra: Any) -> dict[str, Any]:
        return {**as_json(indicator("198.51.100.70")), "name": name, **extra}

    nan = json.dumps(named("not a number", x_score=float("nan"))).encode()
    assert b"NaN" in nan
    infinite = json.dumps(named("infinite", x_score=float("inf"))).encode()
    surrogate = named("\ud800 lone surrogate")
    bad_id = {**named("bad id"), "id": "indicator--\x00\ud800"}
    kept = named("NUL \x00 inside", pattern="[ipv4-addr:value = '198.51.100.71\x00']")
    items = [nan, infinite, *(json.dumps(o).encode() for o in (surrogate, bad_id, kept))]
    body = b'{"objects": [' + b",".join(items) + b"]}"
    answer = http.post(taxii.objects_url("shared"), content=body, headers=auth)
    assert answer.status_code == 202, answer.text[:500]
    status = answer.json()
    assert (status["success_count"], status["failure_count"]) == (1, 4), status
    assert [s["id"] for s in status["successes"]] == [kept["id"]]
    read = headers(taxii.rw.bearer)
    assert "NaN" not in http.get(taxii.objects_url("shared"), headers=read).text
    back = http.get(f"{taxii.objects_url('shared')}{kept['id']}/", headers=read)
    assert back.json()["objects"] == [kept]
    assert stored_counts(taxii.node) == {**before, "shared": before["shared"] + 1}


# ---------------------------------------------------------------- TLP:RED


def test_tlp_red_is_stored_but_never_served(taxii, http):
    auth = headers(taxii.rw.bearer)
    objects, manifest = taxii.objects_url("red"), taxii.collection_url("red") + "manifest/"
    green = indicator("203.0.113.10", object_marking_refs=[stix2.TLP_GREEN])
    red = indicator("203.0.113.11", object_marking_refs=[TLP_RED])
    red_v1 = indicator("203.0.113.12", object_marking_refs=[TLP1_RED])  # TLP 1.0's RED
    red_text = indicator(
        "203.0.113.13",
        description="The source is named here.",
        granular_markings=[{"marking_ref": TLP_RED, "selectors": ["description"]}],
    )
    # One object, first released, then a version marked RED.
    shared_then_red = indicator(
        "203.0.113.14", created="2024-06-01T00:00:00.000Z", modified="2024-06-01T00:00:00.000Z"
    )
    now_red = shared_then_red.new_version(
        modified="2024-06-02T00:00:00.000Z", object_marking_refs=[TLP_RED]
    )
    plain = stix2.Malware(name="Plain", is_family=True)
    # RED last in the envelope: the page headers must not speak of them.
    sent = [green, shared_then_red, plain, red, red_v1, red_text, now_red]
    withheld_ids = {o.id for o in (red, red_v1, red_text)}
    before = stored_counts(taxii.node)["red"]

    posted = http.post(objects, content=json.dumps(envelope(*sent)), headers=post_headers(auth))
    assert posted.status_code == 202
    assert posted.json()["success_count"] == len(sent), posted.text
    assert stored_counts(taxii.node)["red"] == before + len(sent), "RED objects are stored"

    def never_red(answer: httpx.Response) -> None:
        text = answer.text
        for red_id in withheld_ids:
            assert red_id not in text, answer.request.url
        assert TLP_RED not in text and TLP1_RED not in text, answer.request.url
        assert "The source is named here." not in text

    # The default read (match[version]=last) gives the newest version the tool
    # may read: the released one of the object whose newer version is RED.
    served_last = {green.id, plain.id, shared_then_red.id}
    for query in [
        "",
        "?match[version]=all",
        "?match[version]=first",
        "?added_after=2000-01-01T00:00:00Z",
        "?limit=1",
        "?match[id]=" + ",".join(sorted(withheld_ids)),
        "?match[type]=indicator&match[version]=all",
    ]:
        for url in (objects, manifest):
            answer = http.get(url + query, headers=auth)
            assert answer.status_code == 200, answer.text
            never_red(answer)
    every = http.get(objects + "?match[version]=all", headers=auth).json()["objects"]
    assert {(o["id"], o.get("modified")) for o in every} == {
        (green.id, as_json(green)["modified"]),
        (plain.id, as_json(plain)["modified"]),
        (shared_then_red.id, as_json(shared_then_red)["modified"]),
    }
    latest = http.get(objects, headers=auth)
    assert {o["id"] for o in latest.json()["objects"]} == served_last
    # The page headers speak of what was served, not of the RED objects after it.
    added = [ts(r["date_added"]) for r in http.get(manifest, headers=auth).json()["objects"]]
    assert ts(latest.headers["X-TAXII-Date-Added-Last"]) == max(added)

    for red_id in withheld_ids:
        for url in (f"{objects}{red_id}/", f"{objects}{red_id}/versions/"):
            answer = http.get(url, headers=auth)
            assert_taxii_error(answer, 404)
            never_red(answer)
    versions = http.get(f"{objects}{shared_then_red.id}/versions/", headers=auth)
    released = ts(as_json(shared_then_red)["modified"])
    assert [ts(v) for v in versions.json()["versions"]] == [released]
    only = http.get(f"{objects}{shared_then_red.id}/?match[version]=all", headers=auth)
    assert only.json()["objects"] == [as_json(shared_then_red)]
    never_red(only)
    last = http.get(f"{objects}{shared_then_red.id}/", headers=auth)
    assert last.json()["objects"] == [as_json(shared_then_red)]
    never_red(last)

    export = taxii.node.accord("intel", "export", "--collection", "red")
    bundle = json.loads(export.stdout)
    assert not {o["id"] for o in bundle["objects"]} & withheld_ids
    assert TLP_RED not in export.stdout and TLP1_RED not in export.stdout
    assert "4 object(s) withheld: TLP:RED" in export.stderr
