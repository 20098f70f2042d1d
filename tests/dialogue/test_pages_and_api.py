"""The dialogue's pages and API in one process: every page renders the record
in English and in Chinese, the fact sheet prints to PDF, the API refuses input
it does not understand (422, nothing changed), and the record exported here
verifies offline.

The record (tests/dialogue/conftest.py): a dialogue this node (xx.test) keeps
with partner.test, round 1 recorded here, round 2 by the partner; an outcome
agreed by both, one proposed here and one by the partner (each awaiting the
other's signature); a commitment owed by each side; a disagreement with both
sides' positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils.html import escape

from accord.core import indicators
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.dialogue import export, progress
from tests.dialogue.conftest import (
    CYBER_EN,
    CYBER_ZH,
    DIALOGUE_EN,
    DIALOGUE_ZH,
    FUGITIVES_EN,
    NARCOTICS_EN,
    NARCOTICS_ZH,
    Record,
    snapshot,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/dialogue"


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def chinese_reader(users) -> Client:
    """An analyst (who only reads the dialogue) who chose Chinese."""
    reader = users[Role.ANALYST]
    reader.language = "zh-hans"
    reader.save()
    client = Client()
    client.force_login(reader)
    return client


# ---------------------------------------------------------------- pages


def test_the_pages_show_the_record_in_english(record, client_for):
    reader = client_for(Role.ANALYST)
    home = page(reader, "/dialogue/")
    assert '<html lang="en">' in home
    assert DIALOGUE_EN in home and "Answer narcotics requests" in home

    detail = page(reader, f"/dialogue/{record.dialogue.pk}/")
    assert DIALOGUE_EN in detail and DIALOGUE_ZH not in detail.split("</h1>")[0]
    # Each outcome with its status: agreed; proposed here; proposed by the partner.
    assert detail.count('data-status="agreed"') == 1
    assert detail.count('data-status="proposed"') == 2
    for text in (NARCOTICS_EN, FUGITIVES_EN, CYBER_EN):
        assert escape(text) in detail
    # Both sides' positions, and the partner's own words.
    assert "Attribution must rest on shared evidence." in detail
    assert "Attribution may rest on national technical means." in detail
    # A reader gets no forms that change the record.
    assert 'data-testid="sign-form"' not in detail
    assert 'data-testid="position-form"' not in detail

    round_page = page(reader, f"/dialogue/rounds/{record.round1.pk}/")
    assert "Washington, D.C." in round_page
    assert "Jeff Sessions" in round_page and "郭声琨 Guo Shengkun" in round_page


def test_the_central_authority_sees_the_forms_for_its_own_side(record, client_for):
    detail = page(client_for(Role.CENTRAL_AUTHORITY), f"/dialogue/{record.dialogue.pk}/")
    # It may co-sign the partner's proposal, but not its own again, nor the agreed one.
    assert detail.count('data-testid="sign-form"') == 1
    assert f"/dialogue/outcomes/{record.theirs.pk}/sign/" in detail
    assert f"/dialogue/outcomes/{record.pending.pk}/sign/" not in detail
    # It amends what it proposed, never the partner's.
    assert f"/dialogue/outcomes/{record.agreed.pk}/amend/" in detail
    assert f"/dialogue/outcomes/{record.theirs.pk}/amend/" not in detail
    # It reports on the commitment it owes, not on the partner's.
    assert f"/dialogue/commitments/{record.we_owe.pk}/status/" in detail
    assert f"/dialogue/commitments/{record.they_owe.pk}/status/" not in detail


def test_the_pages_show_the_record_in_chinese(record, users):
    reader = chinese_reader(users)
    home = page(reader, "/dialogue/")
    assert '<html lang="zh-Hans">' in home
    assert DIALOGUE_ZH in home and "答复禁毒协助请求" in home

    detail = page(reader, f"/dialogue/{record.dialogue.pk}/")
    assert '<html lang="zh-Hans">' in detail
    assert DIALOGUE_ZH in detail.split("</h1>")[0]
    assert NARCOTICS_ZH in detail and CYBER_ZH in detail
    assert "归因也可以基于国家技术手段。" in detail

    round_page = page(reader, f"/dialogue/rounds/{record.round1.pk}/")
    assert '<html lang="zh-Hans">' in round_page
    assert "华盛顿" in round_page.split("</h1>")[0]


@pytest.mark.parametrize("role", list(Role))
def test_every_role_follows_the_dialogue(record, client_for, role):
    reader = client_for(role)
    for path in (
        "/dialogue/",
        f"/dialogue/{record.dialogue.pk}/",
        f"/dialogue/rounds/{record.round2.pk}/",
        f"/dialogue/rounds/{record.round1.pk}/fact-sheet/",
    ):
        page(reader, path)


def test_the_fact_sheet_in_english(record, client_for):
    sheet = page(client_for(Role.ANALYST), f"/dialogue/rounds/{record.round1.pk}/fact-sheet/")
    assert '<html lang="en">' in sheet
    assert DIALOGUE_EN in sheet and NARCOTICS_EN in sheet
    assert NARCOTICS_ZH not in sheet  # the outcome in the language asked for
    # Both signatures of the agreed outcome, and its hash.
    sha = record.agreed.latest().content_sha256
    assert f"SHA-256 {sha[:16]}" in sheet
    assert "xx.test — central_authority-user" in sheet
    assert "partner.test — Jeff Sessions, Attorney General" in sheet
    assert "Answer narcotics requests" in sheet and "Locate fugitives on request" in sheet
    assert "Attribution may rest on national technical means." in sheet


def test_the_fact_sheet_in_chinese(record, client_for, users):
    path = f"/dialogue/rounds/{record.round1.pk}/fact-sheet/"
    for sheet in (
        page(client_for(Role.ANALYST), path + "?lang=zh-hans"),
        page(chinese_reader(users), path),
    ):
        assert '<html lang="zh-hans">' in sheet
        assert DIALOGUE_ZH in sheet and "华盛顿" in sheet
        assert NARCOTICS_ZH in sheet and NARCOTICS_EN not in sheet
        assert "答复禁毒协助请求" in sheet
        assert "归因必须基于共享的证据。" in sheet and "归因也可以基于国家技术手段。" in sheet
    # An unknown language falls back to English.
    assert '<html lang="en">' in page(client_for(Role.ANALYST), path + "?lang=fr")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_fact_sheet_prints_to_pdf(record, client_for, language):
    exports = AuditEvent.objects.filter(action="dialogue:record:export").count()
    response = client_for(Role.ANALYST).get(
        f"/dialogue/rounds/{record.round1.pk}/fact-sheet.pdf?lang={language}"
    )
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="fact-sheet-round-1-{language}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    if language == "zh-hans":
        assert b"CJK" in response.content  # the Chinese text is set in a CJK font
    event = AuditEvent.objects.filter(action="dialogue:record:export").latest("seq")
    assert AuditEvent.objects.filter(action="dialogue:record:export").count() == exports + 1
    assert event.data == {"what": "factsheet-pdf", "language": language}


def test_without_chromium_the_pdf_is_unavailable_not_an_error(record, client_for, settings):
    settings.CHROMIUM = "/nonexistent/chromium"
    response = client_for(Role.ANALYST).get(f"/dialogue/rounds/{record.round1.pk}/fact-sheet.pdf")
    assert response.status_code == 503
    assert "Chromium" in response.content.decode()


# ---------------------------------------------------------------- the API reads


def test_the_api_shows_the_record_with_each_versions_status(record, client_for):
    response = client_for(Role.AUDITOR).get(f"{API}/dialogues/{record.dialogue.pk}")
    assert response.status_code == 200, response.content
    view = response.json()
    assert view["dialogue"]["parties"] == ["partner.test", "xx.test"]
    statuses = {o["id"]: [v["status"] for v in o["versions"]] for o in view["outcomes"]}
    assert statuses == {
        str(record.agreed.pk): ["agreed"],
        str(record.pending.pk): ["proposed"],
        str(record.theirs.pk): ["proposed"],
    }
    [disagreement] = view["disagreements"]
    assert set(disagreement["positions"]) == {"xx.test", "partner.test"}
    commitments = {c["id"]: c for c in view["commitments"]}
    ours = commitments[str(record.we_owe.pk)]
    assert (ours["owner_node"], ours["overdue"]) == ("xx.test", False)
    [measured] = ours["indicators"]
    assert (measured["code"], measured["value"], measured["target"]) == (
        "assistance.answered",
        0,
        10,
    )
    months = indicators.months(*progress.period())  # the year up to today
    assert measured["progress_percent"] == 0  # 0 of 10
    assert [point["month"] for point in measured["series"]] == months


def test_the_api_lists_dialogues_and_indicators(record, client_for):
    reader = client_for(Role.INVESTIGATOR)
    [listed] = reader.get(f"{API}/dialogues").json()
    assert (listed["id"], listed["partner"], listed["rounds"]) == (
        str(record.dialogue.pk),
        "partner.test",
        2,
    )
    codes = {i["code"] for i in reader.get(f"{API}/indicators?topic=narcotics").json()}
    assert {
        "assistance.submitted",
        "assistance.answered",
        "assistance.turnaround_median",
        "assistance.turnaround_p90",
        "assistance.locations_completed",
        "assistance.preservation_on_time",
    } <= codes


# ---------------------------------------------------------------- the API validates


def invalid_inputs(r: Record) -> list[tuple[str, str, str, dict]]:
    """(what, method, path, body): each refused with 422."""
    dialogue, round1 = f"{API}/dialogues/{r.dialogue.pk}", f"{API}/rounds/{r.round1.pk}"
    outcome, commitment = f"{API}/outcomes/{r.agreed.pk}", f"{API}/commitments/{r.we_owe.pk}"
    disagreement = f"{API}/disagreements/{r.disagreement.pk}"
    new_dialogue = {"peer": "partner.test", "track": "economic", "title_en": "E", "title_zh": "经"}
    new_round = {"number": 3, "date": "2019-01-10", "venue_en": "Geneva"}
    proposal = {"topic": "narcotics", "text_en": "t", "text_zh": "t"}
    new_commitment = {"title_en": "c", "owner_node": r.here, "due_date": "2031-01-01"}
    return [
        # Unknown topics, tracks, roles, statuses and indicators.
        (
            "unknown topic of an outcome",
            "POST",
            f"{round1}/outcomes",
            {**proposal, "topic": "space"},
        ),
        (
            "unknown topic of a round",
            "POST",
            f"{dialogue}/rounds",
            {**new_round, "topics": ["space"]},
        ),
        (
            "unknown topic of a disagreement",
            "POST",
            f"{dialogue}/disagreements",
            {"topic": "space", "issue_en": "i"},
        ),
        (
            "unknown topic of an indicator",
            "POST",
            f"{outcome}/commitments",
            {**new_commitment, "indicators": [{"code": "assistance.answered", "topic": "space"}]},
        ),
        (
            "unknown indicator",
            "POST",
            f"{outcome}/commitments",
            {**new_commitment, "indicators": [{"code": "hits.ratio"}]},
        ),
        ("unknown track", "POST", f"{API}/dialogues", {**new_dialogue, "track": "space"}),
        (
            "unknown delegation role",
            "PUT",
            f"{round1}/delegation",
            {"people": [{"role": "king", "name": "n"}]},
        ),
        ("unknown disagreement status", "POST", f"{disagreement}/status", {"status": "won"}),
        ("unknown commitment status", "POST", f"{commitment}/status", {"status": "forgotten"}),
        # Extra fields, everywhere.
        ("extra field: dialogue", "POST", f"{API}/dialogues", {**new_dialogue, "author_node": "x"}),
        ("extra field: round", "POST", f"{dialogue}/rounds", {**new_round, "author_node": "x"}),
        (
            "extra field: delegation",
            "PUT",
            f"{round1}/delegation",
            {"people": [{"name": "n", "node": "partner.test"}]},
        ),
        ("extra field: outcome", "POST", f"{round1}/outcomes", {**proposal, "version": 5}),
        (
            "extra field: amendment",
            "POST",
            f"{outcome}/versions",
            {"text_en": "t", "text_zh": "t", "content_sha256": "0" * 64},
        ),
        (
            "extra field: signature",
            "POST",
            f"{API}/outcomes/{r.theirs.pk}/signatures",
            {"version": 1, "node": "partner.test"},
        ),
        (
            "extra field: position",
            "PUT",
            f"{disagreement}/position",
            {"text_en": "p", "node": "partner.test"},
        ),
        ("extra field: status", "POST", f"{disagreement}/status", {"status": "managed", "at": "x"}),
        (
            "extra field: commitment",
            "POST",
            f"{outcome}/commitments",
            {**new_commitment, "status": "done"},
        ),
        ("extra field: report", "POST", f"{commitment}/status", {"status": "done", "node": "x"}),
        # Other bad input.
        ("round number 0", "POST", f"{dialogue}/rounds", {**new_round, "number": 0}),
        # Safe in JSON (a body past 2^53 is no I-JSON: a 400), not in the column.
        ("round number 2^53-1", "POST", f"{dialogue}/rounds", {**new_round, "number": 2**53 - 1}),
        ("round number 2^31", "POST", f"{dialogue}/rounds", {**new_round, "number": 2**31}),
        ("a round number taken", "POST", f"{dialogue}/rounds", {**new_round, "number": 2}),
        ("not a date", "POST", f"{dialogue}/rounds", {**new_round, "date": "4 Oct 2017"}),
        ("no venue", "POST", f"{dialogue}/rounds", {"number": 3, "date": "2019-01-10"}),
        ("empty text", "POST", f"{round1}/outcomes", {**proposal, "text_zh": "  "}),
        (
            "an owner who is no side",
            "POST",
            f"{outcome}/commitments",
            {**new_commitment, "owner_node": "third.test"},
        ),
        (
            "a target that is no number",
            "POST",
            f"{outcome}/commitments",
            {**new_commitment, "indicators": [{"code": "assistance.answered", "target": "many"}]},
        ),
        (
            "a version that does not exist",
            "POST",
            f"{API}/outcomes/{r.theirs.pk}/signatures",
            {"version": 9},
        ),
    ]


INVALID = [
    "unknown topic of an outcome",
    "unknown topic of a round",
    "unknown topic of a disagreement",
    "unknown topic of an indicator",
    "unknown indicator",
    "unknown track",
    "unknown delegation role",
    "unknown disagreement status",
    "unknown commitment status",
    "extra field: dialogue",
    "extra field: round",
    "extra field: delegation",
    "extra field: outcome",
    "extra field: amendment",
    "extra field: signature",
    "extra field: position",
    "extra field: status",
    "extra field: commitment",
    "extra field: report",
    "round number 0",
    "round number 2^53-1",
    "round number 2^31",
    "a round number taken",
    "not a date",
    "no venue",
    "empty text",
    "an owner who is no side",
    "a target that is no number",
    "a version that does not exist",
]


def test_the_invalid_cases_are_the_listed_ones(record):
    assert [case[0] for case in invalid_inputs(record)] == INVALID


@pytest.mark.parametrize("what", INVALID)
def test_the_api_refuses_input_it_does_not_understand(record, client_for, what):
    _what, method, path, body = next(c for c in invalid_inputs(record) if c[0] == what)
    before = snapshot()

    response = client_for(Role.CENTRAL_AUTHORITY).generic(
        method, path, data=json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 422, response.content
    assert response.json()["detail"]
    assert snapshot() == before


def test_a_nul_character_is_refused_and_nothing_is_stored(record, client_for):
    before = snapshot()
    response = client_for(Role.CENTRAL_AUTHORITY).post(
        f"{API}/rounds/{record.round1.pk}/outcomes",
        json.dumps({"topic": "narcotics", "text_en": "a\x00b", "text_zh": "t"}),
        content_type="application/json",
    )
    # 400: django-ninja turns the parser's refusal into "Cannot parse request body".
    assert response.status_code in (400, 422), response.content
    assert snapshot() == before


# ---------------------------------------------------------------- export


def test_the_record_exported_here_verifies(record):
    document = export.export_dialogue(record.dialogue)
    findings = export.verify(document)

    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    verdicts = {f.item: f.detail for f in findings if ", signature of" not in f.item}
    assert verdicts == {
        f"round 1 outcome narcotics ({record.agreed.pk}) version 1": "agreed",
        f"round 1 outcome fugitives ({record.pending.pk}) version 1": (
            "not agreed: signed by xx.test"
        ),
        f"round 2 outcome cybersecurity ({record.theirs.pk}) version 1": (
            "not agreed: signed by partner.test"
        ),
    }
    # The partner's key is the one pinned for it; the keys' fingerprints are listed.
    assert document["nodes"]["partner.test"][0]["public_key"] == record.dialogue.peer.signing_key
    delegations = {d["node"]: d["name"] for d in document["rounds"][0]["delegations"]}
    assert delegations == {"xx.test": "郭声琨 Guo Shengkun", "partner.test": "Jeff Sessions"}


def test_the_export_is_the_same_from_the_page_the_api_and_the_shell(record, client_for, tmp_path):
    reader = client_for(Role.ANALYST)
    from_page = reader.get(f"/dialogue/{record.dialogue.pk}/export/")
    assert from_page["Content-Disposition"] == (
        f'attachment; filename="dialogue-{record.dialogue.pk}.json"'
    )
    from_api = reader.get(f"{API}/dialogues/{record.dialogue.pk}/export").json()
    out = tmp_path / "export.json"
    call_command("dialogue", "export", str(record.dialogue.pk), "--out", str(out))
    from_shell = json.loads(Path(out).read_text(encoding="utf-8"))
    documents = [json.loads(from_page.content), from_api, from_shell]
    for document in documents:
        document.pop("exported_at")
        assert document == documents[0]
        assert all(f.ok for f in export.verify(document))


def test_the_shell_verifies_an_export_and_fails_a_spoiled_one(record, tmp_path, capsys):
    from django.core.management import CommandError

    path = tmp_path / "export.json"
    document = export.export_dialogue(record.dialogue)
    path.write_text(json.dumps(document), encoding="utf-8")
    call_command("dialogue", "verify", str(path))
    # 4 signatures (2 on the agreed outcome, 1 on each other) and 3 verdicts.
    assert "All 7 checks passed." in capsys.readouterr().out

    document["outcomes"][0]["versions"][0]["text_zh"] = "双方将停止禁毒合作。"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CommandError, match="1 item"):
        call_command("dialogue", "verify", str(path))
    name = f"round 1 outcome narcotics ({record.agreed.pk}) version 1"
    assert f"FAIL {name}: its text does not match" in capsys.readouterr().out


def test_verify_checks_the_keys_against_fingerprints_held_out_of_band(record, tmp_path, capsys):
    """A file re-signed with a forger's keys verifies against its own keys;
    --trust pins each node to the fingerprint its officers read out."""
    from django.core.management import CommandError

    path = tmp_path / "export.json"
    document = export.export_dialogue(record.dialogue)
    path.write_text(json.dumps(document), encoding="utf-8")
    nodes = document["nodes"]
    pins = [f"--trust={node}={keys[0]['fingerprint']}" for node, keys in nodes.items()]
    call_command("dialogue", "verify", str(path), *pins)
    out = capsys.readouterr().out
    assert "checks passed" in out and "were taken from the file" not in out

    call_command("dialogue", "verify", str(path))
    assert "were taken from the file" in capsys.readouterr().out

    node = sorted(nodes)[0]
    forged = "0" * 64
    with pytest.raises(CommandError, match="do not verify"):
        call_command("dialogue", "verify", str(path), f"--trust={node}={forged}")
    out = capsys.readouterr().out
    assert f"FAIL key of {node}: fingerprint" in out and "not trusted" in out
    with pytest.raises(CommandError, match="NODE=FINGERPRINT"):
        call_command("dialogue", "verify", str(path), "--trust=nonsense")
