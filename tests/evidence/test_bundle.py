"""Court bundles: an untouched bundle verifies offline, and each kind of
tampering is named by the verifier (docs/evidence.md, "Verifying"). Every
tampered bundle is a consistent ZIP, as a tamperer would make it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from accord.evidence import bundle, custody
from tests.evidence.bundle_kit import (
    TRUST,
    MiB,
    chain,
    lines_bytes,
    members,
    record_lines,
    resign,
    rewrite,
    source,
    write,
)

ROOT = Path(__file__).resolve().parents[2]
BIG = os.urandom(3 * MiB + 123)  # four chunks, the last one short
SMALL = "中文笔录：第一页".encode()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("bundle") / "bundle.zip"
    items = [source(BIG), source(SMALL, name="笔录\r\n../第1页.pdf")]
    return path, write(path, items, cover_pdf=b"%PDF-1.7 cover")


@pytest.fixture
def original(exported) -> Path:
    return exported[0]


@pytest.fixture
def manifest(exported) -> dict:
    return json.loads(json.dumps(exported[1]))  # a copy each test may change


def verdict(path: Path, trust: dict[str, str] = TRUST) -> bundle.Verdict:
    return bundle.verify_bundle(path, trust)


def broken(path: Path, code: str, trust: dict[str, str] = TRUST) -> str:
    result = verdict(path, trust)
    assert (result.ok, result.code) == (False, code), result
    return result.message


def test_an_untouched_bundle_verifies(original, manifest):
    result = verdict(original)
    assert result.ok and (result.items, result.records, result.signer) == (2, 10, "cn.mps")
    assert result.message == "2 items, 10 custody records, signed by cn.mps"
    big = manifest["items"][0]
    assert big["chunks"] == [
        hashlib.sha256(BIG[start : start + MiB]).hexdigest() for start in range(0, len(BIG), MiB)
    ]
    assert len(big["chunks"]) == 4 and members(original)[big["file"]] == BIG


def change_member(name: str, edit):
    return lambda contents: contents | {name: edit(contents[name])}


def flip(byte: int) -> bytes:
    """A byte surely different from this one (writing a fixed value would
    change nothing where the random content holds it already: 1 in 256)."""
    return bytes([byte ^ 0xFF])


def test_one_changed_byte_names_its_chunk(original, manifest, tmp_path):
    name = manifest["items"][0]["file"]
    flipped = rewrite(
        original,
        tmp_path / "t.zip",
        change_member(name, lambda data: data[: MiB + 7] + flip(data[MiB + 7]) + data[MiB + 8 :]),
    )
    assert "chunk 1 (bytes 1048576–2097151) changed" in broken(flipped, "file_changed")


def test_a_truncated_file_names_the_missing_chunk(original, manifest, tmp_path):
    name = manifest["items"][0]["file"]
    short = rewrite(original, tmp_path / "t.zip", change_member(name, lambda data: data[: 3 * MiB]))
    assert "chunk 3 of 4" in broken(short, "chunk_missing")
    cut = rewrite(original, tmp_path / "u.zip", change_member(name, lambda data: data[: MiB + 5]))
    assert "chunk 1 of 4" in broken(cut, "chunk_missing")


def test_extra_bytes_are_named(original, manifest, tmp_path):
    name = manifest["items"][0]["file"]
    longer = rewrite(original, tmp_path / "t.zip", change_member(name, lambda data: data + b"x"))
    broken(longer, "file_extra")


def edit_records(manifest: dict, edit, item: int = 1):
    name = manifest["items"][item]["custody"]
    return change_member(name, lambda data: lines_bytes(edit(record_lines(data))))


def test_a_changed_custody_field_breaks_its_signature(original, manifest, tmp_path):
    def edit(records):
        records[1]["actor"] = "someone.else"
        return records

    path = rewrite(original, tmp_path / "t.zip", edit_records(manifest, edit))
    assert "custody record 2 (cn.mps record seq 1" in broken(path, "custody_signature")


def test_swapped_custody_records_are_named(original, manifest, tmp_path):
    def edit(records):
        records[1], records[2] = records[2], records[1]
        return records

    broken(rewrite(original, tmp_path / "t.zip", edit_records(manifest, edit)), "custody_order")


def test_a_removed_middle_record_is_named(original, manifest, tmp_path):
    def edit(records):
        del records[1]
        return records

    broken(rewrite(original, tmp_path / "t.zip", edit_records(manifest, edit)), "custody_order")


def test_a_removed_last_record_is_named_by_the_manifest_head(original, manifest, tmp_path):
    def edit(records):
        del records[-1]  # us.doj's seq 1
        return records

    path = rewrite(original, tmp_path / "t.zip", edit_records(manifest, edit))
    assert "us.doj's custody chain ends at seq 0" in broken(path, "custody_head")


def test_a_record_appended_after_export_is_named(original, manifest, tmp_path):
    def edit(records):
        last = custody.Record.from_json(records[-1])
        item = manifest["items"][1]
        extra = custody.make_record(
            item=item["id"],
            sha256=item["sha256"],
            node="us.doj",
            prev=last,
            event="viewed",
            at=last.at_datetime,
            actor="operator",
            reason="",
            details={},
            signing_key=SigningKey(bytes([2]) * 32),
        )
        return [*records, extra.to_json()]

    path = rewrite(original, tmp_path / "t.zip", edit_records(manifest, edit))
    assert "goes on past seq 1" in broken(path, "custody_head")


def test_a_custody_record_re_signed_by_an_untrusted_key_is_named(original, manifest, tmp_path):
    def forge(records):
        record = custody.Record.from_json(records[0])
        forged = custody.make_record(
            **{key: getattr(record, key) for key in ("item", "sha256", "node", "event")},
            prev=None,
            at=record.at_datetime,
            actor="forger",
            reason=record.reason,
            details=record.details,
            signing_key=SigningKey(bytes([9]) * 32),
        )
        return [forged.to_json(), *records[1:]]

    broken(
        rewrite(original, tmp_path / "t.zip", edit_records(manifest, forge)), "custody_signature"
    )


def test_a_custody_record_by_a_node_the_manifest_does_not_list_is_named(
    original, manifest, tmp_path
):
    item = manifest["items"][1]

    def edit(records):
        data = members(original)[item["file"]]
        return records + [r.to_json() for r in chain(item["id"], data, "xx.evil", ["viewed"])]

    path = rewrite(original, tmp_path / "t.zip", edit_records(manifest, edit))
    assert "xx.evil, which is not trusted" in broken(path, "untrusted_node")


def test_a_manifest_re_signed_by_another_key_is_named(original, manifest, tmp_path):
    manifest["items"][0]["description"] = "something else"
    key = SigningKey(bytes([9]) * 32)
    path = rewrite(original, tmp_path / "t.zip", lambda c: resign(c, manifest, key))
    assert "does not match cn.mps's key" in broken(path, "manifest_signature")


def test_a_changed_manifest_without_a_new_signature_is_named(original, tmp_path):
    def edit(contents):
        data = contents[bundle.MANIFEST].replace(b"Fraud ring", b"Fraud rung")
        return contents | {bundle.MANIFEST: data}

    broken(rewrite(original, tmp_path / "t.zip", edit), "manifest_signature")


def test_a_manifest_giving_a_node_another_key_is_named(original, manifest, tmp_path):
    key = SigningKey(bytes([9]) * 32)
    manifest["nodes"]["cn.mps"]["signing_key"] = bundle.b64(bytes(key.verify_key))
    path = rewrite(original, tmp_path / "t.zip", lambda c: resign(c, manifest, key))
    broken(path, "untrusted_node")


def test_an_untrusted_or_mismatched_fingerprint_is_named(original):
    assert "--trust cn.mps=" in broken(original, "untrusted_node", {"us.doj": TRUST["us.doj"]})
    broken(original, "untrusted_node", TRUST | {"us.doj": "0" * 64})
    broken(original, "untrusted_node", {"cn.mps": TRUST["cn.mps"]})  # us.doj signed records
    shouted = {node: "SHA256:" + value.upper() for node, value in TRUST.items()}
    assert verdict(original, shouted).ok


@pytest.mark.parametrize(
    ("member", "code"),
    [
        (lambda m: m["items"][0]["file"], "file_missing"),
        (lambda m: m["items"][1]["custody"], "custody_missing"),
        (lambda m: bundle.MANIFEST, "manifest_missing"),
        (lambda m: bundle.SIGNATURE, "manifest_missing"),
    ],
)
def test_a_missing_member_is_named(original, manifest, tmp_path, member, code):
    name = member(manifest)
    path = rewrite(
        original, tmp_path / "t.zip", lambda c: {k: v for k, v in c.items() if k != name}
    )
    assert name in broken(path, code)


@pytest.mark.parametrize("name", ["../evil.sh", "/etc/cron.d/evil", "files/../../x", "a\\b"])
def test_a_member_with_an_unsafe_name_is_refused(original, tmp_path, name):
    path = rewrite(original, tmp_path / "t.zip", lambda c: c | {name: b"x"})
    broken(path, "unsafe_member")


def test_an_unlisted_member_is_named_and_the_cover_is_not(original, tmp_path):
    path = rewrite(original, tmp_path / "t.zip", lambda c: c | {"files/extra": b"x"})
    assert "files/extra" in broken(path, "unexpected_member")
    no_cover = rewrite(original, tmp_path / "u.zip", lambda c: c | {"cover.pdf": b"other"})
    assert verdict(no_cover).ok


def test_a_compressed_member_or_a_size_the_member_does_not_hold_is_refused(original, tmp_path):
    compressed = rewrite(
        original, tmp_path / "t.zip", lambda c: c, compress={"cover.pdf": zipfile.ZIP_DEFLATED}
    )
    assert "compressed" in broken(compressed, "not_a_bundle")
    # A zip bomb's trick: the central directory claims a size the data does not have.
    data = bytearray(original.read_bytes())
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(bundle.SIGNATURE.encode()))
    struct.pack_into("<I", data, entry + 24, 10**9)
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(bytes(data))
    assert "declares 1000000000 bytes" in broken(bomb, "not_a_bundle")


def test_what_is_not_a_bundle_is_named(original, manifest, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    broken(junk, "not_a_bundle")
    broken(tmp_path / "absent.zip", "not_a_bundle")
    pretty = json.dumps(manifest, indent=2).encode()
    path = rewrite(original, tmp_path / "t.zip", lambda c: c | {bundle.MANIFEST: pretty})
    assert "canonical" in broken(path, "manifest_invalid")


def run_verify(*args: str) -> tuple[int, str]:
    output = io.StringIO()
    return bundle.main_verify(list(args), stdout=output), output.getvalue()


def test_main_verify_prints_ok_or_broken_and_exits_0_1_2(original, manifest, tmp_path):
    trust = [f"--trust={node}={value}" for node, value in TRUST.items()]
    assert run_verify(str(original), *trust) == (
        0,
        "OK: 2 items, 10 custody records, signed by cn.mps\n",
    )
    name = manifest["items"][0]["file"]
    path = rewrite(original, tmp_path / "t.zip", change_member(name, lambda data: b"x" + data[1:]))
    code, printed = run_verify(str(path), *trust)
    assert code == 1 and printed.startswith("BROKEN: file_changed: item ")
    assert run_verify(str(original))[0] == 2  # no --trust
    assert run_verify(str(original), "--trust", "cn.mps")[0] == 2
    assert run_verify(str(tmp_path / "absent.zip"), *trust)[0] == 2


def test_the_verifier_runs_without_django_or_a_database(original):
    """A court's laptop has Accord's wheel but no settings and no database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
    env["PYTHONPATH"] = str(ROOT / "src")
    trust = [f"--trust={node}={value}" for node, value in TRUST.items()]
    script = (
        "import sys\n"
        "from accord.evidence.bundle import main_verify\n"
        "code = main_verify(sys.argv[1:])\n"
        "assert not any(name.split('.')[0] == 'django' for name in sys.modules), 'django'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(original), *trust],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (
        0,
        "OK: 2 items, 10 custody records, signed by cn.mps\n",
    )
    module = subprocess.run(
        [sys.executable, "-m", "accord.evidence.bundle", str(original), trust[0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert module.returncode == 1 and "BROKEN: untrusted_node" in module.stdout


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[bytes, list[tuple[int, int]]]:
    """A small bundle and the byte ranges of the members whose every byte
    matters (everything but the cover sheet)."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.zip"
    write(path, [source(b"evidence " * 40)], cover_pdf=b"%PDF cover")
    data = path.read_bytes()
    ranges = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            header = info.header_offset
            name_length, extra_length = struct.unpack("<HH", data[header + 26 : header + 30])
            start = header + 30 + name_length + extra_length
            if info.filename != bundle.COVER:
                ranges.append((start, start + info.compress_size))
    return data, ranges


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.data(), mask=st.integers(1, 255))
def test_any_flipped_byte_is_named_or_lands_where_nothing_depends_on_it(
    tiny, tmp_path, position, mask
):
    data, ranges = tiny
    where = position.draw(st.integers(0, len(data) - 1))
    flipped = bytearray(data)
    flipped[where] ^= mask
    path = tmp_path / "flipped.zip"
    path.write_bytes(bytes(flipped))
    result = verdict(path)  # never raises
    if any(start <= where < end for start, end in ranges):
        assert not result.ok, (where, result)


def test_a_deeply_nested_manifest_or_record_is_named_not_a_crash(original, manifest, tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000
    path = rewrite(original, tmp_path / "t.zip", lambda c: c | {bundle.MANIFEST: deep})
    broken(path, "manifest_invalid")
    name = manifest["items"][1]["custody"]
    path = rewrite(original, tmp_path / "u.zip", change_member(name, lambda data: deep + b"\n"))
    broken(path, "custody_invalid")
