"""Custody records: made, signed and chained per (item, node); read back only
when every field has its documented type; a chain check names the first
broken record (signature, item, order). No database."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey, VerifyKey

from accord.core.canonical import canonical_bytes
from accord.evidence import custody
from accord.evidence.custody import CustodyError, Record
from tests.evidence.bundle_kit import CN, PUBLIC, START, US, chain

DATA = b"the seized ledger"
ITEM = "0f5c2f4e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"


def both_chains() -> list[Record]:
    return chain(ITEM, DATA, "cn.mps", ["collected", "viewed", "exported"]) + chain(
        ITEM, DATA, "us.doj", ["received", "downloaded"]
    )


def test_a_chain_links_each_record_to_the_hash_of_the_one_before():
    first, second, third = chain(ITEM, DATA, "cn.mps", ["collected", "viewed", "exported"])
    assert (first.seq, first.prev) == (0, "")
    assert (second.seq, second.prev) == (1, first.hash)
    assert (third.seq, third.prev) == (2, second.hash)
    assert first.hash == hashlib.sha256(canonical_bytes(first.to_json())).hexdigest()
    assert first.sha256 == hashlib.sha256(DATA).hexdigest()
    assert first.at == "2026-03-01T08:30:00.000000Z" and first.at_datetime == START


def test_the_signature_covers_the_canonical_record_without_sig():
    record = chain(ITEM, DATA, "cn.mps", ["collected"])[0]
    unsigned = {key: value for key, value in record.to_json().items() if key != "sig"}
    VerifyKey(PUBLIC["cn.mps"]).verify(canonical_bytes(unsigned), base64.b64decode(record.sig))
    assert record.signature_ok(PUBLIC["cn.mps"])
    assert not record.signature_ok(PUBLIC["us.doj"])


def test_a_record_round_trips_through_its_json_line():
    for record in both_chains():
        line = record.canonical()
        again = Record.from_json(json.loads(line))
        assert again == record and again.hash == record.hash


def test_times_are_kept_in_utc_and_naive_times_are_refused():
    beijing = timezone(timedelta(hours=8))
    record = custody.make_record(
        item=ITEM,
        sha256="0" * 64,
        node="cn.mps",
        prev=None,
        event="viewed",
        at=datetime(2026, 3, 1, 16, 30, 0, 5, tzinfo=beijing),
        actor="li.wei",
        reason="",
        details={},
        signing_key=CN,
    )
    assert record.at == "2026-03-01T08:30:00.000005Z"
    with pytest.raises(ValueError, match="timezone"):
        custody.make_record(
            item=ITEM,
            sha256="0" * 64,
            node="cn.mps",
            prev=None,
            event="viewed",
            at=datetime(2026, 3, 1),
            actor="li.wei",
            reason="",
            details={},
            signing_key=CN,
        )


def make(**changes) -> Record:
    fields = {
        "item": ITEM,
        "sha256": "a" * 64,
        "node": "cn.mps",
        "prev": None,
        "event": "collected",
        "at": START,
        "actor": "li.wei",
        "reason": "",
        "details": {},
        "signing_key": CN,
    } | changes
    return custody.make_record(**fields)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event": "stolen"}, "event"),
        ({"item": ITEM.upper()}, "item"),
        ({"item": "not-a-uuid"}, "item"),
        ({"sha256": "abc"}, "sha256"),
        ({"node": "CN"}, "node"),
        ({"details": {"weight": 1.5}}, "details"),
        ({"details": {"flag": True}}, "details"),
        ({"details": {"list": ["a"]}}, "details"),
    ],
)
def test_make_record_refuses_a_field_outside_the_format(changes, field):
    with pytest.raises(CustodyError) as caught:
        make(**changes)
    assert caught.value.code == "custody_invalid" and repr(field) in caught.value.message


def test_make_record_refuses_a_prev_from_another_chain():
    theirs = make(node="us.doj", signing_key=US)
    with pytest.raises(CustodyError) as caught:
        make(prev=theirs, event="viewed")
    assert caught.value.code == "custody_order"


VALID = make(details={"how": "seizure", "count": 2}).to_json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sig": None}, "sig"),
        ({"extra": "x"}, "extra"),
        ({"v": 2}, "v"),
        ({"seq": "0"}, "seq"),
        ({"seq": True}, "seq"),
        ({"seq": -1}, "seq"),
        ({"seq": 1}, "prev"),
        ({"prev": "b" * 64}, "prev"),
        ({"at": "2026-03-01T08:30:00Z"}, "at"),
        ({"at": "2026-02-30T08:30:00.000000Z"}, "at"),
        ({"actor": 7}, "actor"),
        ({"details": []}, "details"),
        ({"sig": "not base64!"}, "sig"),
        ({"sig": base64.b64encode(b"short").decode()}, "sig"),
        ({"sig": base64.b64encode(bytes(64)).decode().rstrip("=")}, "sig"),
    ],
)
def test_from_json_names_a_missing_extra_or_ill_typed_field(change, field):
    data = {key: value for key, value in (VALID | change).items() if value is not None}
    with pytest.raises(CustodyError) as caught:
        Record.from_json(data)
    assert caught.value.code == "custody_invalid" and repr(field) in caught.value.message


def test_from_json_refuses_what_is_not_an_object():
    with pytest.raises(CustodyError, match="object"):
        Record.from_json([VALID])


def test_two_nodes_chains_verify():
    custody.verify_chain(both_chains(), PUBLIC)


def codes(records: list[Record], keys=PUBLIC, **item) -> str:
    with pytest.raises(CustodyError) as caught:
        custody.verify_chain(records, keys, **item)
    return caught.value.code


def changed(record: Record, **fields) -> Record:
    return Record.from_json(record.to_json() | fields)


def test_a_changed_field_breaks_the_signature():
    records = both_chains()
    records[1] = changed(records[1], actor="someone.else")
    assert codes(records) == "custody_signature"


def test_a_record_re_signed_by_another_key_breaks_the_signature():
    records = both_chains()
    forged = custody.make_record(
        item=ITEM,
        sha256=records[1].sha256,
        node="cn.mps",
        prev=records[0],
        event="viewed",
        at=START,
        actor="forger",
        reason="",
        details={},
        signing_key=SigningKey(bytes([9]) * 32),
    )
    records[1] = forged
    assert codes(records) == "custody_signature"


def test_a_record_by_a_node_not_trusted_is_named():
    assert codes(both_chains(), {"cn.mps": PUBLIC["cn.mps"]}) == "untrusted_node"


def test_swapped_records_break_the_order():
    records = both_chains()
    records[1], records[2] = records[2], records[1]
    assert codes(records) == "custody_order"


def test_a_removed_middle_record_breaks_the_order():
    records = both_chains()
    del records[1]
    assert codes(records) == "custody_order"


def test_a_chain_that_does_not_start_at_zero_breaks_the_order():
    assert codes(both_chains()[1:]) == "custody_order"


def test_chains_interleaved_or_out_of_node_order_break_the_order():
    records = both_chains()
    assert codes(records[3:] + records[:3]) == "custody_order"
    assert codes([records[0], records[3], records[1], records[2], records[4]]) == "custody_order"


def test_a_record_about_another_item_is_named():
    assert codes(both_chains(), item=str(uuid.uuid4())) == "custody_item"
    assert codes(both_chains(), sha256="f" * 64) == "custody_item"


def test_heads_are_each_nodes_last_record():
    records = both_chains()
    assert custody.heads(records) == {
        "cn.mps": {"seq": 2, "hash": records[2].hash},
        "us.doj": {"seq": 1, "hash": records[4].hash},
    }
    assert custody.chain_order(list(reversed(records))) == records


@settings(max_examples=60, deadline=None)
@given(
    actor=st.text(max_size=40),
    reason=st.text(max_size=200),
    details=st.dictionaries(
        st.text(max_size=12), st.text(max_size=30) | st.integers(-(2**53) + 1, 2**53 - 1)
    ),
)
def test_any_text_signs_round_trips_and_verifies(actor, reason, details):
    record = make(actor=actor, reason=reason, details=details)
    again = Record.from_json(json.loads(record.canonical()))
    assert again == record and again.hash == record.hash
    custody.verify_chain([again], PUBLIC)


def test_a_record_signed_before_a_key_rotation_verifies_under_the_previous_key():
    before = chain(ITEM, DATA, "cn.mps", ["collected"])[0]
    rotated = SigningKey(bytes([7]) * 32)
    after = make(sha256=before.sha256, prev=before, event="viewed", signing_key=rotated)
    new = bytes(rotated.verify_key)
    custody.verify_chain([before, after], {"cn.mps": [new, PUBLIC["cn.mps"]]})
    assert codes([before, after], {"cn.mps": new}) == "custody_signature"
