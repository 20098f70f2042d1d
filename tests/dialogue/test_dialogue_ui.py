"""The dialogue pages read true (issue 15): a commitment's standing agrees
with its indicators (a target reached is proposed as done, never shown
overdue), charts have axes, units and a text alternative, a signature names
the signer and title from the signer's profile with the time signed, a listed
document is a link only when it has an address, and the commitment form keeps
what was typed with each problem beside its field. In one process, through HTTP."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accord.core import dates, indicators
from accord.core.indicators import Reading
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.dialogue import services
from accord.dialogue.models import Commitment, OutcomeSignature
from tests.assistance.test_forms_keep_work import errors_of
from tests.dialogue.conftest import Record

pytestmark = pytest.mark.django_db

ANSWERED = "assistance.answered"


@pytest.fixture
def answered_twelve(monkeypatch) -> None:
    """Twelve narcotics requests answered in the period: over the target of 10."""
    found = indicators.get(ANSWERED)
    assert found is not None

    def compute(params, start, end) -> Reading:
        return Reading(12.0, "count", "test", [("2026-11", 5.0), ("2026-12", 7.0)], 12)

    monkeypatch.setitem(indicators._REGISTRY, ANSWERED, dataclasses.replace(found, compute=compute))


def blocks(html: str) -> dict[str, str]:
    """Each commitment's block on a page, by its English title."""
    found = {}
    for part in html.split('data-testid="commitment"')[1:]:
        title = re.search(r"<h3>\s*(.*?)\s*<", part)
        assert title
        found[title[1]] = part.split('<div class="commitment', 1)[0]
    return found


def test_a_commitment_whose_target_is_reached_is_proposed_as_done_not_overdue(
    record: Record, client_for, answered_twelve
):
    # Both are past their due date; only ours has reached its target.
    Commitment.objects.filter(pk__in=[record.we_owe.pk, record.they_owe.pk]).update(
        due_date=date(2020, 1, 1)
    )
    client = client_for(Role.CENTRAL_AUTHORITY)
    detail = blocks(client.get(f"/dialogue/{record.dialogue.pk}/").content.decode())
    ours, theirs = detail["Answer narcotics requests"], detail["Locate fugitives on request"]
    assert 'data-standing="met"' in ours and 'data-testid="standing-met"' in ours
    assert "overdue" not in ours
    assert 'data-testid="propose-done"' in ours and '<option value="done" selected>' in ours
    assert 'data-standing="overdue"' in theirs and 'data-testid="standing-overdue"' in theirs
    home = client.get("/dialogue/").content.decode()
    assert re.search(r'data-testid="overdue-commitments">1<', home)
    assert 'data-standing="met"' in home
    # Reported done by its owner, it is neither.
    # The API and the fact sheet say the same.
    view = client.get(f"/api/v1/dialogue/dialogues/{record.dialogue.pk}").json()
    standing = {c["title_en"]: (c["overdue"], c["targets_met"]) for c in view["commitments"]}
    assert standing["Answer narcotics requests"] == (False, True)
    assert standing["Locate fugitives on request"] == (True, False)
    sheet = client.get(f"/dialogue/rounds/{record.round1.pk}/fact-sheet/?lang=en").content.decode()
    ours_sheet = sheet.split("Answer narcotics requests", 1)[1].split("</h3>", 1)[0]
    assert "targets met: proposed as done" in ours_sheet and "overdue" not in ours_sheet
    assert re.search(r'role="img" aria-label="[^"]*2026-11: 5; 2026-12: 7"', sheet)
    services.set_commitment_status(_ca(record), record.we_owe, "done")
    detail = blocks(client.get(f"/dialogue/{record.dialogue.pk}/").content.decode())
    assert 'data-standing=""' in detail["Answer narcotics requests"]


def _ca(record: Record):
    from accord.core.audit import Actor
    from accord.core.models import User

    return Actor.of(User.objects.get(role=Role.CENTRAL_AUTHORITY))


def test_a_chart_has_axes_units_and_a_text_alternative(record: Record, client_for, answered_twelve):
    html = client_for(Role.ANALYST).get(f"/dialogue/{record.dialogue.pk}/").content.decode()
    chart = html.split(f'data-testid="chart-{ANSWERED}"', 1)[1].split("</figure>", 1)[0]
    assert "By month, in number of records" in chart
    y_axis = re.search(r'data-testid="chart-y"><span>(.*?)</span><span>(.*?)</span>', chart)
    assert y_axis and y_axis.groups() == ("7", "0")
    x_axis = re.search(r'data-testid="chart-x"><span>(.*?)</span><span>(.*?)</span>', chart)
    assert x_axis and x_axis.groups() == ("2026-11", "2026-12")
    label = re.search(r'role="img" aria-label="([^"]*)" data-testid="chart-bars"', chart)
    assert label and "2026-11: 5; 2026-12: 7" in label[1]
    assert "<td>2026-12</td><td>7</td>" in chart
    # The progress bar says what it shows, too.
    assert 'aria-label="100 % of the target"' in html


