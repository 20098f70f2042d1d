"""Accord reuses the OASIS validator's schema validators and checks large
envelopes in a pool of processes; the verdicts must be the library's own.
The stock verdicts come from a separate interpreter that never imports Accord."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid

import pytest

from accord.intel import validation
from tests.intel.support import TLP_RED

TIME = "2026-03-01T10:00:00.000Z"
LATER = "2026-03-02T10:00:00.000Z"
IP = "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"


def sid(kind: str, n: int) -> str:
    return f"{kind}--{uuid.UUID(int=n, version=4)}"


def indicator(n: int, **changes) -> dict:
    body = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": sid("indicator", n),
        "created": TIME,
        "modified": TIME,
        "name": f"Indicator {n}",
        "pattern": f"[ipv4-addr:value = '198.51.100.{n % 250}']",
        "pattern_type": "stix",
        "valid_from": TIME,
        "indicator_types": ["malicious-activity"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


PATTERNS = [
    "[ipv4-addr:value = '198.51.100.1'] AND [domain-name:value = 'example.com']",
    "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    "([ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [ipv4-addr:value = '198.51.100.2']) "
    "WITHIN 300 SECONDS",
    "[network-traffic:dst_port = 443] REPEATS 5 TIMES",
    "[url:value = 'http://x.example/'] START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00Z'",
    "[x-agency-thing:serial = 'A1']",
    "[email-addr:value MATCHES '^.*@example\\.com$']",
    "[process:name = 'a' OR process:pid = 4] AND [user-account:user_id = 'root']",
    # Refused, for different reasons:
    "[ipv4-addr:value = '198.51.100.1'] WITHIN 5 SECONDS WITHIN 6 SECONDS",
    "[ipv4-addr:value = '198.51.100.1'] REPEATS 2 TIMES REPEATS 3 TIMES",
    "[Not_A_Type:value = 'x']",
    "[ipv4-addr:value_with_CAPS = 'x']",
    "ipv4-addr:value = '198.51.100.1'",
    "[ipv4-addr:value = '198.51.100.1'",
    "[ipv4-addr:value = '198.51.100.1'] junk",
    "[ipv4-addr:value = '198.51.100.1'] §",
    "[file:size > 'big']",
    "[network-traffic:dst_port = 443] WITHIN 0 SECONDS",
    "",
]


def corpus() -> list:
    good = indicator(1)
    return [
        *[indicator(1000 + n, pattern=text) for n, text in enumerate(PATTERNS)],
        indicator(1100, pattern=PATTERNS[0], pattern_version="2.0"),
        good,
        indicator(2, pattern="[ipv4-addr:value = "),
        indicator(3, created="yesterday"),
        indicator(4, modified="2020-01-01T00:00:00.000Z"),
        indicator(5, pattern_type=None),
        indicator(6, id="indicator--not-a-uuid"),
        indicator(7, labels="not a list"),
        indicator(8, object_marking_refs=[TLP_RED]),
        {"type": "ipv4-addr", "spec_version": "2.1", "id": IP, "value": "198.51.100.3"},
        {"type": "ipv4-addr", "spec_version": "2.1", "id": IP},
        {
            "type": "domain-name",
            "spec_version": "2.1",
            "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5",
            "value": "example.com",
        },
        {
            "type": "malware",
            "spec_version": "2.1",
            "id": sid("malware", 9),
            "created": TIME,
            "modified": LATER,
            "name": "Dridex",
            "is_family": True,
        },
        {
            "type": "malware",
            "spec_version": "2.1",
            "id": sid("malware", 10),
            "created": TIME,
            "modified": TIME,
            "name": "No family flag",
        },
        {
            "type": "relationship",
            "spec_version": "2.1",
            "id": sid("relationship", 11),
            "created": TIME,
            "modified": TIME,
            "relationship_type": "indicates",
            "source_ref": good["id"],
            "target_ref": sid("malware", 9),
        },
        {
            "type": "relationship",
            "spec_version": "2.1",
            "id": sid("relationship", 12),
            "created": TIME,
            "modified": TIME,
            "relationship_type": "indicates",
            "source_ref": "nonsense",
            "target_ref": sid("malware", 9),
        },
        {
            "type": "observed-data",
            "spec_version": "2.1",
            "id": sid("observed-data", 13),
            "created": TIME,
            "modified": TIME,
            "first_observed": TIME,
            "last_observed": TIME,
            "number_observed": 1,
            "object_refs": [IP],
        },
        {
            "type": "x-agency-note",
            "spec_version": "2.1",
            "id": sid("x-agency-note", 14),
            "created": TIME,
            "modified": TIME,
            "text": "custom objects are allowed",
        },
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": sid("identity", 15),
            "created": TIME,
            "modified": TIME,
            "name": "Ministry",
            "identity_class": "organization",
        },
        {
            "type": "vulnerability",
            "spec_version": "2.1",
            "id": sid("vulnerability", 16),
            "created": TIME,
            "modified": TIME,
            "name": "CVE-2021-44228",
            "external_references": [{"source_name": "cve", "external_id": "CVE-2021-44228"}],
        },
        {
            "type": "report",
            "spec_version": "2.1",
            "id": sid("report", 17),
            "created": TIME,
            "modified": TIME,
            "name": "Empty report",
            "published": TIME,
            "object_refs": [],
        },
    ]


STOCK = """
import json, sys
from stix2validator import ValidationOptions, validate_instance
options = ValidationOptions(version="2.1")
verdicts = []
for obj in json.load(sys.stdin):
    try:
        result = validate_instance(obj, options)
        verdicts.append([str(e)[:500] for e in result.errors][:10] if not result.is_valid else [])
    except Exception as exc:
        verdicts.append([f"cannot be validated: {exc}"[:500]])
