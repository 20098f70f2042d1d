"""Crypto-currency addresses, each verified by its chain's checksum so that a
mistyped address is refused instead of stored as a different wallet.

- Bitcoin (mainnet): base58check P2PKH (version 0x00, "1…") and P2SH (0x05,
  "3…"), kept as written since base58 is case-sensitive; segwit addresses
  bech32 (BIP 173, witness version 0) and bech32m (BIP 350, versions 1 to 16,
  taproot "bc1p…"), lower-cased. python-stdnum's `bitcoin` module supplies
  base58 and the bech32 polymod, but accepts bech32 checksums for taproot
  (BIP 350 forbids that) and refuses bech32m, so segwit is checked here.
  Testnet addresses are refused: nothing of value moves there.
- Ethereum: 0x and 40 hex digits; a mixed-case address carries the EIP-55
  checksum and it must match; the normal form is lower case. Without 0x the
  value is refused, as it cannot be told from a SHA-1 hash.
- Tron: base58check with version 0x41 ("T…"), kept as written.
"""

from __future__ import annotations

import hashlib
import re

from django.utils.translation import gettext_lazy as _
from stdnum.bitcoin import b58decode, bech32_checksum

from accord.cases.observables.base import ObservableError, stripped
from accord.cases.observables.keccak import keccak_256

BASE58 = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32_CONSTANT, BECH32M_CONSTANT = 1, 0x2BC830A3

BITCOIN_VERSIONS = (0x00, 0x05)
TRON_VERSION = 0x41


def _base58check(value: str, versions: tuple[int, ...]) -> str:
    """The address if its 25 bytes carry one of `versions` and a valid
    double-SHA-256 checksum."""
    if not set(value) <= BASE58:
        raise ObservableError(
            _("%(value)s holds characters that base58 does not use (0, O, I, l)."), value=value
        )
    payload = b58decode(value)
    if len(payload) != 25:
        raise ObservableError(_("%(value)s has the wrong length for an address."), value=value)
    body, checksum = payload[:-4], payload[-4:]
    if hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] != checksum:
        raise ObservableError(
            _("The checksum of %(value)s does not match: a character is wrong."), value=value
        )
    if body[0] not in versions:
        raise ObservableError(_("%(value)s is an address of another network."), value=value)
    return value


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: list[int]) -> bytes | None:
    """Five-bit groups to bytes (BIP 173 convertbits, no padding allowed)."""
    accumulator, bits, out = 0, 0, bytearray()
    for value in data:
        accumulator = (accumulator << 5) | value
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    if bits >= 5 or (accumulator << (8 - bits)) & 0xFF:
        return None
    return bytes(out)


def _segwit(value: str) -> str:
    if value != value.lower() and value != value.upper():
        raise ObservableError(_("A bech32 address is either all lower or all upper case."))
    address = value.lower()
    hrp, _sep, data_part = address.rpartition("1")
    if hrp != "bc":
        raise ObservableError(_("%(value)s is not a Bitcoin mainnet address."), value=value)
    if not 14 <= len(address) <= 90 or not set(data_part) <= set(BECH32):
        raise ObservableError(_("%(value)s is not a valid bech32 address."), value=value)
    data = [BECH32.index(c) for c in data_part]
    version, program = data[0], _convert_bits(data[1:-6])
    expected = BECH32_CONSTANT if version == 0 else BECH32M_CONSTANT
    if bech32_checksum(_expand_hrp(hrp) + data) != expected:
        raise ObservableError(
            _("The checksum of %(value)s does not match: a character is wrong."), value=value
        )
    if version > 16 or program is None or not 2 <= len(program) <= 40:
        raise ObservableError(_("%(value)s is not a valid bech32 address."), value=value)
    if version == 0 and len(program) not in (20, 32):
        raise ObservableError(_("%(value)s is not a valid bech32 address."), value=value)
    return address


def normalise_btc(raw: str, **context: str) -> str:
    value = stripped(raw)
    if value[:3].lower() == "bc1":
        return _segwit(value)
    if value[:3].lower() in ("tb1", "bcr") or value[:1] in "mn2":
        raise ObservableError(_("%(value)s is a Bitcoin testnet address."), value=value)
    return _base58check(value, BITCOIN_VERSIONS)


def eip55(hex40: str) -> str:
    """The EIP-55 mixed-case form of 40 lower-case hex digits: a letter is
    upper case where the matching nibble of keccak256(hex40) is 8 or more."""
    digest = keccak_256(hex40.encode("ascii")).hex()
    return "".join(
        c.upper() if int(n, 16) >= 8 else c for c, n in zip(hex40, digest[:40], strict=True)
    )


def normalise_eth(raw: str, **context: str) -> str:
    value = stripped(raw)
    if not re.fullmatch(r"0[xX][0-9a-fA-F]{40}", value):
        raise ObservableError(_("An Ethereum address is 0x followed by 40 hexadecimal digits."))
    digits = value[2:]
    lower = digits.lower()
    if digits not in (lower, digits.upper()) and digits != eip55(lower):
        raise ObservableError(
            _("The EIP-55 mixed-case checksum of %(value)s does not match: a character is wrong."),
            value=value,
        )
    return f"0x{lower}"


def display_eth(normal: str) -> str:
    return f"0x{eip55(normal[2:])}"


def normalise_trx(raw: str, **context: str) -> str:
    return _base58check(stripped(raw), (TRON_VERSION,))
