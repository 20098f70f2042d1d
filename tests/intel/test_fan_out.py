"""Intel sharing fanned out on the three agencies of the session (issue 16):
cn.mps shares a collection with every partner node (`accord intel share C
--all`); what it publishes arrives on both United States agencies, a TLP:RED
object on neither, and each receiving node says which agency it came from —
in its collection list, its sharing page and the object page.

The nodes are shared: the collection and every value are fresh."""

from __future__ import annotations

import json
import re
import uuid
from contextlib import ExitStack

import pytest

from tests.assistance.flow import Officers
from tests.intel.test_sync import RED, indicator
from tests.live import LiveNode, wait_until

pytestmark = pytest.mark.live

SOURCE = "Ministry of Public Security (China)"


def mirror_line(node: LiveNode, remote_id: str) -> str | None:
    """The `accord intel collections` line of the mirror of cn.mps's collection."""
    alias = f"from-cn-mps-{remote_id[:8]}"
    lines = node.accord("intel", "collections").stdout.splitlines()
    return next((line for line in lines if alias in line), None)


def mirrored_ids(node: LiveNode, remote_id: str) -> set[str]:
    line = mirror_line(node, remote_id)
    if line is None:
        return set()
    alias = line.split()[1]
    exported = node.accord("intel", "export", "--collection", alias).stdout
    return {o["id"] for o in json.loads(exported)["objects"]}


def test_a_shared_collection_reaches_every_agency_but_red_stays_home(three_agencies, tmp_path):
    cn, doj, dhs = three_agencies
    tag = uuid.uuid4().hex[:8]
    made = cn.accord("intel", "collection", f"fan-{tag}", "--title", f"Fan-out {tag}").stdout
    remote_id = made.split()[-1]
    shared = cn.accord("intel", "share", f"fan-{tag}", "--all").stdout
    assert f"shared with {doj.node_id}" in shared and f"shared with {dhs.node_id}" in shared

    green = indicator(f"198.51.100.{int(tag[:2], 16) % 250}")
    secret = indicator("192.0.2.77", object_marking_refs=[RED])
    path = tmp_path / "fan.json"
    bundle_id = f"bundle--{uuid.uuid4()}"
    path.write_text(json.dumps({"type": "bundle", "id": bundle_id, "objects": [green, secret]}))
    cn.accord("intel", "import", str(path), "--collection", f"fan-{tag}")
    cn.accord("intel", "sync")

    for node in (doj, dhs):
        wait_until(
            lambda node=node: green["id"] in mirrored_ids(node, remote_id),
            timeout=90,
            what=f"cn.mps's object on {node.node_id}",
        )
        assert mirrored_ids(node, remote_id) == {green["id"]}, "TLP:RED never leaves cn.mps"
        assert (mirror_line(node, remote_id) or "").endswith(SOURCE)

    with ExitStack() as stack:
        officer = Officers(stack, doj, dhs)
        for node in (doj, dhs):
            client = officer(node, "investigator")
            found = client.get("/intel/", params={"q": green["id"]})
            assert found.status_code == 200
            pks = re.findall(r'href="/intel/objects/(\d+)/"', found.text)
            assert pks, f"the object is listed on {node.node_id}"
            pages = [client.get(f"/intel/objects/{pk}/").text for pk in pks]
            shown = [page for page in pages if 'data-testid="source-agency"' in page]
            assert shown and all(f"Shared by {SOURCE}, node cn.mps" in page for page in shown)


def test_share_names_one_peer_or_all(three_agencies):
    cn, _doj, _dhs = three_agencies
    refused = cn.accord("intel", "share", "shared", check=False)
    assert refused.returncode != 0 and "--all" in refused.stderr
