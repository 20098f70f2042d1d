"""Diffie-Hellman private set intersection over ristretto255: the privacy core
of hit/no-hit (issue 12). docs/matching.md is the specification; this module is
its reference implementation and computes its test vector.

The asker blinds its values with a fresh secret scalar a (H(v)·a); the answerer
multiplies those points by its own long-lived scalar b (H(v)·a·b, same order)
and gives its own set once, blinded and compacted (the tags of H(x)·b, see
`BlindedSet`); the asker multiplies the answer by 1/a and looks up the tags of
H(v)·b. Neither side can compute the other's blinding without the other's
scalar, so the asker learns which of its values the answerer holds and nothing
else about the answerer's values (beyond their number, or its bucket), and the
answerer learns only how many points were asked (with `Query.padded`, the
bucket of the number of values).

Pure: no Django, no I/O. Values are byte strings (the caller's canonical
"type:normal-form" UTF-8); points are 32-byte canonical ristretto255 encodings.
Large batches run on every core (`PARALLEL`); libsodium does the group
arithmetic through pysodium's ctypes binding."""

from __future__ import annotations

import base64
import binascii
import hashlib
import multiprocessing
import operator
import os
import secrets
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Literal, TypeVar

import pysodium

DOMAIN = b"accord-psi-v1"
TAG_DOMAIN = b"accord-psi-v1/tag"
POINT_BYTES = 32
SCALAR_BYTES = 32
TAG_BYTES = 8
IDENTITY = bytes(POINT_BYTES)
# The order of the ristretto255 group (RFC 9496 §4): scalars are integers mod L.
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
# Message sizes for a federation body of at most 1 MiB of base64 (docs/protocol.md,
# FEDERATION_MAX_BODY_BYTES): 786,392 bytes of canonical JSON once sealed. A point
# is 47 bytes in a JSON list ("…44 base64…",); 16,000 leave > 30 KB for the rest.
MAX_POINTS_PER_MESSAGE = 16_000
# Tags travel as one base64 string of the concatenated sorted tags: 65,536 x 8
# bytes are 699,052 characters.
MAX_TAGS_PER_MESSAGE = 65_536
# Padding buckets (docs/matching.md "Padding"): sizes 2^k and 3·2^(k-1).
MIN_SET_BUCKET = 1024
MIN_QUERY_BUCKET = 16

T = TypeVar("T")
R = TypeVar("R")


class Refusal(StrEnum):
    """Why a peer's message is refused; the code travels to the peer and the audit."""

    WRONG_LENGTH = "wrong_length"
    NOT_BASE64 = "not_base64"
    INVALID_POINT = "invalid_point"
    IDENTITY = "identity"
    DUPLICATE_POINT = "duplicate_point"
    COUNT_MISMATCH = "count_mismatch"
    BAD_SET = "bad_set"
    BAD_SCALAR = "bad_scalar"