def test_a_chart_reads_in_chinese(record: Record, users, answered_twelve):
    reader = users[Role.ANALYST]
    reader.language = "zh-hans"
    reader.save()
    client = Client()
    client.force_login(reader)
    html = client.get(f"/dialogue/{record.dialogue.pk}/").content.decode()
    chart = html.split(f'data-testid="chart-{ANSWERED}"', 1)[1].split("</figure>", 1)[0]
    assert "按月统计，单位：记录数" in chart and "By month" not in chart
    assert "逐月数据" in chart and '<th scope="col">月份</th>' in chart


def test_a_listed_document_is_a_link_only_when_it_has_an_address(record: Record, client_for):
    round3 = services.save_round(
        _ca(record),
        record.dialogue,
        {
            "number": 3,
            "date": "2018-10-04",
            "venue_en": "Beijing",
            "documents": [
                {"title": "Joint statement", "reference": "https://example.org/statement.pdf"},
                {"title": "Minutes", "reference": "MPS-2018-044"},
                {"title": "Press release", "reference": ""},
                {"title": "Scripted", "reference": "javascript:alert(1)"},
            ],
        },
    )
    html = client_for(Role.ANALYST).get(f"/dialogue/rounds/{round3.pk}/").content.decode()
    items = re.findall(r'<li data-testid="document">(.*?)</li>', html)
    assert len(items) == 4
    assert items[0].startswith('<a href="https://example.org/statement.pdf"')
    assert ">Joint statement</a>" in items[0]
    for item in items[1:]:
        assert "<a " not in item
    assert "MPS-2018-044" in items[1]


def test_the_commitment_form_keeps_what_was_typed_and_names_the_problem_beside_it(
    record: Record, client_for
):
    client = client_for(Role.CENTRAL_AUTHORITY)
    url = reverse("dialogue:commitment", args=[record.agreed.pk])
    before = Commitment.objects.count()
    typed = {
        "title_en": "Share contact points",
        "title_zh": "交换联络点",
        "owner_node": record.here,
        "due_date": "2001-01-01",
        "indicator": ANSWERED,
        "indicator_target": "12",
    }
    answer = client.post(url, typed)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert any("already passed" in e for e in errors_of(html, "due_date"))
    assert 'value="Share contact points"' in html and 'value="交换联络点"' in html
    assert 'value="2001-01-01"' in html and 'value="12"' in html
    assert f'<option value="{ANSWERED}" selected>' in html
    assert re.search(r'<details open data-testid="commitment-fold">', html)
    # A target that is not a number is named beside the target.
    answer = client.post(url, {**typed, "due_date": "2030-01-01", "indicator_target": "many"})
    assert errors_of(answer.content.decode(), "indicator_target")
    assert Commitment.objects.count() == before
    # Corrected, it is recorded.
    ahead = (dates.today() + timedelta(days=30)).isoformat()
    done = client.post(url, {**typed, "due_date": ahead})
    assert done.status_code == 302
    made = Commitment.objects.get(title_en="Share contact points")
    assert made.indicators == [{"code": ANSWERED, "topic": "", "target": 12.0}]


def test_the_commitment_form_names_a_missing_title_in_chinese(record: Record, users):
    officer = users[Role.CENTRAL_AUTHORITY]
    officer.language = "zh-hans"
    officer.save()
    client = Client()
    client.force_login(officer)
    answer = client.post(
        reverse("dialogue:commitment", args=[record.agreed.pk]),
        {"title_zh": "只有中文", "owner_node": record.here, "due_date": "2030-01-01"},
    )
    html = answer.content.decode()
    assert errors_of(html, "title_en") == ["这个字段是必填项。"]
    assert 'value="只有中文"' in html


def test_a_signature_carries_the_name_and_title_of_the_signers_profile(record: Record, client_for):
    client = client_for(Role.CENTRAL_AUTHORITY)
    assert client.get(reverse("dialogue:signer")).status_code == 200
    saved = client.post(
        reverse("dialogue:signer"),
        {"name": "Wang Xiaohong", "title": "Minister of Public Security", "next": "/dialogue/"},
    )
    assert saved.status_code == 302 and saved["Location"] == "/dialogue/"
    assert AuditEvent.objects.filter(data__what="signer-profile").exists()
    detail = client.get(f"/dialogue/{record.dialogue.pk}/").content.decode()
    assert "You sign as Wang Xiaohong, Minister of Public Security." in detail
    version = record.theirs.latest()
    signed = client.post(
        reverse("dialogue:sign", args=[record.theirs.pk]), {"version": str(version.version)}
    )
    assert signed.status_code == 302
    signature = OutcomeSignature.objects.get(version=version, node=record.here)
    assert (signature.signer_name, signature.signer_title) == (
        "Wang Xiaohong",
        "Minister of Public Security",
    )
    detail = client.get(f"/dialogue/{record.dialogue.pk}/").content.decode()
    when = f"{signature.signed_at[:10]} {signature.signed_at[11:16]} UTC"
    assert f"{record.here}: signed by Wang Xiaohong on {when}" in detail
    assert "(Minister of Public Security)" in detail
    # Only those who sign keep a signer profile.
    assert client_for(Role.ANALYST).get(reverse("dialogue:signer")).status_code == 403
