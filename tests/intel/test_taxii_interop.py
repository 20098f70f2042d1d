"""Interoperability: the OASIS `taxii2-client` (v21) drives every TAXII 2.1
endpoint of a live node, with objects built by the OASIS `stix2` library.
Objects must come back exactly as sent, filters and pagination must follow
TAXII 2.1 §3.4-3.6, and HTTP Basic and Bearer tokens both work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests
import requests.adapters
import requests.auth
import stix2
from taxii2client.v21 import ApiRoot, Collection, Server, Status, as_pages

from tests.intel.support import (
    HTTP_TIMEOUT_SECONDS,
    MAX_CONTENT,
    STIX,
    TAXII,
    Account,
    TaxiiNode,
    as_json,
    envelope,
    ts,
)

pytestmark = pytest.mark.live

AUTHS = ["basic", "bearer"]
# Besides `shared`: collections only these tests fill, so they can count exactly.
TAXII_COLLECTIONS = ("paging", "filters")


# ---------------------------------------------------------------- the client, bounded


class BearerAuth(requests.auth.AuthBase):
    """RFC 6750 Bearer (the client's own TokenAuth sends `Token …`)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """The client sets no timeout; every request here gets one."""

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = HTTP_TIMEOUT_SECONDS
        return super().send(request, **kwargs)


class Recorder:
    """The HTTP responses behind an endpoint's calls (the client returns only
    parsed JSON; TAXII puts X-TAXII-Date-Added-* in headers)."""

    def __init__(self) -> None:
        self.responses: list[requests.Response] = []

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.responses.append(response)

    @property
    def last(self) -> requests.Response:
        return self.responses[-1]


def bounded(endpoint):
    session = endpoint._conn.session
    session.mount("http://", BoundedAdapter())
    endpoint.recorder = Recorder()
    session.hooks["response"].append(endpoint.recorder)
    return endpoint


def connect(cls, url: str, account: Account, how: str = "bearer"):
    if how == "basic":
        return bounded(cls(url, user=account.name, password=account.password))
    return bounded(cls(url, auth=BearerAuth(account.token)))


def collection(
    taxii: TaxiiNode, alias: str, how: str = "bearer", account: Account | None = None
) -> Collection:
    return connect(Collection, taxii.collection_url(alias), account or taxii.rw, how)


def http_status(excinfo: pytest.ExceptionInfo) -> int:
    return excinfo.value.response.status_code


# ---------------------------------------------------------------- reading answers


def objects_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return answer.get("objects", [])


def ids_of(answer: dict[str, Any]) -> list[str]:
    return [o["id"] for o in objects_of(answer)]


def versions_of(answer: dict[str, Any]) -> list[tuple[str, Any]]:
    """(id, version) for each object, the version as a datetime when it has one."""
    return [(o["id"], version_key(o)) for o in objects_of(answer)]


def version_key(obj: dict[str, Any]) -> Any:
    stamp = obj.get("modified") or obj.get("created")
    return ts(stamp) if stamp else None


def key_of(stix_object: Any) -> tuple[str, Any]:
    return stix_object["id"], version_key(as_json(stix_object))


class Manifest:
    """date_added of every stored version (read through the manifest endpoint)."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.by_version = {(e["id"], ts(e["version"])): ts(e["date_added"]) for e in entries}
        self.by_id: dict[str, list] = {}
        for e in entries:
            self.by_id.setdefault(e["id"], []).append(ts(e["date_added"]))

    @classmethod
    def read(cls, col: Collection, **filters: Any) -> Manifest:
        answer = col.get_manifest(version="all", limit=1000, **filters)
        assert answer["more"] is False
        return cls(answer.get("objects", []))

    def added(self, obj: dict[str, Any]) -> Any:
        key = version_key(obj)
        if key is not None and (obj["id"], key) in self.by_version:
            return self.by_version[(obj["id"], key)]
        (only,) = self.by_id[obj["id"]]  # no modified/created (an SCO): one version here
        return only


def assert_added_headers(response: requests.Response, added: list[Any]) -> None:
    """X-TAXII-Date-Added-First/-Last: the date_added of the first and the last
    record of this page, which is sorted by date_added."""
    assert added == sorted(added), "a page must be in date_added order"
    first = response.headers.get("X-TAXII-Date-Added-First")
    last = response.headers.get("X-TAXII-Date-Added-Last")
    if not added:
        return
    assert first and last, dict(response.headers)
    assert ts(first) == added[0]
    assert ts(last) == added[-1]
    assert ts(first) <= ts(last)


def indicator(value: str, **extra: Any) -> stix2.Indicator:
    return stix2.Indicator(
        name=f"indicator {value}",
        pattern=f"[ipv4-addr:value = '{value}']",
        pattern_type="stix",
        valid_from="2024-01-01T00:00:00Z",
        **extra,
    )


# ---------------------------------------------------------------- discovery, roots, collections


@pytest.mark.parametrize("how", AUTHS)
def test_discovery_and_api_root(taxii, how):
    server = connect(Server, taxii.discovery_url, taxii.rw, how)
    assert server.title
    assert [root.url for root in server.api_roots] == [taxii.root_url]
    assert server.default is not None and server.default.url == taxii.root_url
    assert server.recorder.last.headers["Content-Type"].replace(" ", "") == TAXII
    root = bounded(server.default)
    assert root.title
    assert root.versions == [TAXII]
    assert root.max_content_length == MAX_CONTENT
    by_alias = {c.alias: c for c in root.collections}
    assert set(by_alias) == {"shared", *TAXII_COLLECTIONS}
    for alias, found in by_alias.items():
        assert found.id == taxii.collections[alias]
        assert found.url == taxii.collection_url(alias)
        assert (found.can_read, found.can_write) == (True, True)
        assert found.media_types == [STIX]
        assert found.title


def test_api_root_directly(taxii):
    root = connect(ApiRoot, taxii.root_url, taxii.rw, "basic")
    root.refresh()
    assert root.versions == [TAXII]
    assert len(root.collections) == 1 + len(TAXII_COLLECTIONS)
    assert root.custom_properties == {}


def test_collections_follow_each_accounts_grants(taxii):
    read_only = connect(ApiRoot, taxii.root_url, taxii.ro)
    assert [(c.alias, c.can_read, c.can_write) for c in read_only.collections] == [
        ("shared", True, False)
    ]
    assert connect(ApiRoot, taxii.root_url, taxii.nobody).collections == []


@pytest.mark.parametrize("how", AUTHS)
def test_one_collection(taxii, how):
    col = collection(taxii, "paging", how)
    col.refresh()
    assert col.id == taxii.collections["paging"]
    assert (col.title, col.alias) == ("Test paging", "paging")
    assert (col.can_read, col.can_write) == (True, True)
    assert col.media_types == [STIX]
    assert col.custom_properties == {}
    ro = collection(taxii, "shared", how, taxii.ro)
    ro.refresh()
    assert (ro.can_read, ro.can_write) == (True, False)


# ---------------------------------------------------------------- add and read back unchanged


def varied_objects() -> list[Any]:
    """STIX 2.1 as stix2 makes it: SDOs, SCOs, an SRO, markings, custom
    properties, non-ASCII text and sub-second timestamps."""
    who = stix2.Identity(
        name="Ministère de l'Intérieur — 公安部",
        identity_class="organization",
        sectors=["government-national"],
    )
    c2 = stix2.Indicator(
        name="C2 domain",
        description="Seen in “phishing” mail, 网络钓鱼",
        pattern="[domain-name:value = 'evil.example']",
        pattern_type="stix",
        valid_from="2024-03-01T12:00:00.123Z",
        created_by_ref=who.id,
        confidence=85,
        indicator_types=["malicious-activity"],
        labels=["malicious-activity"],
        object_marking_refs=[stix2.TLP_GREEN],
        kill_chain_phases=[
            {
                "kill_chain_name": "lockheed-martin-cyber-kill-chain",
                "phase_name": "command-and-control",
            }
        ],
        external_references=[{"source_name": "capec", "external_id": "CAPEC-98"}],
    )
    loader = stix2.Malware(name="Loader", is_family=True, malware_types=["trojan"])
    scored = stix2.Indicator(
        name="scored",
        pattern="[url:value = 'http://x.example/a?b=c&d=é']",
        pattern_type="stix",
        valid_from="2024-01-01T00:00:00Z",
        custom_properties={"x_acme_score": 7.5, "x_acme_tags": ["a", "b"]},
        allow_custom=True,
    )
    return [
        who,
        c2,
        loader,
        stix2.Relationship(c2, "indicates", loader),
        stix2.DomainName(value="evil.example"),
        stix2.File(name="a.exe", hashes={"SHA-256": "a" * 64}, size=1024),
        scored,
        stix2.Note(content="Seen twice.", object_refs=[c2.id]),
        stix2.Report(
            name="Q1",
            published="2024-04-01T00:00:00Z",
            object_refs=[c2.id, loader.id],
            report_types=["threat-report"],
        ),
        stix2.Vulnerability(
            name="CVE-2024-0001",
            external_references=[{"source_name": "cve", "external_id": "CVE-2024-0001"}],
        ),
    ]


@pytest.mark.parametrize("how", AUTHS)
def test_objects_round_trip_unchanged(taxii, how):
    col = collection(taxii, "shared", how)
    sent = [as_json(o) for o in varied_objects()]
    status = col.add_objects({"objects": sent}, timeout=HTTP_TIMEOUT_SECONDS)
    assert isinstance(status, Status) and status.status == "complete"
    assert col.recorder.last.status_code == 202
    assert (status.total_count, status.success_count) == (len(sent), len(sent))
    assert (status.failure_count, status.pending_count) == (0, 0)
    assert {s["id"] for s in status.successes} == {o["id"] for o in sent}
    for success in status.successes:
        obj = next(o for o in sent if o["id"] == success["id"])
        if version_key(obj) is not None:
            assert ts(success["version"]) == version_key(obj)

    wanted = [o["id"] for o in sent]
    back = col.get_objects(id=wanted)
    assert back["more"] is False
    assert sorted(objects_of(back), key=lambda o: o["id"]) == sorted(sent, key=lambda o: o["id"])
    for obj in sent:
        single = col.get_object(obj["id"])
        assert objects_of(single) == [obj], "the server must serve the object exactly as sent"
    # Sending the same versions again stores no new version. (Objects without
    # created/modified, the SCOs here, take the time they were added as their
    # version, so for them a second send is a second version.)
    again = col.add_objects({"objects": sent}, timeout=HTTP_TIMEOUT_SECONDS)
    assert again.success_count == len(sent)
    versioned = [o["id"] for o in sent if version_key(o) is not None]
    assert len(Manifest.read(col, id=versioned).entries) == len(versioned)


def test_basic_and_bearer_see_the_same_objects(taxii):
    one = indicator("198.51.100.7")
    collection(taxii, "shared", "basic").add_objects(envelope(one))
    by_basic = collection(taxii, "shared", "basic").get_object(one.id)
    by_token = collection(taxii, "shared", "bearer").get_object(one.id)
    by_reader = collection(taxii, "shared", "basic", taxii.ro).get_object(one.id)
    assert objects_of(by_basic) == objects_of(by_token) == objects_of(by_reader) == [as_json(one)]


# ---------------------------------------------------------------- filters


T = ["2024-05-01T10:00:00.000Z", "2024-05-02T10:00:00.500Z", "2024-05-03T10:00:00Z"]


@dataclass
class FilterData:
    col: Collection
    a: list[Any]  # three versions of one indicator, each sent in its own envelope
    malware: Any
    address: Any  # an SCO: no created/modified
    who: Any
    b: Any
    batches: list[list[Any]]
    manifest: Manifest

    def batch_last_added(self, index: int) -> Any:
        """The date_added of the last object of a batch."""
        return max(self.manifest.added(as_json(o)) for o in self.batches[index])

    @property
    def latest(self) -> set[tuple[str, Any]]:
        return {key_of(o) for o in (self.a[2], self.malware, self.address, self.who, self.b)}


@pytest.fixture(scope="module")
def data(taxii) -> FilterData:
    """The `filters` collection, filled in three envelopes."""
    col = collection(taxii, "filters")
    a1 = indicator("203.0.113.1", created=T[0], modified=T[0])
    a2 = a1.new_version(modified=T[1], name="second")
    a3 = a2.new_version(modified=T[2], name="third")
    malware = stix2.Malware(name="Wiper", is_family=False, malware_types=["wiper"])
    address = stix2.IPv4Address(value="203.0.113.1")
    who = stix2.Identity(name="CERT", identity_class="organization")
    b = indicator("203.0.113.2")
    batches = [[a1, malware, address, who], [a2, b], [a3]]
    for batch in batches:
        status = col.add_objects(envelope(*batch), timeout=HTTP_TIMEOUT_SECONDS)
        assert status.success_count == len(batch) and status.failure_count == 0
    manifest = Manifest.read(col)
    assert len(manifest.entries) == 7
    return FilterData(col, [a1, a2, a3], malware, address, who, b, batches, manifest)


def check_page(data: FilterData, answer: dict[str, Any]) -> set[tuple[str, Any]]:
    """Headers consistent with the objects; returns (id, version) of the page."""
    added = [data.manifest.added(o) for o in objects_of(answer)]
    assert_added_headers(data.col.recorder.last, added)
    keys = versions_of(answer)
    assert len(keys) == len(set(keys)), "no object version twice"
    return set(keys)


def test_no_filter_gives_the_latest_version_of_each(data):
    assert check_page(data, data.col.get_objects()) == data.latest


def test_filter_added_after(data):
    after_first = data.batch_last_added(0)
    got = check_page(data, data.col.get_objects(added_after=after_first.isoformat()))
    assert got == {key_of(data.a[2]), key_of(data.b)}
    after_second = data.batch_last_added(1)
    assert check_page(data, data.col.get_objects(added_after=after_second)) == {key_of(data.a[2])}
    # The header value itself is a valid added_after: nothing after the last.
    header = data.col.recorder.last.headers["X-TAXII-Date-Added-Last"]
    empty = data.col.get_objects(added_after=header)
    assert empty == {"more": False}
    # With every version: the versions added after the first batch.
    everything = data.col.get_objects(added_after=after_first, version="all")
    assert check_page(data, everything) == {key_of(data.a[1]), key_of(data.b), key_of(data.a[2])}


def test_filter_match_id(data):
    assert check_page(data, data.col.get_objects(id=data.b.id)) == {key_of(data.b)}
    two = data.col.get_objects(id=[data.malware.id, data.address.id])
    assert check_page(data, two) == {key_of(data.malware), key_of(data.address)}
    assert data.col.get_objects(id="indicator--00000000-0000-4000-8000-000000000000") == {
        "more": False
    }


def test_filter_match_type(data):
    got = check_page(data, data.col.get_objects(type="indicator"))
    assert got == {key_of(data.a[2]), key_of(data.b)}
    got = check_page(data, data.col.get_objects(type=["malware", "identity"]))
    assert got == {key_of(data.malware), key_of(data.who)}
    got = check_page(data, data.col.get_objects(type="ipv4-addr"))
    assert got == {key_of(data.address)}
    assert data.col.get_objects(type="campaign") == {"more": False}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("first", [0]),
        ("last", [2]),
        ("all", [0, 1, 2]),
        ("first,last", [0, 2]),
        (T[1], [1]),
        ("2024-05-02T10:00:00.5Z", [1]),  # the same instant at another precision
        (f"{T[0]},{T[2]}", [0, 2]),
        ("2024-05-02T10:00:00Z", []),
    ],
)
def test_filter_match_version(data, version, expected):
    wanted = {key_of(data.a[i]) for i in expected}
    answer = data.col.get_objects(id=data.a[0].id, version=version)
    assert check_page(data, answer) == wanted
    # Ordered by date_added: the versions were sent oldest first.
    assert versions_of(answer) == [key_of(data.a[i]) for i in expected]
    if expected:
        single = data.col.get_object(data.a[0].id, version=version)
        assert check_page(data, single) == wanted
        assert objects_of(single) == [as_json(data.a[i]) for i in expected]
    else:
        with pytest.raises(requests.HTTPError) as excinfo:
            data.col.get_object(data.a[0].id, version=version)
        assert http_status(excinfo) == 404


def test_match_version_first_and_all_over_the_collection(data):
    first = check_page(data, data.col.get_objects(version="first"))
    assert first == (data.latest - {key_of(data.a[2])}) | {key_of(data.a[0])}
    every = check_page(data, data.col.get_objects(version="all"))
    assert every == data.latest | {key_of(data.a[0]), key_of(data.a[1])}
    assert len(objects_of(data.col.get_objects(version="all"))) == 7


def test_filter_match_spec_version(data):
    assert check_page(data, data.col.get_objects(spec_version="2.1")) == data.latest
    assert data.col.get_objects(spec_version="2.0") == {"more": False}
    both = data.col.get_objects(spec_version=["2.0", "2.1"], type="indicator")
    assert check_page(data, both) == {key_of(data.a[2]), key_of(data.b)}


def test_filters_combine(data):
    after = data.batch_last_added(0)
    answer = data.col.get_objects(type="indicator", version="all", added_after=after)
    assert check_page(data, answer) == {key_of(data.a[1]), key_of(data.b), key_of(data.a[2])}


# ---------------------------------------------------------------- versions and manifest


def test_object_versions(data):
    answer = data.col.object_versions(data.a[0].id)
    assert answer["more"] is False and "next" not in answer
    assert [ts(v) for v in answer["versions"]] == [ts(t) for t in T]
    added = [data.manifest.by_version[key_of(o)] for o in data.a]
    assert_added_headers(data.col.recorder.last, added)
    # One version per page, following `next`.
    seen, cursor = [], None
    for _ in range(10):
        page = data.col.object_versions(data.a[0].id, limit=1, next=cursor)
        assert len(page["versions"]) == 1
        assert_added_headers(data.col.recorder.last, [added[len(seen)]])
        seen += page["versions"]
        if not page["more"]:
            assert "next" not in page
            break
        cursor = page["next"]
    assert [ts(v) for v in seen] == [ts(t) for t in T]
    # An SCO without created/modified has the time it was added as its version.
    (sco,) = data.col.object_versions(data.address.id)["versions"]
    assert ts(sco) == data.manifest.added(as_json(data.address))
    later = data.col.object_versions(data.a[0].id, added_after=data.batch_last_added(0))
    assert [ts(v) for v in later["versions"]] == [ts(T[1]), ts(T[2])]


def test_manifest(data):
    answer = data.col.get_manifest()
    assert answer["more"] is False
    records = answer["objects"]
    for record in records:
        assert set(record) == {"id", "date_added", "version", "media_type"}
        assert record["media_type"] == STIX
    assert {(r["id"], ts(r["version"])) for r in records if r["id"] != data.address.id} == {
        k for k in data.latest if k[0] != data.address.id
    }
    added = [ts(r["date_added"]) for r in records]
    assert_added_headers(data.col.recorder.last, added)
    every = data.col.get_manifest(version="all", id=data.a[0].id)["objects"]
    assert [ts(r["version"]) for r in every] == [ts(t) for t in T]
    only = data.col.get_manifest(type="malware")["objects"]
    assert [r["id"] for r in only] == [data.malware.id]


# ---------------------------------------------------------------- pagination


PAGING_OBJECTS = 27


@pytest.fixture(scope="module")
def paging(taxii) -> Collection:
    """The `paging` collection with PAGING_OBJECTS objects, sent in three envelopes."""
    col = collection(taxii, "paging")
    for start in range(0, PAGING_OBJECTS, 9):
        batch = [indicator(f"192.0.2.{start + i}") for i in range(9)]
        assert col.add_objects(envelope(*batch)).success_count == 9
    return col


def walk(col: Collection, func, per_request: int, **filters: Any):
    """as_pages, checking every page: at most per_request records, `next`
    exactly when `more`, headers consistent, pages in date_added order."""
    manifest = Manifest.read(col)
    records, pages, previous_last = [], 0, None
    for page in as_pages(func, per_request=per_request, **filters):
        pages += 1
        assert pages <= 200, "as_pages does not end"
        items = page.get("objects", [])
        assert len(items) <= per_request
        assert ("next" in page) == page["more"]
        if page["more"]:
            assert len(items) == per_request
        added = [ts(r["date_added"]) if "date_added" in r else manifest.added(r) for r in items]
        assert_added_headers(col.recorder.last, added)
        if added and previous_last is not None:
            assert previous_last < added[0], "pages overlap or go backwards"
        previous_last = added[-1] if added else previous_last
        records += items
    return records, pages


@pytest.mark.parametrize("per_request", [1, 5, 9, 26, 27, 100])
def test_objects_in_pages(paging, per_request):
    everything = paging.get_objects(limit=1000)
    assert everything["more"] is False
    expected = ids_of(everything)
    assert len(expected) >= PAGING_OBJECTS
    records, pages = walk(paging, paging.get_objects, per_request)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "an object came twice"
    assert ids == expected, "an object was missed, or the order differs"
    assert pages == max(1, -(-len(expected) // per_request))


@pytest.mark.parametrize("per_request", [4, 10])
def test_manifest_in_pages(paging, per_request):
    expected = Manifest.read(paging).entries
    records, _pages = walk(paging, paging.get_manifest, per_request)
    assert records == expected


def test_filtered_pages(taxii, paging):
    extra = stix2.Malware(name="Paging malware", is_family=True)
    paging.add_objects(envelope(extra))
    records, pages = walk(paging, paging.get_objects, 4, type="indicator")
    assert extra.id not in [r["id"] for r in records]
    assert {r["type"] for r in records} == {"indicator"}
    assert len(records) >= PAGING_OBJECTS and pages >= 7


def test_objects_added_while_paging_come_once_at_the_end(paging):
    before = ids_of(paging.get_objects(limit=1000))
    first = paging.get_objects(limit=10)
    assert first["more"] is True
    late = [indicator(f"192.0.2.{200 + i}") for i in range(3)]
    paging.add_objects(envelope(*late))
    ids, answer = ids_of(first), first
    for _ in range(100):
        if not answer["more"]:
            break
        answer = paging.get_objects(limit=10, next=answer["next"])
        ids += ids_of(answer)
    assert answer["more"] is False
    assert ids == before + [o.id for o in late]


def test_a_limit_above_the_total_is_one_page(paging):
    answer = paging.get_objects(limit=1000)
    assert answer["more"] is False and "next" not in answer


# ---------------------------------------------------------------- status


def test_status(taxii):
    col = collection(taxii, "shared", "basic")
    one, two = indicator("198.51.100.20"), indicator("198.51.100.21")
    posted = col.add_objects(envelope(one, two), wait_for_completion=False)
    status_id = posted.id
    root = connect(ApiRoot, taxii.root_url, taxii.rw, "bearer")
    fetched = root.get_status(status_id)
    assert fetched._raw == posted._raw
    assert fetched.status == "complete" and bool(fetched)
    assert ts(fetched.request_timestamp)
    assert (fetched.total_count, fetched.success_count, fetched.failure_count) == (2, 2, 0)
    assert fetched.pending_count == 0 and fetched.pendings == []
    assert {(s["id"], ts(s["version"])) for s in fetched.successes} == {key_of(one), key_of(two)}
    direct = connect(Status, f"{taxii.root_url}status/{status_id}/", taxii.rw, "basic")
    assert direct._raw == posted._raw
    # A status belongs to the account that posted.
    with pytest.raises(requests.HTTPError) as excinfo:
        connect(ApiRoot, taxii.root_url, taxii.ro).get_status(status_id)
    assert http_status(excinfo) == 404


# ---------------------------------------------------------------- delete


def test_delete_one_version_then_the_object(taxii):
    col = collection(taxii, "shared")
    v1 = indicator("198.51.100.30", created=T[0], modified=T[0])
    v2 = v1.new_version(modified=T[1], name="newer")
    keep = indicator("198.51.100.31")
    col.add_objects(envelope(v1, v2, keep))
    assert objects_of(col.get_object(v1.id)) == [as_json(v2)]

    # Deleting the newest version leaves the older one, now the last.
    col.delete_object(v1.id, version=T[1])
    assert col.recorder.last.status_code == 200
    assert [ts(v) for v in col.object_versions(v1.id)["versions"]] == [ts(T[0])]
    assert objects_of(col.get_object(v1.id)) == [as_json(v1)]
    assert objects_of(col.get_objects(id=v1.id, version="last")) == [as_json(v1)]
    assert objects_of(col.get_objects(id=v1.id, version="first")) == [as_json(v1)]

    col.delete_object(v1.id)
    for read in (col.get_object, col.object_versions):
        with pytest.raises(requests.HTTPError) as excinfo:
            read(v1.id)
        assert http_status(excinfo) == 404
    assert col.get_objects(id=v1.id, version="all") == {"more": False}
    assert col.get_manifest(id=v1.id) == {"more": False}
    with pytest.raises(requests.HTTPError) as excinfo:
        col.delete_object(v1.id)
    assert http_status(excinfo) == 404
    assert objects_of(col.get_object(keep.id)) == [as_json(keep)]


def test_delete_by_basic_auth(taxii):
    col = collection(taxii, "shared", "basic")
    gone = indicator("198.51.100.40")
    col.add_objects(envelope(gone))
    col.delete_object(gone.id)
    with pytest.raises(requests.HTTPError) as excinfo:
        col.get_object(gone.id)
    assert http_status(excinfo) == 404
