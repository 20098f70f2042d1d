"""Keccak-256 as Ethereum uses it (the original Keccak padding, not FIPS 202's
SHA3-256). Neither hashlib, OpenSSL's default provider nor any installed
library offers it, and EIP-55 address checksums need it; addresses are 40
bytes, so speed does not matter. The tests check the permutation against
hashlib's SHA3-256, which differs only in the padding byte."""

from __future__ import annotations

_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip
# Rotation offsets r[x][y] of the rho step (FIPS 202 §3.2.2).
_ROTATIONS = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)
_MASK = (1 << 64) - 1


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _permute(lanes: list[int]) -> list[int]:
    """Keccak-f[1600]; lane (x, y) is lanes[x + 5 * y]."""
    for constant in _ROUND_CONSTANTS:
        columns = [
            lanes[x] ^ lanes[x + 5] ^ lanes[x + 10] ^ lanes[x + 15] ^ lanes[x + 20]
            for x in range(5)
        ]
        theta = [columns[(x - 1) % 5] ^ _rotl(columns[(x + 1) % 5], 1) for x in range(5)]
        lanes = [lane ^ theta[i % 5] for i, lane in enumerate(lanes)]
        moved = [0] * 25
        for x in range(5):
            for y in range(5):
                moved[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(lanes[x + 5 * y], _ROTATIONS[x][y])
        lanes = [
            moved[i] ^ (~moved[(i + 1) % 5 + 5 * (i // 5)] & moved[(i + 2) % 5 + 5 * (i // 5)])
            for i in range(25)
        ]
        lanes[0] ^= constant
    return lanes


def sponge_256(message: bytes, padding: int) -> bytes:
    """A 256-bit digest with a rate of 136 bytes; `padding` is the domain byte
    (0x01 for Keccak, 0x06 for SHA3)."""
    rate = 136
    padded = bytearray(message) + bytes([padding]) + bytes(-(len(message) + 1) % rate)
    padded[-1] |= 0x80
    lanes = [0] * 25
    for start in range(0, len(padded), rate):
        block = padded[start : start + rate]
        for i in range(rate // 8):
            lanes[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        lanes = _permute(lanes)
    return b"".join(lane.to_bytes(8, "little") for lane in lanes[:4])


def keccak_256(message: bytes) -> bytes:
    return sponge_256(message, 0x01)
