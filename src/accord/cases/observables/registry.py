"""The observable types, one entry each: forms, API enums and docs are derived
from this table, and nothing outside it decides what a type accepts."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.utils.translation import gettext_lazy as _

from accord.cases.observables import documents, network, people, wallets
from accord.cases.observables.base import Observable, ObservableError, ObservableType, stripped


def _hash(length: int) -> Callable[..., str]:
    """A file hash: lower-case hex of exactly the algorithm's length. The
    algorithm is the type, so an MD5 and a SHA-1 never meet."""

    def normalise(raw: str, **context: str) -> str:
        value = stripped(raw)
        if not re.fullmatch(r"[0-9a-fA-F]+", value):
            raise ObservableError(_("A hash is written in hexadecimal digits (0-9, a-f)."))
        if len(value) != length:
            raise ObservableError(
                _("Expected %(expected)s hexadecimal digits, got %(got)s."),
                expected=length,
                got=len(value),
            )
        return value.lower()

    return normalise


TYPES: tuple[ObservableType, ...] = (
    ObservableType(
        "ipv4", _("IPv4 address"), network.normalise_ip, "192.0.2.1", retype=network.ip_family
    ),
    ObservableType(
        "ipv6", _("IPv6 address"), network.normalise_ip, "2001:db8::1", retype=network.ip_family
    ),
    ObservableType("cidr", _("IP range (CIDR)"), network.normalise_cidr, "192.0.2.0/24"),
    ObservableType(
        "domain",
        _("Domain name"),
        network.normalise_domain,
        "example.org",
        display=network.display_domain,
    ),
    ObservableType(
        "email",
        _("E-mail address"),
        network.normalise_email,
        "someone@example.org",
        display=network.display_email,
    ),
    ObservableType("url", _("URL"), network.normalise_url, "https://example.org/path"),
    ObservableType(
        "phone",
        _("Telephone number"),
        network.normalise_phone,
        "+86 10 6552 9988",
        context=("region",),
        display=network.display_phone,
    ),
    ObservableType("md5", _("MD5 hash"), _hash(32), "d41d8cd98f00b204e9800998ecf8427e"),
    ObservableType("sha1", _("SHA-1 hash"), _hash(40), "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ObservableType("sha256", _("SHA-256 hash"), _hash(64), "e3b0c442…"),
    ObservableType("sha512", _("SHA-512 hash"), _hash(128), "cf83e135…"),
    ObservableType(
        "btc",
        _("Bitcoin address"),
        wallets.normalise_btc,
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ),
    ObservableType(
        "eth",
        _("Ethereum address"),
        wallets.normalise_eth,
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        display=wallets.display_eth,
    ),
    ObservableType(
        "trx", _("Tron address"), wallets.normalise_trx, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    ),
    ObservableType(
        "iban",
        _("IBAN"),
        documents.normalise_iban,
        "GB82 WEST 1234 5698 7654 32",
        display=documents.display_iban,
    ),
    ObservableType(
        "bank_account",
        _("Bank account (not IBAN)"),
        documents.normalise_bank_account,
        "CN:6222021234567890123",
        context=("country",),
    ),
    ObservableType(
        "cn_resident_id",
        _("PRC resident identity number"),
        documents.normalise_cn_resident_id,
        "11010119900307xxxx",
    ),
    ObservableType(
        "passport",
        _("Passport"),
        documents.normalise_passport,
        "CHN:E12345678",
        context=("country",),
    ),
    ObservableType(
        "other_id_document",
        _("Other identity document"),
        documents.normalise_other_id_document,
        "FRA:X4RTBPFW4",
        context=("country",),
    ),
    ObservableType(
        "person",
        _("Person (name and date of birth)"),
        people.normalise_person,
        "郭|声琨|1954-10-01",
    ),
)

BY_CODE: dict[str, ObservableType] = {entry.code: entry for entry in TYPES}


def observable_types() -> tuple[ObservableType, ...]:
    """Every type, in the order forms and API enums list them."""
    return TYPES


def choices() -> list[tuple[str, str]]:
    """(code, label) pairs for a form's select, labels in the active language."""
    return [(entry.code, str(entry.label)) for entry in TYPES]


def observable_type(code: str) -> ObservableType:
    try:
        return BY_CODE[code]
    except KeyError:
        raise ObservableError(_("%(code)s is not an observable type."), code=code) from None


def parse_observable(code: str, raw: str, **context: str) -> Observable:
    """Normalise `raw` as the type `code`. The observable's code may differ
    from the one asked for where the value belongs to a sibling type (an
    IPv4-mapped IPv6 address is an IPv4 address); its key is then the
    sibling's, so it meets the same value entered either way."""
    entry = observable_type(code)
    normal = entry.normalise(raw, **context)
    if entry.retype is not None:
        entry = BY_CODE[entry.retype(normal)]
    return Observable(entry.code, normal, entry.display(normal))
