"""The PSI core (accord.matching.psi) against its specification, docs/matching.md:
the result is exactly the intersection, a peer's bad points are refused whole,
and the document's test vector is what the code computes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pysodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.matching import psi
from accord.matching.psi import Answerer, BlindedSet, Key, PsiError, Query, Refusal

DOC = Path(__file__).resolve().parents[2] / "docs" / "matching.md"
P = 2**255 - 19  # the field prime: its own little-endian encoding is non-canonical


def run(asked: list[bytes], held: list[bytes], *, pad: bool = False) -> list[int]:
    answerer = Answerer.setup(held, pad=pad)
    query = Query.padded(asked) if pad else Query(asked)
    return query.intersect(answerer.reblind(query.points), answerer.blinded_set)


def expected(asked: list[bytes], held: list[bytes]) -> list[int]:
    return [index for index, value in enumerate(asked) if value in set(held)]


# Few distinct values, so that random sets overlap, repeat and coincide often.
values = st.lists(st.sampled_from([f"ipv4:10.0.0.{i}".encode() for i in range(12)]), max_size=10)


@settings(max_examples=40, deadline=None)
@given(asked=values, held=values)
def test_the_result_is_exactly_the_intersection(asked, held):
    assert run(asked, held) == expected(asked, held)


@settings(max_examples=10, deadline=None)
@given(asked=st.lists(st.binary(max_size=40), max_size=8), held=st.lists(st.binary(max_size=40)))
def test_any_byte_strings_intersect_exactly(asked, held):
    held = held[:8] + asked[: len(asked) // 2]
    assert run(asked, held) == expected(asked, held)


@pytest.mark.parametrize(
    ("asked", "held"),
    [
        ([], []),
        ([], [b"a"]),
        ([b"a"], []),
        ([b"a", b"b"], [b"a", b"b"]),
        ([b"a", b"b"], [b"c", b"d"]),
        ([b"a", b"a", b"b", b"a"], [b"a", b"a", b"c"]),
    ],
    ids=["both-empty", "nothing-asked", "nothing-held", "identical", "disjoint", "duplicates"],
)
def test_edge_cases_intersect_exactly(asked, held):
    assert run(asked, held) == expected(asked, held)


def test_padding_changes_sizes_not_the_result():
    asked = [b"x1", b"x2", b"x3", b"x2"]
    held = [b"x2", b"y1", b"y2"]
    answerer = Answerer.setup(held, pad=True)
    query = Query.padded(asked)
    assert len(answerer.blinded_set) == psi.MIN_SET_BUCKET
    assert len(query.points) == psi.MIN_QUERY_BUCKET
    assert query.intersect(answerer.reblind(query.points), answerer.blinded_set) == [1, 3]


@settings(max_examples=25, deadline=None)
@given(
    asked=st.lists(st.sampled_from([f"ipv4:10.0.0.{i}".encode() for i in range(40)]), max_size=30),
    held=values,
    cap=st.integers(min_value=0, max_value=40),
    part=st.integers(min_value=1, max_value=20),
)
def test_a_padded_query_in_parts_finds_exactly_the_intersection(asked, held, cap, part):
    """Padded to a bucket (cut to `cap` when the values fit), answered part by
    part as between nodes (2.1), read back as the asker's final step does
    (`Query.resume` with the number of points sent): the hits are exactly the
    intersection, duplicates included, and the decoys' answers are ignored."""
    answerer = Answerer.setup(held, pad=True)
    query = Query.padded(asked, cap=cap)
    distinct = len(set(asked))
    assert len(query.points) == psi.query_size(distinct, cap) >= distinct
    if not cap or cap >= psi.bucket(distinct, psi.MIN_QUERY_BUCKET):
        assert len(query.points) == psi.bucket(distinct, psi.MIN_QUERY_BUCKET)
    else:
        assert len(query.points) == max(distinct, cap)
    reblinded = [
        point for chunk in psi.chunked(query.points, part) for point in answerer.reblind(chunk)
    ]
    resumed = Query.resume(asked, query.key, len(query.points))
    assert resumed.intersect(reblinded, answerer.blinded_set) == expected(asked, held)


@pytest.mark.parametrize(
    ("count", "cap", "size"),
    [(3, 0, 16), (3, 10, 10), (3, 2, 3), (3, 16, 16), (3, 100, 16), (17, 20, 20), (40, 0, 48)],
)
def test_the_padding_is_cut_to_a_known_limit_never_below_the_values(count, cap, size):
    assert psi.query_size(count, cap) == size


