"""`accord intel` from a shell: a stix2 bundle goes in with `import` and comes
back out of `export` unchanged, TLP:RED withheld; bad input gets a non-zero
exit and one line, never a traceback, and changes nothing."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import httpx
import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from tests.intel.support import TAXII, TLP_RED, TaxiiNode, as_json, indicator, stored_counts

pytestmark = pytest.mark.live

TAXII_COLLECTIONS = ("imported", "again", "piped")


def sample() -> tuple[list[Any], list[Any]]:
    """(released, withheld): what a partner may see, and the TLP:RED objects."""
    who = stix2.Identity(name="Bureau 公安", identity_class="organization")
    first = indicator("203.0.113.40", created_by_ref=who.id, object_marking_refs=[stix2.TLP_AMBER])
    second = first.new_version(name="renamed", confidence=70)
    malware = stix2.Malware(name="Stealer", is_family=True, malware_types=["spyware"])
    released = [
        who,
        stix2.TLP_AMBER,
        first,
        second,
        malware,
        stix2.Relationship(second, "indicates", malware),
        stix2.DomainName(value="stealer.example"),
        stix2.Note(content="Shared on request.", object_refs=[malware.id]),
    ]
    withheld = [
        indicator("203.0.113.41", object_marking_refs=[TLP_RED], description="Informant"),
        stix2.Malware(name="Private", is_family=True, object_marking_refs=[TLP_RED]),
    ]
    return released, withheld


def bundle_text(objects: list[Any]) -> str:
    return stix2.Bundle(objects=objects, allow_custom=True).serialize(pretty=True)


def assert_one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert text in lines[0], lines[0]


def export(taxii: TaxiiNode, alias: str) -> tuple[dict[str, Any], str]:
    result = taxii.node.accord("intel", "export", "--collection", alias)
    return json.loads(result.stdout), result.stderr


def test_import_then_export_round_trips(taxii, tmp_path):
    released, withheld = sample()
    path = tmp_path / "bundle.json"
    path.write_text(bundle_text(released + withheld), encoding="utf-8")
    before = stored_counts(taxii.node)

    result = taxii.node.accord("intel", "import", str(path), "--collection", "imported")
    total = len(released) + len(withheld)
    assert result.stdout.splitlines()[0] == f"{total} stored or already there, 0 refused"
    assert stored_counts(taxii.node) == {**before, "imported": before["imported"] + total}

    bundle, stderr = export(taxii, "imported")
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    assert bundle["objects"] == [as_json(o) for o in released], "exported exactly as imported"
    assert "2 object(s) withheld: TLP:RED" in stderr
    text = json.dumps(bundle)
    for red in withheld:
        assert red.id not in text
    assert TLP_RED not in text and "Informant" not in text
    # The export is a STIX 2.1 bundle the OASIS tools accept.
    assert validate_string(json.dumps(bundle), ValidationOptions(version="2.1")).is_valid
    parsed = stix2.parse(json.dumps(bundle), allow_custom=True)
    assert len(parsed.objects) == len(released)

    # --out writes the same bundle to a file.
    out = tmp_path / "out.json"
    written = taxii.node.accord("intel", "export", "--collection", "imported", "--out", str(out))
    assert str(out) in written.stdout
    assert json.loads(out.read_text(encoding="utf-8"))["objects"] == bundle["objects"]

    # And TAXII serves the same objects (the newest version of each).
    with httpx.Client(timeout=30) as client:
        answer = client.get(
            taxii.objects_url("imported"),
            headers={"Accept": TAXII, **taxii.rw.bearer},
            params={"match[version]": "all"},
        )
    assert answer.json()["objects"] == bundle["objects"]


def test_export_reimports_unchanged(taxii, tmp_path):
    released, withheld = sample()
    first = tmp_path / "first.json"
    first.write_text(bundle_text(released + withheld), encoding="utf-8")
    taxii.node.accord("intel", "import", str(first), "--collection", "again")
    exported = taxii.node.accord("intel", "export", "--collection", "again").stdout
    # From standard input, into another collection: the same objects again.
    piped = taxii.node.accord("intel", "import", "-", "--collection", "piped", stdin=exported)
    assert piped.stdout.startswith(f"{len(released)} stored or already there, 0 refused")
    again, stderr = export(taxii, "piped")
    assert again["objects"] == json.loads(exported)["objects"]
    assert "withheld" not in stderr


def test_importing_twice_stores_each_version_once(taxii, tmp_path):
    versioned = [o for o in sample()[0] if "modified" in o or "created" in o]
    path = tmp_path / "twice.json"
    path.write_text(bundle_text(versioned), encoding="utf-8")
    taxii.node.accord("intel", "import", str(path))
    before = stored_counts(taxii.node)
    result = taxii.node.accord("intel", "import", str(path))
    assert result.stdout.startswith(f"{len(versioned)} stored or already there, 0 refused")
    assert stored_counts(taxii.node) == before


def test_import_names_each_refused_object(taxii, tmp_path):
    good = indicator("203.0.113.50")
    bad = {k: v for k, v in as_json(indicator("203.0.113.51")).items() if k != "pattern"}
    path = tmp_path / "mixed.json"
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [as_json(good), bad]}
    path.write_text(json.dumps(bundle))
    before = stored_counts(taxii.node)
    result = taxii.node.accord("intel", "import", str(path))
    lines = result.stdout.splitlines()
    assert lines[0] == "1 stored or already there, 1 refused"
    assert lines[1].strip().startswith(f"refused {bad['id']}:") and "pattern" in lines[1]
    assert stored_counts(taxii.node) == {**before, "shared": before["shared"] + 1}


# ---------------------------------------------------------------- bad input


def test_bad_input_is_one_line_and_changes_nothing(taxii, tmp_path):
    not_json = tmp_path / "notes.txt"
    not_json.write_text("indicator: 203.0.113.60\n", encoding="utf-8")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    no_list = {name: tmp_path / f"{name}.json" for name in ("array", "bundle", "dict", "string")}
    no_list["array"].write_text(json.dumps([as_json(indicator("203.0.113.61"))]))
    no_list["bundle"].write_text(json.dumps({"type": "bundle", "id": "bundle--x"}))
    no_list["dict"].write_text(json.dumps({"objects": {"a": 1}}))
    no_list["string"].write_text(json.dumps("objects"))
    good = tmp_path / "good.json"
    good.write_text(bundle_text([indicator("203.0.113.62")]), encoding="utf-8")

    before = stored_counts(taxii.node)
    node = taxii.node
    for path in (not_json, binary, tmp_path / "missing.json", tmp_path):
        assert_one_line_error(
            node.accord("intel", "import", str(path), check=False), "cannot read it as JSON"
        )
    assert_one_line_error(
        node.accord("intel", "import", "-", stdin="{", check=False), "cannot read it as JSON"
    )
    for path in no_list.values():
        assert_one_line_error(
            node.accord("intel", "import", str(path), check=False), "no objects list"
        )
    assert_one_line_error(
        node.accord("intel", "import", str(good), "--collection", "nope", check=False),
        "no collection 'nope'",
    )
    assert_one_line_error(
        node.accord("intel", "export", "--collection", "nope", check=False),
        "no collection 'nope'",
    )
    assert stored_counts(node) == before


def test_bad_account_commands_are_one_line_and_add_nothing(taxii):
    node = taxii.node
    add = ("intel", "account", "add")
    cases = [
        ((*add, "tool-a", "--read", "shared", "--password-stdin"), "", "no password"),
        ((*add, "tool-b", "--read", "shared", "--password-stdin"), "\n", "no password"),
        ((*add, "tool-c", "--password-stdin"), "short\n", "at least 12 characters"),
        (
            (*add, "tool-d", "--read", "nope", "--password-stdin"),
            "long-enough-pass\n",
            "no collection 'nope'",
        ),
        ((*add, taxii.ro.name, "--password-stdin"), "long-enough-pass\n", "exists"),
        (("intel", "account", "token", "tool-e"), None, "no account 'tool-e'"),
    ]
    for args, stdin, text in cases:
        assert_one_line_error(node.accord(*args, stdin=stdin, check=False), text)
    listed = node.accord("intel", "account", "list").stdout
    names = {line.split()[0] for line in listed.splitlines()[1:] if line.strip()}
    assert names == {taxii.rw.name, taxii.ro.name, taxii.nobody.name}
    # The existing account kept its password and its grants.
    with httpx.Client(timeout=30) as client:
        answer = client.get(
            taxii.root_url + "collections/", headers={"Accept": TAXII, **taxii.ro.basic}
        )
    assert [c["alias"] for c in answer.json()["collections"]] == ["shared"]
