"""Handling conditions (the originator's release conditions, carried as a STIX
property extension) honoured on the way out; look-alike TLP:RED markings;
nothing about a TLP:RED object learnt by probing; TAXII sign-ins audited and
throttled; accounts disabled and tokens revoked from the CLI. One live node,
driven over HTTP and through its CLI."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stix2

from tests.intel.support import TAXII, TLP_RED, TaxiiNode, stored_counts
from tests.live import signed_in

pytestmark = pytest.mark.live

TAXII_COLLECTIONS = ("cond",)
EXTENSION = "extension-definition--4da54d41-2884-4772-ad2c-4d22b1f12193"
PARTNER = "us.partner"  # another originator: its conditions bind this node


@pytest.fixture(scope="module")
def http(taxii) -> Iterator[httpx.Client]:
    with taxii.http() as client:
        yield client


def indicator(value: str, **extra: Any) -> dict:
    made = stix2.Indicator(
        name=f"indicator {value}",
        pattern=f"[ipv4-addr:value = '{value}']",
        pattern_type="stix",
        valid_from="2024-01-01T00:00:00Z",
        **extra,
    )
    return json.loads(made.serialize())


def conditions(code: str, originator: str = PARTNER, **extra: Any) -> dict:
    return {
        "extensions": {
            EXTENSION: {
                "extension_type": "property-extension",
                "handling_code": code,
                "originator": originator,
                **extra,
            }
        }
    }


def post(taxii: TaxiiNode, http: httpx.Client, alias: str, objects: list, auth=None) -> dict:
    response = http.post(
        taxii.objects_url(alias),
        content=json.dumps({"objects": objects}),
        headers={"Accept": TAXII, "Content-Type": TAXII, **(auth or taxii.rw.bearer)},
    )
    assert response.status_code == 202, response.text
    return response.json()


def ids_served(taxii: TaxiiNode, http: httpx.Client, alias: str) -> set[str]:
    response = http.get(
        taxii.objects_url(alias),
        params={"limit": 1000},
        headers={"Accept": TAXII, **taxii.rw.bearer},
    )
    assert response.status_code == 200, response.text
    return {o["id"] for o in response.json().get("objects", [])}


def exported(taxii: TaxiiNode, alias: str) -> tuple[set[str], list[dict], str]:
    done = taxii.node.accord("intel", "export", "--collection", alias)
    objects = json.loads(done.stdout)["objects"]
    return {o["id"] for o in objects}, objects, done.stderr


def test_another_originators_conditions_bind_every_way_out(taxii, http):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    national = indicator("198.51.100.1", **conditions("national-authorities", expires=tomorrow))
    permission = indicator("198.51.100.2", **conditions("originator-permission"))
    agency = indicator(
        "198.51.100.3",
        **conditions(
            "receiving-agency", source_reliability="B", information_accuracy=2, purpose="Case 17"
        ),
    )
    closed = indicator("198.51.100.4", **conditions("no-further-sharing"))
    lapsed = indicator("198.51.100.5", **conditions("national-authorities", expires=yesterday))
    status = post(taxii, http, "cond", [national, permission, agency, closed, lapsed])
    assert status["success_count"] == 5, status

    # TAXII partner accounts: only what may go to other national authorities.
    assert ids_served(taxii, http, "cond") == {national["id"]}
    for hidden in (permission, agency, closed, lapsed):
        one = http.get(
            taxii.objects_url("cond") + hidden["id"] + "/",
            headers={"Accept": TAXII, **taxii.rw.bearer},
        )
        assert one.status_code == 404, hidden["id"]
    # Exports: all but "no further sharing" and what has expired; conditions kept.
    ids, objects, note = exported(taxii, "cond")
    assert ids == {
        national["id"],
        permission["id"],
        agency["id"],
        EXTENSION,
        "identity--ea812784-d707-4ff1-a86b-e0341e5b07c9",
    }
    carried = next(o for o in objects if o["id"] == agency["id"])
    assert carried == agency, "the object and its conditions leave unchanged"
    assert "2 object(s) withheld" in note
    # Nothing is lost: the node keeps all five.
    assert stored_counts(taxii.node)["cond"] == 5


def test_this_nodes_own_conditions_do_not_bind_it(taxii, http, tmp_path):
    mine = indicator("198.51.100.20")
    bundle = tmp_path / "mine.json"
    bundle.write_text(
        json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [mine]})
    )
    taxii.node.accord(
        "intel",
        "import",
        str(bundle),
        "--collection",
        "cond",
        "--handling-code",
        "no-further-sharing",
        "--reliability",
        "a",
        "--accuracy",
        "3",
        "--purpose",
        "Joint operation",
        "--expires",
        "2099-12-31",
    )
    assert mine["id"] in ids_served(taxii, http, "cond"), "the originator's partners get it"
    served = http.get(
        taxii.objects_url("cond") + mine["id"] + "/", headers={"Accept": TAXII, **taxii.rw.bearer}
    ).json()["objects"][0]
    stamped = served["extensions"][EXTENSION]
    assert stamped == {
        "extension_type": "property-extension",
        "handling_code": "no-further-sharing",
        "originator": taxii.node.node_id,
        "source_reliability": "A",
        "information_accuracy": 3,
        "purpose": "Joint operation",
        "expires": "2099-12-31T23:59:59.000000Z",
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--handling-code", "receiving-agency", "--reliability", "G"], "A to F"),
        (["--handling-code", "receiving-agency", "--accuracy", "7"], "1 to 6"),
        (["--handling-code", "receiving-agency", "--expires", "2001-01-01"], "future"),
        (["--handling-code", "receiving-agency", "--expires", "soon"], "YYYY-MM-DD"),
        (["--reliability", "B"], "handling code"),
    ],
)
def test_bad_conditions_on_import_store_nothing(taxii, tmp_path, options, message):
    bundle = tmp_path / "bad.json"
    bundle.write_text(
        json.dumps(
            {
                "type": "bundle",
                "id": f"bundle--{uuid.uuid4()}",
                "objects": [indicator("198.51.100.30")],
            }
        )
    )
    before = stored_counts(taxii.node)["cond"]
    done = taxii.node.accord(
        "intel", "import", str(bundle), "--collection", "cond", *options, check=False
    )
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert stored_counts(taxii.node)["cond"] == before


def test_malformed_conditions_refuse_that_object_alone(taxii, http):
    good = indicator("198.51.100.40")
    bad = [
        indicator("198.51.100.41", **conditions("share-with-everyone")),
        indicator("198.51.100.42", **conditions("receiving-agency", source_reliability="Z")),
        indicator("198.51.100.43", **conditions("receiving-agency", information_accuracy=9)),
        indicator("198.51.100.44", **conditions("receiving-agency", expires="next week")),
        indicator("198.51.100.45", **conditions("receiving-agency", colour="blue")),
    ]
    status = post(taxii, http, "cond", [good, *bad])
    assert [s["id"] for s in status["successes"]] == [good["id"]]
    assert sorted(f["id"] for f in status["failures"]) == sorted(o["id"] for o in bad)
    reasons = " ".join(f["message"] for f in status["failures"])
    for word in (
        "handling_code",
        "source_reliability",
        "information_accuracy",
        "expires",
        "colour",
    ):
        assert word in reasons, reasons


def test_a_look_alike_red_marking_is_honoured_whenever_it_arrives(taxii, http):
    look_alike = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid.uuid4()}",
        "created": "2024-01-01T00:00:00.000Z",
        "name": "TLP:RED",
        "definition_type": "statement",
        "definition": {"statement": "Not for release"},
    }
    before = indicator("198.51.100.50", object_marking_refs=[look_alike["id"]])
    post(taxii, http, "cond", [before])
    assert before["id"] in ids_served(taxii, http, "cond")  # the marking is unknown so far
    after = indicator("198.51.100.51", object_marking_refs=[look_alike["id"]])
    post(taxii, http, "cond", [look_alike, after])
    served = ids_served(taxii, http, "cond")
    assert before["id"] not in served, "a marking that arrives later still marks"
    assert after["id"] not in served
    assert look_alike["id"] in served  # the definition itself is not secret
    ids, _objects, _note = exported(taxii, "cond")
    assert not {before["id"], after["id"]} & ids


def test_red_cannot_be_probed_by_writing_or_deleting(taxii, http):
    secret = indicator("192.0.2.66", object_marking_refs=[TLP_RED])
    post(taxii, http, "cond", [secret])
    count = stored_counts(taxii.node)["cond"]
    again = post(taxii, http, "cond", [secret])
    # "already stored" would confirm that the hidden object exists.
    assert again["successes"][0]["message"] == "stored", again
    gone = http.delete(
        taxii.objects_url("cond") + secret["id"] + "/", headers={"Accept": TAXII, **taxii.rw.bearer}
    )
    assert gone.status_code == 404
    assert stored_counts(taxii.node)["cond"] == count, "a partner cannot delete what it cannot see"


def test_an_observable_sent_again_unchanged_is_not_a_new_version(taxii, http):
    ip = json.loads(stix2.IPv4Address(value="198.51.100.60").serialize())
    first = post(taxii, http, "cond", [ip])
    second = post(taxii, http, "cond", [ip])
    assert first["successes"][0]["message"] == "stored"
    assert second["successes"][0]["message"] == "already stored"
    versions = http.get(
        taxii.objects_url("cond") + ip["id"] + "/versions/",
        headers={"Accept": TAXII, **taxii.rw.bearer},
    ).json()
    assert len(versions["versions"]) == 1
    changed = {**ip, "x_seen_by": "us.partner"}
    third = post(taxii, http, "cond", [changed])
    assert third["successes"][0]["message"] == "stored"


def test_the_token_scheme_is_an_alias_for_bearer(taxii, http):
    answer = http.get(
        taxii.discovery_url, headers={"Accept": TAXII, "Authorization": "Token " + taxii.rw.token}
    )
    assert answer.status_code == 200


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_failed_taxii_sign_ins_are_audited_and_then_slowed_down(taxii, http):
    node = taxii.node
    node.accord(
        "intel",
        "account",
        "add",
        "guessed",
        "--read",
        "shared",
        "--password-stdin",
        stdin="guessed-password-0123\n",
    )
    ok = http.get(
        taxii.discovery_url, headers={"Accept": TAXII, **basic("guessed", "guessed-password-0123")}
    )
    assert ok.status_code == 200
    for attempt in range(10):  # ACCORD_LOGIN_MAX_FAILURES' default
        wrong = http.get(
            taxii.discovery_url, headers={"Accept": TAXII, **basic("guessed", f"wrong-{attempt}")}
        )
        assert wrong.status_code == (429 if attempt == 9 else 401)
    node.create_user("auditor-h", "auditor")
    with signed_in(node, "auditor-h") as auditor:
        events = auditor.get(
            "/api/v1/audit/events", params={"action": "intel:account:signin-failed", "limit": 50}
        ).json()
    targets = [e["target_id"] for e in events["items"]]
    # (An unknown token proves no account: counted, not audited; see
    # tests/core/test_anonymous_failures.py.)
    assert targets.count("guessed") == 10, targets
    assert "wrong-" not in json.dumps(events), "passwords are never recorded"
    # Slowed down now, from this address: even the right password, verified
    # and remembered before, is refused until the cool-off has passed.
    throttled = http.get(
        taxii.discovery_url, headers={"Accept": TAXII, **basic("guessed", "guessed-password-0123")}
    )
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "900"


def test_accounts_are_disabled_and_tokens_revoked_from_the_cli(taxii, http):
    node = taxii.node
    node.accord(
        "intel",
        "account",
        "add",
        "leaving",
        "--read",
        "shared",
        "--password-stdin",
        stdin="leaving-password-0123\n",
    )
    token = node.accord("intel", "account", "token", "leaving").stdout.strip()
    spare = node.accord("intel", "account", "token", "leaving").stdout.strip()

    def status(auth: dict[str, str]) -> int:
        return http.get(taxii.discovery_url, headers={"Accept": TAXII, **auth}).status_code

    password = basic("leaving", "leaving-password-0123")
    assert status({"Authorization": "Bearer " + token}) == 200 and status(password) == 200
    node.accord("intel", "account", "revoke", "leaving", token[:12])
    assert status({"Authorization": "Bearer " + token}) == 401
    assert status({"Authorization": "Bearer " + spare}) == 200
    listed = node.accord("intel", "account", "list").stdout
    assert spare[:10] in listed and token[:10] not in listed
    node.accord("intel", "account", "disable", "leaving")
    assert status({"Authorization": "Bearer " + spare}) == 401
    assert status(password) == 401, "a remembered password is refused too"
    assert "(disabled)" in node.accord("intel", "account", "list").stdout
    node.accord("intel", "account", "enable", "leaving")
    assert status({"Authorization": "Bearer " + spare}) == 200
    wrong = node.accord("intel", "account", "revoke", "leaving", "acc_zzzzzz", check=False)
    assert wrong.returncode != 0 and "No token" in wrong.stderr


def test_export_to_a_missing_directory_and_a_too_deep_bundle_are_clear_errors(taxii, tmp_path):
    node = taxii.node
    missing = node.accord(
        "intel", "export", "--out", str(tmp_path / "nowhere" / "x.json"), check=False
    )
    assert missing.returncode != 0 and "no such directory" in missing.stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    refused = node.accord("intel", "import", str(deep), check=False)
    assert refused.returncode != 0 and "nested too deeply" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
