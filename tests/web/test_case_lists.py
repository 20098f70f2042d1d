"""The case list as a table (issue 15): sorted by every column, a page at a
time, exported to CSV with the same rows; a confidential case stays out of
an outsider's rows, counts and export."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accord.cases.models import Case
from accord.core.models import AuditEvent
from accord.core.roles import Role

pytestmark = pytest.mark.django_db

LIST = reverse("cases:list")
EXPORT = reverse("cases:export")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def make_case(reference: str, title: str, **fields) -> Case:
    values = {"title_language": "en", "created_at": T0, **fields}
    return Case.objects.create(id=uuid.uuid4(), reference=reference, title=title, **values)


def listed(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<tr data-reference="([^"]+)"', response.content.decode())


def exported(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="cases-')
    return list(csv.reader(io.StringIO(response.content.decode().removeprefix("\ufeff"))))


@pytest.fixture
def three(users):
    make_case("CL-1", "Charlie ring", status="suspended", created_at=T0 + timedelta(days=2))
    make_case("CL-2", "Alpha botnet", status="open", created_at=T0 + timedelta(days=3))
    make_case("CL-3", "Bravo mules", status="closed", created_at=T0 + timedelta(days=1))


@pytest.mark.parametrize(
    ("column", "ascending"),
    [
        ("reference", ["CL-1", "CL-2", "CL-3"]),
        ("title", ["CL-2", "CL-3", "CL-1"]),
        ("status", ["CL-3", "CL-2", "CL-1"]),  # Closed, Open, Suspended
        ("created_at", ["CL-3", "CL-1", "CL-2"]),
    ],
)
def test_the_case_list_sorts_by_each_column(three, client_for, column, ascending):
    client = client_for(Role.CENTRAL_AUTHORITY)
    assert listed(client.get(LIST, {"sort": column})) == ascending
    assert listed(client.get(LIST, {"sort": f"-{column}"})) == ascending[::-1]


def test_the_case_list_pages_and_exports_every_page(users, client_for):
    for n in range(27):
        make_case(f"PC-{n:02d}", f"=cmd|' /C calc'!A{n}")
    client = client_for(Role.CENTRAL_AUTHORITY)
    assert len(listed(client.get(LIST, {"sort": "reference"}))) == 25
    assert listed(client.get(LIST, {"sort": "reference", "page": 2})) == ["PC-25", "PC-26"]
    rows = exported(client.get(EXPORT, {"sort": "reference"}))
    assert rows[0] == ["Reference", "Title", "Status", "Opened"]
    assert [row[0] for row in rows[1:]] == [f"PC-{n:02d}" for n in range(27)]
    assert rows[1][1:] == ["'=cmd|' /C calc'!A0", "Open", "2026-03-01"]
    export = AuditEvent.objects.filter(action="cases:case:list", data__how="csv").get()
    assert export.data["references"] == [f"PC-{n:02d}" for n in range(27)]


def test_a_confidential_case_is_absent_for_someone_outside_its_team(users, client_for):
    make_case("OPEN-C", "Open case")
    secret = make_case("CONF-C", "Sealed case", confidential=True)
    secret.team.add(users[Role.PROSECUTOR])
    outsider = client_for(Role.INVESTIGATOR)
    page = outsider.get(LIST)
    assert listed(page) == ["OPEN-C"]
    assert "1 row · page 1 of 1" in page.content.decode()
    assert [row[0] for row in exported(outsider.get(EXPORT))[1:]] == ["OPEN-C"]
    insider = client_for(Role.PROSECUTOR)
    assert sorted(row[0] for row in exported(insider.get(EXPORT))[1:]) == ["CONF-C", "OPEN-C"]
