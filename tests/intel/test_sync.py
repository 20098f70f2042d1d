"""Two live Accord nodes sync a collection both ways through the signed
channel, including a revocation and a deletion that the partner confirms;
TLP:RED never crosses."""

from __future__ import annotations

import json

import httpx
import pytest
import stix2

from tests.live import peered_pair, wait_until

RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
PASSWORD = "sync-partner-password"


def indicator(value: str, **extra) -> dict:
    made = stix2.Indicator(pattern=f"[ipv4-addr:value = '{value}']", pattern_type="stix",
                           valid_from="2026-01-01T00:00:00Z", **extra)  # fmt: skip
    return json.loads(made.serialize())


def load(node, tmp_path, name: str, objects: list[dict]) -> None:
    path = tmp_path / f"{node.node_id}-{name}.json"
    bundle_id = "bundle--7d6c3f2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    path.write_text(json.dumps({"type": "bundle", "id": bundle_id, "objects": objects}))
    node.accord("intel", "import", str(path))


def mirror_of(node, origin: str) -> list[dict]:
    """The objects of the collection `origin` shares with `node` (empty until it exists)."""
    lines = node.accord("intel", "collections").stdout.splitlines()
    alias = next((line.split()[1] for line in lines if f"from-{origin.replace('.', '-')}" in line),
                 None)  # fmt: skip
    if alias is None:
        return []
    return json.loads(node.accord("intel", "export", "--collection", alias).stdout)["objects"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    fast = {"ACCORD_CLOCK_SECONDS": "1"}
    with peered_pair(tmp_path_factory.mktemp("sync"), "sync", cn_env=fast, us_env=fast) as nodes:
        cn, us = nodes
        cn.accord("intel", "share", "shared", us.node_id)
        us.accord("intel", "share", "shared", cn.node_id)
        cn.accord("intel", "account", "add", "tool", "--read", "shared", "--write", "shared",
                  "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
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
    wait_until(lambda: {kept["id"], doomed["id"]} <= {o["id"] for o in mirror_of(us, cn.node_id)},
               timeout=60, what="the new objects on us")  # fmt: skip
    revoked = json.loads(stix2.parse(kept).new_version(revoked=True).serialize())
    load(cn, tmp_path, "revocation", [revoked])
    lines = cn.accord("intel", "collections").stdout.splitlines()
    shared = next(line.split()[0] for line in lines if " shared " in line)
    response = httpx.delete(
        f"{cn.url}/taxii2/api1/collections/{shared}/objects/{doomed['id']}/",
        auth=("tool", PASSWORD), headers={"Accept": "application/taxii+json;version=2.1"},
    )  # fmt: skip
    assert response.status_code == 200, response.text

    def settled() -> bool:
        mirrored = {o["id"]: o for o in mirror_of(us, cn.node_id)}
        return doomed["id"] not in mirrored and mirrored.get(kept["id"], {}).get("revoked") is True

    wait_until(settled, timeout=60, what="the revocation and the deletion on us")
    wait_until(lambda: f"{doomed['id']}  {us.node_id}" in cn.accord("intel", "retractions").stdout
               and "confirmed" in cn.accord("intel", "retractions").stdout,
               timeout=60, what="us's signed receipt for the deletion")  # fmt: skip


def test_a_taxii_subscription_pulls_a_partner_collection_and_resumes(pair, tmp_path):
    cn, us = pair
    lines = cn.accord("intel", "collections").stdout.splitlines()
    shared = next(line.split()[0] for line in lines if " shared " in line)
    us.accord("intel", "collection", "pulled", "--title", "Pulled from cn over TAXII")
    url = f"{cn.url}/taxii2/api1/collections/{shared}/objects/"
    us.accord("intel", "subscribe", "pulled", url, "--user", "tool", "--secret-stdin",
              stdin=PASSWORD + "\n")  # fmt: skip

    def pulled() -> list[dict]:
        return json.loads(us.accord("intel", "export", "--collection", "pulled").stdout)["objects"]

    # The clock (every second here) pulls; `accord intel sync` would do the same at once.
    wait_until(lambda: len(pulled()) >= 3, timeout=60, what="the first pull")
    assert all("192.0.2.99" not in o.get("pattern", "") for o in pulled())
    late = indicator("203.0.113.77")
    load(cn, tmp_path, "late", [late])
    wait_until(lambda: late["id"] in {o["id"] for o in pulled()}, timeout=60,
               what="the object added after the cursor")  # fmt: skip
    versions = [(o["id"], o.get("modified")) for o in pulled()]
    assert len(versions) == len(set(versions)), "the cursor must not pull anything twice"
    assert us.accord("intel", "sync").returncode == 0
