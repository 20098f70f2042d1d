"""Two live Accord nodes sync a collection both ways through the signed
channel, including a revocation and a deletion that the partner confirms;
TLP:RED never crosses."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import stix2

from tests.live import peered_pair, wait_until

RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
PASSWORD = "sync-partner-password"
EXTENSION = "extension-definition--4da54d41-2884-4772-ad2c-4d22b1f12193"


def indicator(value: str, **extra) -> dict:
    made = stix2.Indicator(
        pattern=f"[ipv4-addr:value = '{value}']",
        pattern_type="stix",
        valid_from="2026-01-01T00:00:00Z",
        **extra,
    )
    return json.loads(made.serialize())


def load(node, tmp_path, name: str, objects: list[dict]) -> None:
    path = tmp_path / f"{node.node_id}-{name}.json"
    bundle_id = "bundle--7d6c3f2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    path.write_text(json.dumps({"type": "bundle", "id": bundle_id, "objects": objects}))
    node.accord("intel", "import", str(path))


def mirror_of(node, origin: str) -> list[dict]:
    """The objects of the collection `origin` shares with `node` (empty until it exists)."""
    lines = node.accord("intel", "collections").stdout.splitlines()
    alias = next(
        (line.split()[1] for line in lines if f"from-{origin.replace('.', '-')}" in line), None
    )
    if alias is None:
        return []
    return json.loads(node.accord("intel", "export", "--collection", alias).stdout)["objects"]


def taxii_ids(node, collection_id: str, account: str) -> set[str]:
    """The ids a TAXII account of `node` is served from a collection."""
    response = httpx.get(
        f"{node.url}/taxii2/api1/collections/{collection_id}/objects/",
        params={"limit": 1000},
        auth=(account, PASSWORD),
        headers={"Accept": "application/taxii+json;version=2.1"},
        timeout=30,
    )
    response.raise_for_status()
    return {o["id"] for o in response.json().get("objects", [])}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    fast = {"ACCORD_CLOCK_SECONDS": "1"}
    with peered_pair(tmp_path_factory.mktemp("sync"), "sync", cn_env=fast, us_env=fast) as nodes:
        cn, us = nodes
        cn.accord("intel", "share", "shared", us.node_id)
        us.accord("intel", "share", "shared", cn.node_id)
        cn.accord(
            "intel",
            "account",
            "add",
            "tool",
            "--read",
            "shared",
            "--write",
            "shared",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        yield cn, us


def test_a_collection_syncs_both_ways_and_red_stays_home(pair, tmp_path):
    cn, us = pair
    ours = [indicator(f"203.0.113.{n}") for n in range(3)]
    secret = indicator("192.0.2.99", object_marking_refs=[RED])
    load(cn, tmp_path, "first", [*ours, secret])
    theirs = [indicator(f"198.51.100.{n}") for n in range(2)]
    load(us, tmp_path, "first", theirs)
    wait_until(lambda: len(mirror_of(us, cn.node_id)) == 3, timeout=60, what="cn's objects on us")
    wait_until(lambda: len(mirror_of(cn, us.node_id)) == 2, timeout=60, what="us's objects on cn")
    arrived = {o["id"]: o for o in mirror_of(us, cn.node_id)}
    assert arrived == {o["id"]: o for o in ours}, "objects must arrive unchanged"
    assert secret["id"] not in json.dumps(mirror_of(us, cn.node_id))


def test_a_revocation_and_a_deletion_reach_the_partner_and_are_confirmed(pair, tmp_path):
    cn, us = pair
    kept, doomed = indicator("203.0.113.50"), indicator("203.0.113.51")
    load(cn, tmp_path, "second", [kept, doomed])
    wait_until(
        lambda: {kept["id"], doomed["id"]} <= {o["id"] for o in mirror_of(us, cn.node_id)},
        timeout=60,
        what="the new objects on us",
    )
    revoked = json.loads(stix2.parse(kept).new_version(revoked=True).serialize())
    load(cn, tmp_path, "revocation", [revoked])
    lines = cn.accord("intel", "collections").stdout.splitlines()
    shared = next(line.split()[0] for line in lines if " shared " in line)
    response = httpx.delete(
        f"{cn.url}/taxii2/api1/collections/{shared}/objects/{doomed['id']}/",
        auth=("tool", PASSWORD),
        headers={"Accept": "application/taxii+json;version=2.1"},
    )
    assert response.status_code == 200, response.text

    def settled() -> bool:
        mirrored = {o["id"]: o for o in mirror_of(us, cn.node_id)}
        return doomed["id"] not in mirrored and mirrored.get(kept["id"], {}).get("revoked") is True

    wait_until(settled, timeout=60, what="the revocation and the deletion on us")
    wait_until(
        lambda: (
            [doomed["id"], us.node_id, "confirmed"]
            in [line.split()[:3] for line in cn.accord("intel", "retractions").stdout.splitlines()]
        ),
        timeout=60,
        what="us's signed receipt for the deletion",
    )


def test_a_taxii_subscription_pulls_a_partner_collection_and_resumes(pair, tmp_path):
    cn, us = pair
    lines = cn.accord("intel", "collections").stdout.splitlines()
    shared = next(line.split()[0] for line in lines if " shared " in line)
    us.accord("intel", "collection", "pulled", "--title", "Pulled from cn over TAXII")
    url = f"{cn.url}/taxii2/api1/collections/{shared}/objects/"
    us.accord(
        "intel",
        "subscribe",
        "pulled",
        url,
        "--user",
        "tool",
        "--secret-stdin",
        stdin=PASSWORD + "\n",
    )

    def pulled() -> list[dict]:
        return json.loads(us.accord("intel", "export", "--collection", "pulled").stdout)["objects"]

    # The clock (every second here) pulls; `accord intel sync` would do the same at once.
    wait_until(lambda: len(pulled()) >= 3, timeout=60, what="the first pull")
    assert all("192.0.2.99" not in o.get("pattern", "") for o in pulled())
    late = indicator("203.0.113.77")
    load(cn, tmp_path, "late", [late])
    wait_until(
        lambda: late["id"] in {o["id"] for o in pulled()},
        timeout=60,
        what="the object added after the cursor",
    )
    versions = [(o["id"], o.get("modified")) for o in pulled()]
    assert len(versions) == len(set(versions)), "the cursor must not pull anything twice"
    assert us.accord("intel", "sync").returncode == 0


def test_handling_conditions_travel_with_the_objects_and_bind_the_partner(pair, tmp_path):
    """cn sets conditions on import; its own partners and its share to us get
    the objects (cn is the originator), and on us the conditions hold: no
    onward release to us's TAXII accounts, no export of "no further sharing"."""
    cn, us = pair
    made = {
        code: indicator(f"203.0.113.{200 + n}")
        for n, code in enumerate(("national-authorities", "receiving-agency", "no-further-sharing"))
    }
    for code, obj in made.items():
        path = tmp_path / f"{code}.json"
        path.write_text(
            json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [obj]})
        )
        cn.accord(
            "intel",
            "import",
            str(path),
            "--handling-code",
            code,
            "--reliability",
            "B",
            "--accuracy",
            "2",
            "--purpose",
            "Operation Dawn",
        )
    lines = us.accord("intel", "collections").stdout.splitlines()
    alias = next(line.split()[1] for line in lines if "from-cn-sync" in line)
    us.accord(
        "intel",
        "account",
        "add",
        "us-tool",
        "--read",
        alias,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    mirror_id = next(line.split()[0] for line in lines if "from-cn-sync" in line)

    def served_by_us() -> set[str]:
        return taxii_ids(us, mirror_id, "us-tool")

    national, agency, closed = made.values()
    wait_until(lambda: national["id"] in served_by_us(), timeout=60, what="the objects on us")
    exported = {o["id"]: o for o in mirror_of(us, cn.node_id)}
    # Everything arrived: the agency object is exported on us, conditions intact.
    assert exported[agency["id"]]["extensions"][EXTENSION]["originator"] == cn.node_id
    assert exported[agency["id"]]["extensions"][EXTENSION]["purpose"] == "Operation Dawn"
    assert closed["id"] not in exported, "no further sharing: not even an export"
    assert agency["id"] not in served_by_us() and closed["id"] not in served_by_us()
    # On cn, the originator, its own conditions do not bind it.
    shared = next(
        line.split()[0]
        for line in cn.accord("intel", "collections").stdout.splitlines()
        if " shared " in line
    )
    assert {o["id"] for o in made.values()} <= taxii_ids(cn, shared, "tool")
