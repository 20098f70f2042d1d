"""Properties of normalisation, for any input hypothesis can think of: a value
is either refused with ObservableError and a reason, or it reaches a normal
form that normalises to itself (idempotence), so a stored normal form always
meets a fresh parse of the same value. Checksummed addresses with one
character changed are refused."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress

import phonenumbers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from accord.cases.observables import (
    Observable,
    ObservableError,
    name_key,
    observable_types,
    parse_observable,
)
from accord.cases.observables.countries import ALPHA3_OF

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
CODES = [entry.code for entry in observable_types()]
CONTEXT = {"region": "CN", "country": "CN"}
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_or_refuse(code: str, raw: str, **context: str) -> Observable | None:
    """The observable, or None when refused; anything but ObservableError
    escaping is a bug (a refusal must never look like a crash or a value)."""
    try:
        observable = parse_observable(code, raw, **context)
    except ObservableError as refused:
        assert refused.reason
        return None
    assert isinstance(observable.normal, str) and observable.normal
    return observable


def assert_idempotent(observable: Observable, **context: str) -> None:
    again = parse_observable(observable.code, observable.normal, **context)
    assert again == observable


def b58check(version: int, payload: bytes) -> str:
    body = bytes([version]) + payload
    data = body + hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4]
    value = int.from_bytes(data, "big")
    out = ""
    while value:
        value, digit = divmod(value, 58)
        out = BASE58_ALPHABET[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


# --- Any text at all ----------------------------------------------------------------

odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60
) | st.from_regex(r"[0-9a-fA-Fx:./@|\-+ ]{0,50}", fullmatch=True)


@PROPERTY
@given(code=st.sampled_from(CODES), raw=odd_text)
def test_any_text_is_refused_or_reaches_a_normal_form_that_is_its_own(code, raw):
    observable = parse_or_refuse(code, raw, **CONTEXT)
    if observable is not None:
        assert_idempotent(observable, **CONTEXT)


# --- Valid values, written in many ways -------------------------------------------------


@PROPERTY
@given(number=st.integers(0, 2**32 - 1), mapped=st.booleans())
def test_ipv4_addresses_normalise_once(number, mapped):
    text = str(ipaddress.IPv4Address(number))
    observable = parse_observable(
        "ipv6" if mapped else "ipv4", f"::ffff:{text}" if mapped else text
    )
    assert observable.key == f"ipv4:{text}"
    assert_idempotent(observable)


@PROPERTY
@given(number=st.integers(0, 2**128 - 1), exploded=st.booleans(), upper=st.booleans())
def test_ipv6_addresses_normalise_once(number, exploded, upper):
    address = ipaddress.IPv6Address(number)
    text = address.exploded if exploded else str(address)
    observable = parse_observable("ipv6", text.upper() if upper else text)
    assert_idempotent(observable)
    assert observable.normal in (str(address), str(address.ipv4_mapped))


@PROPERTY
@given(number=st.integers(0, 2**128 - 1), prefix=st.integers(0, 128))
def test_ranges_normalise_once(number, prefix):
    network = ipaddress.IPv6Network((number, prefix), strict=False)
    observable = parse_observable("cidr", network.exploded.upper())
    assert_idempotent(observable)


labels = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-üéß中文ДЖ", min_size=1, max_size=20
)


@PROPERTY
@given(parts=st.lists(labels, min_size=2, max_size=4), dot=st.booleans(), local=labels)
def test_domains_emails_and_urls_normalise_once(parts, dot, local):
    domain = ".".join(parts) + ("." if dot else "")
    for code, raw in (
        ("domain", domain),
        ("email", f"{local}@{domain}"),
        ("url", f"HTTPS://{domain}:443/P?q#f"),
    ):
        observable = parse_or_refuse(code, raw)
        if observable is not None:
            assert_idempotent(observable)


@PROPERTY
@given(region=st.sampled_from(["CN", "US", "GB", "DE", "FR", "HK", "JP"]), national=st.booleans())
def test_phone_numbers_in_any_format_reach_e164(region, national):
    example = phonenumbers.example_number(region)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if national
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    observable = parse_observable(
        "phone", phonenumbers.format_number(example, style), region=region
    )
    assert observable.normal == phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.E164
    )
    assert_idempotent(observable, region=region)


@PROPERTY
@given(data=st.binary(min_size=1, max_size=64), upper=st.booleans())
def test_hashes_normalise_once(data, upper):
    for code in ("md5", "sha1", "sha256", "sha512"):
        digest = hashlib.new(code, data).hexdigest()
        observable = parse_observable(code, digest.upper() if upper else digest)
        assert observable.normal == digest
        assert_idempotent(observable)


@PROPERTY
@given(
    chain=st.sampled_from([("btc", 0x00), ("btc", 0x05), ("trx", 0x41)]),
    payload=st.binary(min_size=20, max_size=20),
    position=st.integers(0, 33),
    replacement=st.sampled_from(BASE58_ALPHABET),
)
def test_base58check_addresses_are_accepted_and_any_one_character_changed_is_refused(
    chain, payload, position, replacement
):
    code, version = chain
    address = b58check(version, payload)
    assert_idempotent(parse_observable(code, address))
    position %= len(address)
    assume(address[position] != replacement)
    typo = address[:position] + replacement + address[position + 1 :]
    assert parse_or_refuse(code, typo) is None


@PROPERTY
@given(payload=st.binary(min_size=20, max_size=20), upper=st.booleans())
def test_ethereum_addresses_in_any_case_meet(payload, upper):
    hex40 = payload.hex()
    observable = parse_observable("eth", f"0x{hex40.upper() if upper else hex40}")
    assert observable.normal == f"0x{hex40}"
    checksummed = parse_observable("eth", observable.display)
    assert checksummed == observable


@PROPERTY
@given(
    region=st.sampled_from(["110101", "310104"]),
    born=st.dates(
        min_value=datetime.date(1950, 1, 1),
        max_value=datetime.date(2020, 12, 31),
    ),
    order=st.integers(0, 999),
)
def test_resident_ids_with_their_check_character_normalise_once(region, born, order):
    body = f"{region}{born:%Y%m%d}{order:03d}"
    number = body + ric.calc_check_digit(body + "0")
    observable = parse_observable("cn_resident_id", number.lower())
    assert observable.normal == number
    assert_idempotent(observable)


@PROPERTY
@given(
    country=st.sampled_from(sorted(ALPHA3_OF)),
    number=st.from_regex(r"[A-Za-z0-9]{1,4}( ?[A-Za-z0-9-]{1,4}){0,3}", fullmatch=True),
)
def test_documents_normalise_once_with_the_country_in_either_alpha_form(country, number):
    two = parse_observable("passport", number, country=country)
    three = parse_observable("passport", f"{ALPHA3_OF[country]}:{number}")
    assert two == three
    assert_idempotent(two)


names = st.text(
    alphabet=st.sampled_from("郭声聲琨阿沛·旺晋美曾单單吕AaÉéÜüßØ- '‧•・"), min_size=1, max_size=8
)


@PROPERTY
@given(family=names, given_name=names, born=st.dates())
def test_person_keys_normalise_once(family, given_name, born):
    observable = parse_or_refuse("person", f"{family}|{given_name}|{born.isoformat()}")
    if observable is not None:
        assert observable.normal.startswith(name_key(family, given_name))
        assert_idempotent(observable)
