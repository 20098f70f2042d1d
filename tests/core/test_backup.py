"""`accord backup` and `accord restore`: one archive holds the database, the
keys and the stored files; restore brings all of it back onto an empty node,
and refuses a damaged or foreign archive without changing anything."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.live import (
    LiveNode,
    create_postgres_database,
    discard_node,
    drop_postgres_database,
    make_node,
    suite_database_url,
)

EVIDENCE = b"seized ledger\n" * 1000


def fresh_database(node: LiveNode) -> None:
    """Lose the node: its data directory and its database, as in a disaster."""
    shutil.rmtree(node.data_dir)
    if node.database_url:
        drop_postgres_database(node.database_url)
        node.database_url = create_postgres_database(suite_database_url())


def contents(node: LiveNode) -> dict[str, bytes]:
    return {
        str(path.relative_to(node.data_dir)): path.read_bytes()
        for path in sorted(node.data_dir.rglob("*"))
        if path.is_file() and not path.name.startswith("accord.sqlite3")
    }


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = make_node(tmp_path_factory.mktemp("backup"), "cn.backup", "China", "MPS")
    node.init()
    node.create_user("officer", "investigator")
    created = node.accord("cases", "create", "Ledger fraud", "--as", "officer").stdout
    reference = created.split()[0]
    ledger = node.data_dir.parent / "ledger.txt"
    ledger.write_bytes(EVIDENCE)
    node.accord("evidence", "add", str(ledger), "--case", reference, "--as", "officer")
    yield node
    discard_node(node)


def items(node: LiveNode) -> list[dict]:
    return json.loads(node.accord("evidence", "list", "--as", "officer", "--json").stdout)


def test_a_node_restored_from_its_back_up_holds_its_database_keys_and_files(node, tmp_path):
    archive = tmp_path / "cn.tar"
    written = node.accord("backup", str(archive))
    assert "back-up of cn.backup written" in written.stdout
    assert archive.stat().st_mode & 0o077 == 0  # it holds the private keys
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        for name, member in manifest["members"].items():
            assert hashlib.sha256(tar.extractfile(name).read()).hexdigest() == member["sha256"]
    assert manifest["format"] == "accord-backup" and manifest["version"] == 1
    assert manifest["node_id"] == "cn.backup"
    vendor = "postgresql" if node.database_url else "sqlite"
    assert manifest["database"]["vendor"] == vendor
    assert {"data/node.json", "data/signing.key", "data/encryption.key", "data/secret_key"} <= set(
        manifest["members"]
    )
    assert any(name.startswith("data/evidence/") for name in manifest["members"])
    before_files, before_items = contents(node), items(node)
    keys = node.accord("keys", "show").stdout

    fresh_database(node)
    restored = node.accord("restore", str(archive))
    assert "cn.backup restored" in restored.stdout

    assert contents(node) == before_files  # keys, secret key, stored evidence
    assert items(node) == before_items
    out = node.data_dir.parent / "ledger.out"
    node.accord("evidence", "download", before_items[0]["id"], "--out", str(out), "--as", "officer")
    assert out.read_bytes() == EVIDENCE
    assert node.accord("keys", "show").stdout == keys
    verified = node.accord("audit", "verify", "--local").stdout
    assert verified.startswith("OK")


def rewrite(archive: Path, target: Path, change) -> Path:
    """A copy of `archive` with `change(name, data) -> data` applied to every member."""
    with tarfile.open(archive) as source, tarfile.open(target, "w") as out:
        for member in source:
            data = change(member.name, source.extractfile(member).read())
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def flip_database_byte(name: str, data: bytes) -> bytes:
    if name.startswith("database."):
        return data[:100] + bytes([data[100] ^ 1]) + data[101:]
    return data


def other_node(name: str, data: bytes) -> bytes:
    if name == "manifest.json":
        manifest = json.loads(data)
        manifest["node_id"] = "us.other"
        return json.dumps(manifest).encode()
    return data


def not_an_archive(path: Path, target: Path) -> Path:
    target.write_bytes(b"not a tar at all" * 100)
    return target


def test_restore_refuses_a_damaged_or_foreign_archive_and_changes_nothing(node, tmp_path):
    archive = tmp_path / "cn.tar"
    node.accord("backup", str(archive))
    empty = make_node(tmp_path, "cn.empty", "China", "MPS", empty=True)
    bad_ones = {
        "does not match its checksum": rewrite(archive, tmp_path / "1.tar", flip_database_byte),
        "not those of the node its manifest names": rewrite(archive, tmp_path / "2", other_node),
        "Not a readable back-up archive": not_an_archive(archive, tmp_path / "3.tar"),
    }
    try:
        for message, bad in bad_ones.items():
            refused = empty.accord("restore", str(bad), check=False)
            assert refused.returncode != 0
            assert message in refused.stderr
            assert not empty.data_dir.exists() or not any(empty.data_dir.iterdir())
            assert not list(tmp_path.glob(".accord-restore-*"))
        # The same target takes the good archive afterwards: nothing was half-written.
        assert "restored" in empty.accord("restore", str(archive), "--no-recover").stdout
    finally:
        discard_node(empty)


def test_restore_never_overwrites_a_node(node, tmp_path):
    archive = tmp_path / "cn.tar"
    node.accord("backup", str(archive))
    refused = node.accord("restore", str(archive), check=False)
    assert refused.returncode != 0
    assert "already holds a node" in refused.stderr
    assert node.accord("audit", "verify", "--local").stdout.startswith("OK")
