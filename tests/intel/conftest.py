"""A live node for the TAXII tests: one fresh `accord serve` per test module,
with TAXII accounts made by the CLI the way an operator would."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.intel.support import HTTP_TIMEOUT_SECONDS, MAX_CONTENT, TAXII, Account, TaxiiNode
from tests.live import LiveNode, discard_node, make_node


def _account(node: LiveNode, name: str, password: str, *rights: str) -> Account:
    node.accord("intel", "account", "add", name, *rights, "--password-stdin", stdin=password + "\n")
    token = node.accord("intel", "account", "token", name).stdout.strip()
    assert token and " " not in token, token
    return Account(name, password, token)


@pytest.fixture(scope="module")
def taxii(tmp_path_factory, request) -> Iterator[TaxiiNode]:
    """One fresh serving node for the module (request limit MAX_CONTENT) with
    `shared` and the collections the module names in TAXII_COLLECTIONS, and
    three TAXII accounts made by the CLI: `rw` (read and write on every
    collection), `ro` (read on `shared`) and `nobody` (no grant). Each has a
    password and a Bearer token."""
    suffix = request.module.__name__.rsplit(".", 1)[-1].replace("_", "")[:20]
    extra = list(getattr(request.module, "TAXII_COLLECTIONS", ()))
    node = make_node(
        tmp_path_factory.mktemp("taxii"),
        f"cn.{suffix}",
        "China",
        "Ministry of Public Security",
        ACCORD_TAXII_MAX_CONTENT=str(MAX_CONTENT),
        **getattr(request.module, "TAXII_NODE_ENV", {}),
    )
    try:
        node.init()
        for alias in extra:
            node.accord("intel", "collection", alias, "--title", f"Test {alias}")
        every = ["shared", *extra]
        rw = _account(node, "rw-tool", "rw-password-0123456", "--read", *every, "--write", *every)
        ro = _account(node, "ro-tool", "ro-password-0123456", "--read", "shared")
        nobody = _account(node, "no-rights", "no-password-0123456")
        node.start()
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as client:
            answer = client.get(
                f"{node.url}/taxii2/api1/collections/", headers={"Accept": TAXII, **rw.bearer}
            )
        answer.raise_for_status()
        collections = {c["alias"]: c["id"] for c in answer.json()["collections"]}
        assert set(collections) == set(every), collections
        yield TaxiiNode(node, collections, rw, ro, nobody)
    finally:
        discard_node(node)