@pytest.mark.parametrize(
    ("count", "minimum", "padded"),
    [(0, 16, 16), (16, 16, 16), (17, 16, 24), (24, 16, 24), (25, 16, 32), (1025, 1024, 1536)],
)
def test_buckets_are_powers_of_two_and_three_halves_of_them(count, minimum, padded):
    assert psi.bucket(count, minimum) == padded


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_large_batches_on_every_core_give_the_same_answer(monkeypatch, kind):
    monkeypatch.setattr(psi, "PARALLEL", psi.Parallel(kind=kind, threshold=8, workers=2))
    asked = [f"phone:+86138{i:08}".encode() for i in range(40)]
    held = [*asked[10:30], b"other"]
    assert run(asked, held) == list(range(10, 30))


def test_one_value_asked_twice_looks_different_each_time():
    # A fresh scalar per query: the answerer cannot link two queries by their points.
    first, second = Query([b"email:a@example.org"]), Query([b"email:a@example.org"])
    assert first.points != second.points
    assert psi.hash_to_group(b"email:a@example.org") not in first.points


# ---------------------------------------------------------------- a bad peer

VALID = psi.hash_to_group(b"some value")
BAD_POINTS = {
    "short": (VALID[:31], Refusal.WRONG_LENGTH),
    "long": (VALID + b"\0", Refusal.WRONG_LENGTH),
    "identity": (bytes(32), Refusal.IDENTITY),
    "field-prime": (P.to_bytes(32, "little"), Refusal.INVALID_POINT),
    "high-bit": (bytes(VALID[:31]) + bytes([VALID[31] | 0x80]), Refusal.INVALID_POINT),
    "negative": ((1).to_bytes(32, "little"), Refusal.INVALID_POINT),
}


@pytest.mark.parametrize("name", BAD_POINTS)
def test_the_answerer_refuses_a_query_with_a_bad_point(name):
    bad, code = BAD_POINTS[name]
    answerer = Answerer.setup([b"held"])
    points = [*Query([b"a", b"b"]).points, bad]
    with pytest.raises(PsiError) as refused:
        answerer.reblind(points)
    assert refused.value.code == code


@pytest.mark.parametrize("name", BAD_POINTS)
def test_the_asker_refuses_an_answer_with_a_bad_point(name):
    bad, code = BAD_POINTS[name]
    answerer = Answerer.setup([b"a"])
    query = Query([b"a", b"b"])
    answer = answerer.reblind(query.points)
    with pytest.raises(PsiError) as refused:
        query.intersect([answer[0], bad], answerer.blinded_set)
    assert refused.value.code == code


@pytest.mark.parametrize("name", BAD_POINTS)
def test_check_point_refuses_what_libsodium_would_not_decode(name):
    bad, code = BAD_POINTS[name]
    with pytest.raises(PsiError) as refused:
        psi.check_point(bad)
    assert refused.value.code == code


def test_an_answer_longer_or_shorter_than_the_query_is_refused():
    answerer = Answerer.setup([b"a"])
    query = Query([b"a", b"b"])
    answer = answerer.reblind(query.points)
    extra = answerer.reblind(Query([b"c"]).points)
    for wrong in (answer[:1], answer + extra, []):
        with pytest.raises(PsiError) as refused:
            query.intersect(wrong, answerer.blinded_set)
        assert refused.value.code == Refusal.COUNT_MISMATCH


def test_a_point_repeated_in_a_query_is_refused():
    answerer = Answerer.setup([b"a"])
    point = Query([b"a"]).points[0]
    with pytest.raises(PsiError) as refused:
        answerer.reblind([point, point])
    assert refused.value.code == Refusal.DUPLICATE_POINT


def noncanonical_base64(data: bytes) -> str:
    """The same 32 bytes, with the two unused bits of the last character set."""
    text = base64.b64encode(data).decode()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    changed = text[:42] + alphabet[alphabet.index(text[42]) | 3] + "="
    assert base64.b64decode(changed) == data and changed != text
    return changed


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not base64!", Refusal.NOT_BASE64),
        (base64.b64encode(VALID).decode().rstrip("="), Refusal.NOT_BASE64),
        (noncanonical_base64(VALID), Refusal.NOT_BASE64),
        (base64.b64encode(bytes(32)).decode(), Refusal.IDENTITY),
        (base64.b64encode(VALID[:16]).decode(), Refusal.WRONG_LENGTH),
    ],
)
def test_points_from_the_wire_are_decoded_strictly(text, code):
    with pytest.raises(PsiError) as refused:
        psi.points_from_wire([text])
    assert refused.value.code == code