print(json.dumps(verdicts))
"""


def stock_verdicts(objects: list) -> list[list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", STOCK],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [v or [] for v in json.loads(done.stdout)]


def test_the_verdicts_are_the_stock_validators():
    objects = corpus()
    ours = [validation.problems_of(copy.deepcopy(obj)) for obj in objects]
    # Twice: the second pass runs on the reused validators.
    again = [validation.problems_of(copy.deepcopy(obj)) for obj in objects]
    stock = stock_verdicts(objects)
    assert ours == again
    for obj, mine, theirs in zip(objects, ours, stock, strict=True):
        assert mine == (theirs or []), obj["id"] if "id" in obj else obj
    # The corpus holds both kinds, so the comparison means something.
    assert sum(1 for v in stock if v) >= 15 and sum(1 for v in stock if not v) >= 12


def test_a_large_envelope_checked_in_parallel_gets_the_same_verdicts(monkeypatch):
    monkeypatch.setenv("ACCORD_VALIDATION_WORKERS", "2")
    objects = [indicator(100 + n) for n in range(validation.PARALLEL_FROM + 40)]
    objects[7] = indicator(107, pattern="[broken")
    objects[205] = indicator(305, created="not a time")
    objects[230] = "not an object"
    parallel = validation.problems_of_many(objects)
    workers = list(validation._POOL.processes)
    assert len(workers) == 2 and all(w.poll() is None for w in workers)
    # A worker that dies is replaced; the answer is the same.
    workers[0].kill()
    workers[0].wait(timeout=10)
    again = validation.problems_of_many(objects)
    monkeypatch.setenv("ACCORD_VALIDATION_WORKERS", "1")
    serial = validation.problems_of_many(objects)
    assert parallel == again == serial
    refused = [index for index, problems in enumerate(parallel) if problems]
    assert refused == [7, 205, 230]
    validation._POOL.stop()


@pytest.mark.parametrize("value", [float("nan"), "\ud800"])
def test_text_that_is_not_strict_json_is_refused_before_the_validator(value):
    assert validation.problems_of(indicator(1, name=value))[0].startswith("not valid JSON text")
