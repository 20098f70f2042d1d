"""The case pages and the JSON API: the same services, the same rules, the
same need-to-know; the pages in English and Chinese."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accord.cases.models import Case
from accord.core.audit import AuditAction
from tests.cases.world import events, make_people, open_case

pytestmark = pytest.mark.django_db
API = "/api/v1/cases"


@pytest.fixture
def people(db):
    return make_people()


def client_of(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def test_a_case_is_opened_observed_and_read_through_the_api(people):
    author = client_of(people["author"])
    created = author.post(
        API,
        {"title": "DDoS on ports", "title_language": "en", "categories": ["interference"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    case_id = created.json()["id"]
    added = author.post(
        f"{API}/{case_id}/observables",
        {"type": "ipv6", "value": "2001:DB8:0:0::1"},
        content_type="application/json",
    )
    assert added.status_code == 201 and added.json()["normal"] == "2001:db8::1"
    bad = author.post(
        f"{API}/{case_id}/observables",
        {"type": "ipv6", "value": "not-an-address"},
        content_type="application/json",
    )
    assert bad.status_code == 422 and bad.json()["detail"]
    imported = author.post(
        f"{API}/{case_id}/imports/csv",
        {"text": "domain,a.example\ndomain,A.example\nipv4,x"},
        content_type="application/json",
    )
    assert imported.status_code == 201 and imported.json()["status"] == "done"
    report = imported.json()["report"]
    assert (report["added"], report["duplicates"], report["failed"]) == (1, 1, 1)
    body = author.get(f"{API}/{case_id}").json()
    assert {o["normal"] for o in body["observables"]} == {"2001:db8::1", "a.example"}
    assert "observe" in body["actions"]
    assert events(AuditAction.CASE_READ, target_id=case_id) >= 1


def test_the_api_keeps_a_confidential_case_from_those_off_its_team(people):
    secret = open_case(people["author"], confidential=True)
    plain = open_case(people["author"])
    outsider = client_of(people["outsider"])
    listed = outsider.get(API, {"limit": 100}).json()
    assert [item["reference"] for item in listed["items"]] == [plain.reference]
    assert listed["count"] == 1
    assert outsider.get(API, {"q": secret.reference}).json()["count"] == 0
    assert outsider.get(f"{API}/{secret.pk}").status_code == 404
    assert outsider.get(f"{API}/{plain.pk}").status_code == 404
    auditor = client_of(people["auditor"])
    assert auditor.get(API).json()["count"] == 2
    assert auditor.get(f"{API}/{secret.pk}").json()["actions"] == []
    refused = auditor.post(
        f"{API}/{secret.pk}/observables",
        {"type": "domain", "value": "a.example"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert not Case.objects.get(pk=secret.pk).observables.exists()


def test_the_pages_open_a_case_and_add_a_subject_and_an_observable(people):
    author = client_of(people["author"])
    response = author.post(
        reverse("cases:create"),
        {"title": "电信诈骗", "title_language": "zh-hans", "categories": ["fraud"]},
    )
    case = Case.objects.get()
    assert response.status_code == 302 and case.title == "电信诈骗"
    detail = reverse("cases:detail", kwargs={"case_id": case.pk})
    author.post(
        reverse("cases:observe", kwargs={"case_id": case.pk}),
        {"code": "url", "value": "https://EVIL.example/a"},
    )
    author.post(
        reverse("cases:subject", kwargs={"case_id": case.pk}),
        {"kind": "person", "family_name": "郭", "given_name": "声琨", "birth_date": "1954-10-01"},
    )
    html = author.get(detail).content.decode()
    assert "evil.example" in html and "郭 声琨" in html
    assert case.observables.filter(code="person").exists()


def test_the_import_form_shows_the_report_row_by_row(people):
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = open_case(people["author"])
    upload = SimpleUploadedFile("rows.csv", b"domain,a.example\nipv4,999.1.1.1\n")
    response = client_of(people["author"]).post(
        reverse("cases:import", kwargs={"case_id": case.pk}), {"format": "csv", "file": upload}
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="import-report"' in html
    assert "line 2" in html


def test_the_pages_read_in_chinese(people):
    case = open_case(people["author"])
    author = client_of(people["author"], "zh-hans")
    people["author"].language = "zh-hans"
    people["author"].save()
    listing = author.get(reverse("cases:list")).content.decode()
    assert "案件" in listing and case.reference in listing
    detail = author.get(reverse("cases:detail", kwargs={"case_id": case.pk})).content.decode()
    assert "可观测值" in detail


def test_the_navigation_links_cases_for_those_who_may_see_them(people):
    assert reverse("cases:list") in client_of(people["auditor"]).get("/").content.decode()
    assert reverse("cases:list") not in client_of(people["admin"]).get("/").content.decode()