def test_points_survive_the_wire():
    points = Query([b"a", b"b", b"c"]).points
    assert psi.points_from_wire(psi.points_to_wire(points)) == points


@pytest.mark.parametrize(
    "data",
    [
        b"\0" * 7,
        (2).to_bytes(8, "big") + (1).to_bytes(8, "big"),
        (1).to_bytes(8, "big") * 2,
    ],
    ids=["partial-tag", "unsorted", "repeated"],
)
def test_a_blinded_set_that_is_not_strictly_sorted_tags_is_refused(data):
    with pytest.raises(PsiError) as refused:
        BlindedSet.from_bytes(data)
    assert refused.value.code == Refusal.BAD_SET


def test_a_kept_blinded_set_answers_like_a_fresh_one():
    answerer = Answerer.setup([b"a", b"b", b"c"])
    kept = BlindedSet.from_bytes(answerer.blinded_set.to_bytes())
    assert kept.digest == answerer.blinded_set.digest
    again = Answerer(answerer.key, kept)
    query = Query([b"c", b"d"])
    assert query.intersect(again.reblind(query.points), kept) == [0]


def test_a_new_key_makes_a_new_blinded_set():
    first = Answerer.setup([b"a"])
    assert Answerer.setup([b"a"]).blinded_set.digest != first.blinded_set.digest
    same_key = Answerer.setup([b"a"], key=first.key)
    assert same_key.blinded_set.digest == first.blinded_set.digest


@pytest.mark.parametrize(
    "scalar",
    [b"", bytes(31), bytes(32), psi.GROUP_ORDER.to_bytes(32, "little"), b"\xff" * 32],
    ids=["empty", "short", "zero", "order", "too-large"],
)
def test_a_scalar_outside_one_to_order_is_refused(scalar):
    with pytest.raises(PsiError) as refused:
        Key(scalar)
    assert refused.value.code == Refusal.BAD_SCALAR


def test_a_key_never_shows_its_scalar():
    key = Key.generate()
    assert key.scalar.hex() not in repr(key) and key.scalar.hex() not in str([key])


# ---------------------------------------------------------------- the document's vector


def document_vector() -> dict:
    found = re.search(r"<!-- test-vector -->\s*```json\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/matching.md has no test vector block"
    return json.loads(found.group(1))


def test_the_documented_test_vector_is_what_the_code_computes():
    vector = document_vector()
    asker = Key(bytes.fromhex(vector["asker_scalar"]))
    answerer_key = Key(bytes.fromhex(vector["answerer_scalar"]))
    assert asker.inverse().scalar.hex() == vector["asker_inverse"]
    query = Query([v.encode() for v in vector["asker_values"]], key=asker)
    answerer = Answerer.setup([v.encode() for v in vector["answerer_values"]], key=answerer_key)
    answer = answerer.reblind(query.points)
    for row, point, reblinded in zip(vector["query"], query.points, answer, strict=True):
        value = row["value"].encode()
        hashed = hashlib.sha512(b"accord-psi-v1" + len(value).to_bytes(8, "big") + value)
        assert hashed.hexdigest() == row["sha512"]
        assert psi.hash_to_group(value).hex() == row["H"]
        assert base64.b64encode(point).decode() == row["blinded"]
        assert base64.b64encode(reblinded).decode() == row["reblinded"]
        unblinded = pysodium.crypto_scalarmult_ristretto255(asker.inverse().scalar, reblinded)
        assert unblinded.hex() == row["unblinded"]
        assert f"{psi.tag_of(unblinded):016x}" == row["tag"]
    for row in vector["answerer_set"]:
        blinded = pysodium.crypto_scalarmult_ristretto255(
            answerer_key.scalar, psi.hash_to_group(row["value"].encode())
        )
        assert (blinded.hex(), f"{psi.tag_of(blinded):016x}") == (row["blinded"], row["tag"])
    assert base64.b64encode(answerer.blinded_set.to_bytes()).decode() == vector["set_bytes"]
    assert answerer.blinded_set.digest == vector["set_digest"]
    assert query.intersect(answer, answerer.blinded_set) == vector["result"]