class PsiError(ValueError):
    """A refusal: whatever arrived is dropped whole, nothing from it is used."""

    def __init__(self, code: Refusal, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


# ---------------------------------------------------------------- encoding


def hash_to_group(value: bytes) -> bytes:
    """H(value): SHA-512(DOMAIN ‖ u64be(len(value)) ‖ value) mapped to the group by
    crypto_core_ristretto255_from_hash (RFC 9496 §4.3.4, one-way map)."""
    digest = hashlib.sha512(DOMAIN + len(value).to_bytes(8, "big") + value).digest()
    return pysodium.crypto_core_ristretto255_from_hash(digest)


def tag_of(point: bytes) -> int:
    """The answerer's set is kept and sent as tags, not points: 8 bytes are
    enough to look up (false positives ≈ asked x held / 2^64) and a quarter of
    the size. The tag is SHA-256(TAG_DOMAIN ‖ point)[:8], as an unsigned
    big-endian integer."""
    return int.from_bytes(hashlib.sha256(TAG_DOMAIN + point).digest()[:TAG_BYTES], "big")


def check_point(data: bytes, index: int = 0) -> bytes:
    """A point from a peer, strictly: 32 bytes, the canonical encoding of a valid
    ristretto255 element (libsodium's crypto_core_ristretto255_is_valid_point,
    i.e. RFC 9496 §4.3.1 decoding succeeds), and not the identity."""
    if len(data) != POINT_BYTES:
        raise PsiError(Refusal.WRONG_LENGTH, f"point {index} is {len(data)} bytes, not 32")
    if data == IDENTITY:
        raise PsiError(Refusal.IDENTITY, f"point {index} is the identity element")
    # libsodium 1.0.18's is_valid_point ignores bit 255; RFC 9496 §4.3.1 refuses
    # any s >= p, so a set top bit is refused here.
    if data[31] & 0x80 or not pysodium.crypto_core_ristretto255_is_valid_point(data):
        raise PsiError(
            Refusal.INVALID_POINT, f"point {index} is not a canonical ristretto255 point"
        )
    return bytes(data)


def points_to_wire(points: Iterable[bytes]) -> list[str]:
    return [base64.b64encode(point).decode("ascii") for point in points]


def points_from_wire(texts: Sequence[str]) -> list[bytes]:
    """Standard base64 with padding, canonical (re-encodes to the same text), each a
    checked point (`check_point`), no point twice."""
    points = []
    for index, text in enumerate(texts):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise PsiError(Refusal.NOT_BASE64, f"point {index} is not base64") from None
        if base64.b64encode(raw).decode("ascii") != text:
            raise PsiError(Refusal.NOT_BASE64, f"point {index} is not canonical base64")
        points.append(check_point(raw, index))
    refuse_duplicates(points)
    return points


def refuse_duplicates(points: Sequence[bytes]) -> None:
    if len(set(points)) != len(points):
        raise PsiError(Refusal.DUPLICATE_POINT, "the same point appears twice")


def chunked(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Consecutive slices of at most `size` items (one federation message each)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def bucket(count: int, minimum: int) -> int:
    """The padded size: the smallest 2^k or 3·2^(k-1) that is ≥ count and ≥ minimum."""
    size = max(count, minimum)
    power = 1 << (size - 1).bit_length()
    three_quarters = power // 4 * 3
    return three_quarters if three_quarters >= size else power


def query_size(count: int, cap: int = 0) -> int:
    """How many points a padded query of `count` distinct values sends: its
    bucket (at least MIN_QUERY_BUCKET), but never more than `cap` (the
    answerer's stated limit, when known and > 0) unless the values alone are
    more (docs/matching.md 1.7: then the answerer refuses the values, not
    the padding)."""
    size = bucket(count, MIN_QUERY_BUCKET)
    return max(count, min(size, cap)) if cap else size


# ---------------------------------------------------------------- parallel work


@dataclass(frozen=True)
class Parallel:
    """How large batches use the cores. Processes by default: pysodium's ctypes
    calls release the GIL, but the hashing and the wrapper's Python around each
    call hold it, and on a 2-core machine two threads were 9-13 % slower than two
    processes at 100,000 values (bench/psi.py measures both; "thread" stays
    available, e.g. where a process may not start children). Below `threshold` items a batch runs
    in the calling thread: starting workers would cost more than it saves."""

    kind: Literal["process", "thread", "serial"] = "process"
    threshold: int = 4096
    workers: int = os.cpu_count() or 1

    def map(
        self, work: Callable[[bytes, Sequence[T]], list[R]], scalar: bytes, items: Sequence[T]
    ) -> list[R]:
        if self.kind == "serial" or self.workers < 2 or len(items) < self.threshold:
            return work(scalar, items)
        pieces = chunked(items, -(-len(items) // (self.workers * 4)))
        with self._executor() as pool:
            results = pool.map(work, [scalar] * len(pieces), pieces)
            return [item for piece in results for item in piece]

    def _executor(self) -> Executor:
        if self.kind == "thread":
            return ThreadPoolExecutor(self.workers)
        # forkserver: a node's web and task processes run threads, which fork() copies badly.
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(self.workers, mp_context=context)


PARALLEL = Parallel()


def _blind(scalar: bytes, values: Sequence[bytes]) -> list[bytes]:
    multiply = pysodium.crypto_scalarmult_ristretto255
    return [multiply(scalar, hash_to_group(value)) for value in values]


def _blind_tags(scalar: bytes, values: Sequence[bytes]) -> list[int]:
    return [tag_of(point) for point in _blind(scalar, values)]


def _multiply(scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
    """Points already checked for length and identity; libsodium refuses the rest
    (a non-canonical or invalid encoding, or a product that is the identity)."""
    multiply = pysodium.crypto_scalarmult_ristretto255
    out = []
    for point in points:
        try:
            out.append(multiply(scalar, point))
        except ValueError:
            raise PsiError(Refusal.INVALID_POINT, "not a canonical ristretto255 point") from None
    return out


def _multiply_tags(scalar: bytes, points: Sequence[bytes]) -> list[int]:
    return [tag_of(point) for point in _multiply(scalar, points)]


def _shallow_check(points: Sequence[bytes]) -> None:
    """Length, identity and duplicates here; validity while multiplying (libsodium
    decodes each point anyway, so a second full check would cost 7 %)."""
    for index, point in enumerate(points):
        if len(point) != POINT_BYTES:
            raise PsiError(Refusal.WRONG_LENGTH, f"point {index} is {len(point)} bytes, not 32")
        if point == IDENTITY:
            raise PsiError(Refusal.IDENTITY, f"point {index} is the identity element")
        if point[31] & 0x80:  # see check_point
            raise PsiError(Refusal.INVALID_POINT, f"point {index} is not canonical")
    refuse_duplicates(points)


# ---------------------------------------------------------------- keys


class Key:
    """A secret scalar in [1, L-1], 32 bytes little-endian. The asker draws a fresh
    one per query; the answerer keeps one until it rotates it (docs/matching.md)."""

    __slots__ = ("scalar",)

    def __init__(self, scalar: bytes) -> None:
        if len(scalar) != SCALAR_BYTES:
            raise PsiError(Refusal.BAD_SCALAR, "a scalar is 32 bytes")
        if not 0 < int.from_bytes(scalar, "little") < GROUP_ORDER:
            raise PsiError(Refusal.BAD_SCALAR, "a scalar is in [1, L-1], little-endian")
        self.scalar = bytes(scalar)

    @classmethod
    def generate(cls) -> Key:
        return cls(bytes(pysodium.crypto_core_ristretto255_scalar_random()))

    def inverse(self) -> Key:
        return Key(bytes(pysodium.crypto_core_ristretto255_scalar_invert(self.scalar)))

    def __repr__(self) -> str:
        return "Key(…)"  # never the scalar, not even in a traceback


# ---------------------------------------------------------------- the answerer


class BlindedSet:
    """The answerer's values blinded by its key, as a sorted array of distinct
    64-bit tags (`tag_of`), optionally padded with random tags to a bucket. Built
    once and kept: persist `to_bytes()` with the key, and build again when the set
    or the key changes. The asker caches it too, under its `digest`."""

    __slots__ = ("_tags", "digest")

    def __init__(self, tags: array) -> None:
        self._tags = tags
        self.digest = hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def build(cls, key: Key, values: Iterable[bytes], *, pad: bool = False) -> BlindedSet:
        unique = sorted(set(values))  # sorted: chunks never reveal the caller's order
        tags = set(PARALLEL.map(_blind_tags, key.scalar, unique))
        if pad:
            target = bucket(len(tags), MIN_SET_BUCKET)
            while len(tags) < target:
                tags.add(secrets.randbits(64))
        return cls(array("Q", sorted(tags)))

    @classmethod
    def from_bytes(cls, data: bytes) -> BlindedSet:
        """Strict: whole 8-byte tags, big-endian, strictly increasing."""
        if len(data) % TAG_BYTES:
            raise PsiError(Refusal.BAD_SET, "the set is not a whole number of 8-byte tags")
        tags = array("Q", data)
        if sys.byteorder == "little":
            tags.byteswap()
        if not all(map(operator.lt, tags, islice(tags, 1, None))):
            raise PsiError(Refusal.BAD_SET, "the tags are not strictly increasing")
        return cls(tags)

    def to_bytes(self) -> bytes:
        tags = array("Q", self._tags)
        if sys.byteorder == "little":
            tags.byteswap()
        return tags.tobytes()

    def __len__(self) -> int:
        return len(self._tags)

    def __contains__(self, tag: object) -> bool:
        if not isinstance(tag, int):
            return False
        at = bisect_left(self._tags, tag)
        return at < len(self._tags) and self._tags[at] == tag


class Answerer:
    """The answering node's side: its key and, once built, its blinded set."""

    def __init__(self, key: Key, blinded_set: BlindedSet) -> None:
        self.key = key
        self.blinded_set = blinded_set

    @classmethod
    def setup(
        cls, values: Iterable[bytes], *, key: Key | None = None, pad: bool = False
    ) -> Answerer:
        key = key or Key.generate()
        return cls(key, BlindedSet.build(key, values, pad=pad))

    def reblind(self, points: Sequence[bytes]) -> list[bytes]:
        return reblind(self.key, points)


def reblind(key: Key, points: Sequence[bytes]) -> list[bytes]:
    """The asker's points times the answerer's key, in the same order. Any bad
    point refuses the whole query before an answer exists. Needs the key only,
    not the blinded set: a node answering a repeat query need not load its set."""
    _shallow_check(points)
    return PARALLEL.map(_multiply, key.scalar, points)


# ---------------------------------------------------------------- the asker


class Query:
    """The asking node's side of one query. `points` go to the answerer; keep the
    key (secret) and the values until the answer arrives, then call `intersect`.
    Duplicate values are asked once; with `pad`, random points (indistinguishable
    from blinded values) take the count to a bucket."""

    def __init__(
        self, values: Sequence[bytes], *, key: Key | None = None, padding: int = 0
    ) -> None:
        self.key = key or Key.generate()
        self.values = list(values)
        self.unique = sorted(set(self.values))
        blinded = PARALLEL.map(_blind, self.key.scalar, self.unique)
        decoys = [bytes(pysodium.crypto_core_ristretto255_random()) for _ in range(padding)]
        self.points: list[bytes] = blinded + decoys
        self.sent = len(self.points)

    @classmethod
    def resume(cls, values: Sequence[bytes], key: Key, sent: int) -> Query:
        """The query as it was asked, from what the asker kept until the answer
        (its values and key) and the number of points it sent: for the final
        step, which needs no blinded point, so nothing is blinded again."""
        query = cls.__new__(cls)
        query.key, query.values, query.unique = key, list(values), sorted(set(values))
        query.points, query.sent = [], sent
        return query

    @classmethod
    def padded(cls, values: Sequence[bytes], *, key: Key | None = None, cap: int = 0) -> Query:
        """Padded to the bucket of the distinct values (`query_size`), at most
        `cap` points when the values fit in it. The decoys come after the
        blinded values (both look uniformly random, so the order shows
        nothing); their answers are ignored."""
        count = len(set(values))
        return cls(values, key=key, padding=query_size(count, cap) - count)

    def intersect(self, reblinded: Sequence[bytes], answerer_set: BlindedSet) -> list[int]:
        """Indices (ascending) of `values` the answerer holds. The answer must have
        exactly one valid point per point asked, else nothing is learnt."""
        held = self.matches(reblinded, answerer_set)
        return [index for index, value in enumerate(self.values) if value in held]

    def matches(self, reblinded: Sequence[bytes], answerer_set: BlindedSet) -> dict[bytes, int]:
        """Each value the answerer holds, with its tag in the answerer's set (the
        hit's reference, docs/matching.md 1.7). Checked as `intersect`."""
        if len(reblinded) != self.sent:
            raise PsiError(
                Refusal.COUNT_MISMATCH,
                f"{len(reblinded)} points answered for {self.sent} asked",
            )
        _shallow_check(reblinded)
        real = reblinded[: len(self.unique)]
        tags = PARALLEL.map(_multiply_tags, self.key.inverse().scalar, real)
        return {
            value: tag for value, tag in zip(self.unique, tags, strict=True) if tag in answerer_set
        }
