"""Upgrading a node from the previous release: a database built with that
release's migrations, filled as a working node fills it, migrated by
`accord migrate` to today's code, keeps its data and its federation state.

The previous release is the main line before the last round of merges that
changed migrations: commit PREVIOUS_RELEASE_COMMIT. The test does not check
that commit out (a CI clone may be shallow); it migrates today's code to the
migration names that commit held (tests/core/upgrade_steps.PREVIOUS_RELEASE),
which builds the same schema as long as released migrations are only ever
added to, never rewritten — and `test_the_pinned_names_are_the_release` checks
those names against the commit whenever the history is there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accord.core import identity
from tests.core import upgrade_steps
from tests.live import LiveNode, discard_node, make_node

PREVIOUS_RELEASE_COMMIT = "8a15a54c38a3d2d316486cecb4ebdc01336a5fb8"
ROOT = Path(__file__).resolve().parents[2]


def step(node: LiveNode, name: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.core.upgrade_steps", name],
        env=node.env | {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def node(tmp_path):
    node = make_node(tmp_path, "xx.upgrade", "Testland", "Test Agency", empty=True)
    node.data_dir.mkdir(parents=True)
    identity.write_identity(node.data_dir, node.node_id, node.party, node.agency)
    yield node
    discard_node(node)


def test_a_node_of_the_previous_release_upgrades_with_its_data_and_channel(node):
    old = step(node, "old")
    assert old["audit_head"] == 5

    migrated = node.accord("migrate")
    assert "Applying" in migrated.stdout

    new = step(node, "check")
    sent, pending = upgrade_steps.NOTES_OUT, upgrade_steps.PENDING_OUT
    # The channel stands where it stood: nothing resent, nothing skipped, no seq reused.
    assert new["next_out_seq"] == sent + pending + 1
    assert new["next_in_seq"] == upgrade_steps.NOTES_IN + 1
    assert new["outbox"] == [[seq, "applied"] for seq in range(1, sent + 1)] + [
        [seq, "pending"] for seq in range(sent + 1, sent + pending + 1)
    ]
    assert new["inbox"] == list(range(1, upgrade_steps.NOTES_IN + 1))
    assert new["new_seq"] == sent + pending + 1
    assert new["pending"] == [sent + 1, sent + 2, sent + pending + 1]
    assert len(new["notes"]) == sent + pending + upgrade_steps.NOTES_IN
    # The request, its steps, its case and the case's observables.
    assert new["request"] == ["submitted", 2, "CASE-UPGRADE"]
    assert new["steps"] == [[1, "create", "draft"], [2, "submit", "submitted"]]
    assert new["observables"] == ["6222-0000", "fraud@example.com"]
    assert new["stix_versions"] == 2
    # The file stored in clear before evidence existed became an evidence item.
    assert new["evidence"] == [[old["file"], len(upgrade_steps.FILE_BYTES)]]
    assert not (node.data_dir / "assistance-files" / old["file"]).exists()
    # The audit chain written under the old schema still verifies, and grows.
    assert new["verify"] is True
    assert new["verify_after"] is True


def test_the_pinned_names_are_the_release():
    """The names the upgrade test migrates to are the leaves of the pinned commit."""
    present = subprocess.run(
        ["git", "cat-file", "-e", f"{PREVIOUS_RELEASE_COMMIT}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if present.returncode != 0:
        pytest.skip("the clone does not hold the pinned commit (shallow history)")
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", PREVIOUS_RELEASE_COMMIT, "src/accord"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    leaves: dict[str, str] = {}
    for path in listing:
        parts = Path(path).parts
        if len(parts) == 5 and parts[3] == "migrations" and parts[4][:4].isdigit():
            leaves[parts[2]] = max(leaves.get(parts[2], ""), parts[4].removesuffix(".py"))
    assert sorted(leaves.items()) == sorted(upgrade_steps.PREVIOUS_RELEASE)
