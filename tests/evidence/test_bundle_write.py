"""Writing court bundles: the archive's shape, the same bytes for the same
export, one member per distinct file, refusals (bytes that are not the
recorded ones, a broken chain, a wrong exporter key), key rotation, outputs
that cannot seek, and flat memory whatever the file size."""

from __future__ import annotations

import hashlib
import io
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from accord.evidence import bundle, custody
from tests.evidence.bundle_kit import CN, NODES, PUBLIC, START, TRUST, MiB, members, source, write

CN_PUBLIC = PUBLIC["cn.mps"]
BIG = bytes(range(256)) * (4 * 4096 + 1)  # just over four chunks
SMALL = "中文笔录：第一页".encode()


def verdict(path: Path, trust: dict[str, str] = TRUST) -> bundle.Verdict:
    return bundle.verify_bundle(path, trust)


@pytest.fixture
def original(tmp_path) -> Path:
    path = tmp_path / "bundle.zip"
    write(path, [source(BIG), source(SMALL)], cover_pdf=b"%PDF-1.7 cover")
    return path


def test_the_archive_stores_members_uncompressed_and_files_as_zip64(original):
    data = original.read_bytes()
    with zipfile.ZipFile(original) as archive:
        infos = archive.infolist()
    assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    names = [info.filename for info in infos]
    assert names[0] == "cover.pdf" and names[-2:] == [bundle.MANIFEST, bundle.SIGNATURE]
    for info in infos:
        if info.filename.startswith("files/"):
            header = info.header_offset
            name_length = struct.unpack("<H", data[header + 26 : header + 28])[0]
            extra = data[header + 30 + name_length : header + 32 + name_length]
            assert extra == b"\x01\x00"  # the ZIP64 extended information field


def test_the_same_export_gives_the_same_bytes(tmp_path):
    item = source(SMALL, id="3b0e8f8e-6f2a-4a57-9d38-3f5c1b1c0a01")
    write(tmp_path / "a.zip", [item])
    write(tmp_path / "b.zip", [item])
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_two_items_with_the_same_bytes_share_one_file_and_empty_files_verify(tmp_path):
    path = tmp_path / "b.zip"
    written = write(path, [source(SMALL), source(SMALL), source(b"")])
    assert [len(item["chunks"]) for item in written["items"]] == [1, 1, 0]
    assert sum(name.startswith("files/") for name in members(path)) == 2
    assert verdict(path).ok


def test_write_refuses_bytes_that_are_not_the_recorded_ones(tmp_path):
    item = source(SMALL)
    item.open = lambda: iter([SMALL + b"!"])
    with pytest.raises(bundle.BundleError) as caught:
        write(tmp_path / "b.zip", [item])
    assert caught.value.code == "file_changed"


def test_write_refuses_a_broken_chain_and_a_wrong_exporter_key(tmp_path):
    item = source(SMALL)
    del item.records[1]
    with pytest.raises(bundle.BundleError) as caught:
        write(tmp_path / "b.zip", [item])
    assert caught.value.code == "custody_order"
    with pytest.raises(bundle.BundleError) as caught:
        write(tmp_path / "c.zip", [source(SMALL)], signing_key=SigningKey(bytes([9]) * 32))
    assert caught.value.code == "manifest_signature"


def test_records_signed_before_a_key_rotation_verify_under_the_listed_previous_key(tmp_path):
    rotated = SigningKey(bytes([7]) * 32)
    nodes = NODES | {
        "cn.mps": NODES["cn.mps"]
        | {"signing_key": bytes(rotated.verify_key), "previous_signing_keys": [CN_PUBLIC]}
    }
    path = tmp_path / "b.zip"
    written = write(path, [source(SMALL)], nodes=nodes, signing_key=rotated)
    assert written["nodes"]["cn.mps"]["previous_signing_keys"] == [bundle.b64(CN_PUBLIC)]
    trust = TRUST | {"cn.mps": hashlib.sha256(bytes(rotated.verify_key)).hexdigest()}
    assert verdict(path, trust).ok
    without = NODES | {"cn.mps": NODES["cn.mps"] | {"signing_key": bytes(rotated.verify_key)}}
    with pytest.raises(bundle.BundleError) as caught:
        write(tmp_path / "c.zip", [source(SMALL)], nodes=without, signing_key=rotated)
    assert caught.value.code == "custody_signature"


class OneWay(io.RawIOBase):
    """An output that cannot seek, like an HTTP response being streamed."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)


def test_a_bundle_streamed_to_an_output_that_cannot_seek_verifies(tmp_path):
    sink = OneWay()
    bundle.write_bundle(
        sink,  # type: ignore[arg-type]
        items=[source(BIG[: MiB + 10]), source(SMALL)],
        nodes=NODES,
        exporter="cn.mps",
        actor="li.wei",
        signing_key=CN,
        created_at=START,
    )
    path = tmp_path / "streamed.zip"
    path.write_bytes(b"".join(sink.parts))
    assert verdict(path).ok


def pattern(index: int) -> bytes:
    return hashlib.sha256(index.to_bytes(8, "big")).digest() * 2048  # 64 KiB


def test_writing_and_verifying_hold_no_whole_file_in_memory(tmp_path):
    pieces = 256  # 16 MiB
    whole = hashlib.sha256()
    for index in range(pieces):
        whole.update(pattern(index))
    item = source(b"", id="9a6a3f0e-0c4b-4d7e-8f51-2b6c7d8e9f00")
    item.sha256, item.size = whole.hexdigest(), pieces * 64 * 1024
    item.open = lambda: (pattern(index) for index in range(pieces))
    item.records = [
        custody.make_record(
            item=item.id,
            sha256=item.sha256,
            node="cn.mps",
            prev=None,
            event="collected",
            at=START,
            actor="li.wei",
            reason="",
            details={},
            signing_key=CN,
        )
    ]
    path = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        write(path, [item])
        _, written_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = verdict(path)
        _, verified_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok, result
    # A whole-file approach would hold 16 MiB; one chunk at a time holds about 1.
    assert written_peak < 2 * MiB and verified_peak < 3 * MiB, (written_peak, verified_peak)


@pytest.mark.parametrize(("field", "value"), [("id", "../../etc"), ("sha256", "../x")])
def test_write_refuses_an_id_or_hash_that_would_make_a_bad_member_name(tmp_path, field, value):
    item = source(SMALL)
    setattr(item, field, value)
    with pytest.raises(bundle.BundleError) as caught:
        write(tmp_path / "b.zip", [item])
    assert caught.value.code == "manifest_invalid"
