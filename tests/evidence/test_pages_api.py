"""Evidence through the pages and the JSON API: upload (streamed, an oversized
body refused unread), lists, the item page with its custody timeline in both
languages, download with safe file names, export to a bundle that verifies,
purge; need-to-know for every user on every endpoint, refusals audited."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accord.core.audit import AuditAction
from accord.core.identity import this_node
from accord.evidence import bundle
from accord.evidence.models import EvidenceItem
from tests.evidence.test_blobs import Tripwire
from tests.evidence.world import add, events, make_case, make_people, make_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return make_people()


@pytest.fixture
def case(people):
    return make_case(people)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def upload(client: Client, url: str, data: bytes, filename: str = "scan.pdf", **fields):
    payload = {"file": _named(data, filename), "description": "A scan", **fields}
    return client.post(url, payload)


def _named(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/pdf")


def test_upload_through_the_api_and_read_it_back(people, case):
    client = signed_in(people["author"])
    data = os.urandom(3_000_000)  # over the in-memory upload size: a temporary file
    made = upload(client, f"/api/v1/evidence/cases/{case.pk}/items", data, how="seizure")
    assert made.status_code == 201, made.content
    item = made.json()
    assert item["size"] == len(data) and item["collected"]["how"] == "seizure"
    assert [r["event"] for r in item["custody"]] == ["collected"]
    listed = client.get(f"/api/v1/evidence/cases/{case.pk}/items").json()
    assert [row["id"] for row in listed] == [item["id"]]
    shown = client.get(f"/api/v1/evidence/items/{item['id']}").json()
    assert [r["event"] for r in shown["custody"]] == ["collected", "viewed"]
    got = client.get(f"/api/v1/evidence/items/{item['id']}/content")
    assert got.status_code == 200 and got["Content-Length"] == str(len(data))
    assert body(got) == data


def test_upload_to_a_request_and_list_it(people):
    request = make_request(people)
    client = signed_in(people["author"])
    made = upload(client, f"/api/v1/evidence/requests/{request.pk}/items", b"court order")
    assert made.status_code == 201
    listed = client.get(f"/api/v1/evidence/requests/{request.pk}/items").json()
    assert [row["request"] for row in listed] == [request.reference]
    page = client.get(reverse("assistance:detail", kwargs={"request_id": request.pk}))
    assert b'data-testid="evidence-form"' in page.content and b"scan.pdf" in page.content


def test_an_oversized_body_is_refused_before_it_is_read(people, case, settings):
    settings.EVIDENCE_MAX_ITEM_BYTES = 1000
    client = signed_in(people["author"])
    wire = Tripwire(0)
    refused = client.generic(
        "POST",
        f"/api/v1/evidence/cases/{case.pk}/items",
        b"",
        # generic() sets neither header for an empty body: a client would send both.
        CONTENT_TYPE="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(50 * 1_048_576),
        **{"wsgi.input": wire},
    )
    assert refused.status_code == 413
    assert "larger than this node accepts" in refused.json()["detail"]
    assert wire.given == 0
    assert events(AuditAction.EVIDENCE_REFUSED) == 1
    assert not EvidenceItem.objects.exists()


def test_an_undeclared_overrun_is_stopped_while_streaming(people, case, settings):
    settings.EVIDENCE_MAX_ITEM_BYTES = 1000
    client = signed_in(people["author"])
    # The body is within the form's slack, the file itself over the limit.
    refused = upload(client, f"/api/v1/evidence/cases/{case.pk}/items", b"x" * 5000)
    assert refused.status_code == 413
    assert not EvidenceItem.objects.exists()


NAMES = [
    "../../etc/passwd",
    "report\r\nSet-Cookie: stolen=1.pdf",
    'quote" and \\ backslash.txt',
    "bell\x07esc\x1b.txt",
    "nul\x00byte.txt",
    "证据 清单.pdf",
]


@pytest.mark.parametrize("name", NAMES)
def test_file_names_download_intact_and_safely(people, case, name):
    client = signed_in(people["author"])
    data = os.urandom(64)
    made = upload(client, f"/api/v1/evidence/cases/{case.pk}/items", data, name=name)
    assert made.status_code == 201
    stored = name.replace("\x00", "\ufffd")
    assert made.json()["name"] == stored
    got = client.get(f"/api/v1/evidence/items/{made.json()['id']}/content")
    header = got["Content-Disposition"]
    assert header.startswith("attachment; ")
    assert not any(ord(c) < 32 and c != "\t" for c in header)
    if "filename*=utf-8''" in header:
        assert unquote(header.split("filename*=utf-8''", 1)[1]) == stored
    else:
        quoted = header.split('filename="', 1)[1][:-1]
        assert quoted.replace('\\"', '"').replace("\\\\", "\\") == stored
    assert body(got) == data


def test_the_item_page_shows_the_custody_timeline_in_chinese(people, case):
    item = add(people["author"], case=case)
    reader = people["mate"]
    reader.language = "zh-hans"
    reader.save(update_fields=["language"])
    page = signed_in(reader).get(reverse("evidence:item", kwargs={"item_id": item.pk}))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-event="collected"' in html and 'data-event="viewed"' in html
    assert "保管" in html and "收集" in html and "查看" in html
    english = signed_in(people["author"]).get(reverse("evidence:item", kwargs={"item_id": item.pk}))
    assert "Custody" in english.content.decode() and "Collected" in english.content.decode()


def test_the_case_page_lists_and_takes_evidence(people, case):
    client = signed_in(people["author"])
    url = reverse("evidence:add-to-case", kwargs={"case_id": case.pk})
    done = upload(client, url, b"%PDF photo array", filename="photos.pdf", how="production")
    assert done.status_code == 302
    item = EvidenceItem.objects.get()
    assert item.collected_how == "production" and item.name == "photos.pdf"
    page = client.get(reverse("cases:detail", kwargs={"case_id": case.pk}))
    assert b'data-testid="evidence-items"' in page.content and b"photos.pdf" in page.content
    got = client.get(reverse("evidence:download", kwargs={"item_id": item.pk}))
    assert body(got) == b"%PDF photo array"
    auditor_page = signed_in(people["auditor"]).get(
        reverse("cases:detail", kwargs={"case_id": case.pk})
    )
    assert b"photos.pdf" in auditor_page.content
    assert b'data-testid="evidence-form"' not in auditor_page.content


def test_export_from_the_page_and_the_api_verifies(people, case, tmp_path):
    first = add(people["author"], os.urandom(2_100_000), case=case)
    second = add(people["author"], b"second", name="b.txt", case=case)
    client = signed_in(people["mate"])
    page = client.post(reverse("evidence:export"), {"item": [str(first.pk), str(second.pk)]})
    assert page.status_code == 200 and page["Content-Type"] == "application/zip"
    path = tmp_path / "page.zip"
    path.write_bytes(b"".join(page.streaming_content))
    node = this_node()
    verdict = bundle.verify_bundle(path, {node.node_id: node.fingerprint})
    assert verdict.ok, verdict
    with zipfile.ZipFile(path) as archive:
        assert f"files/{first.sha256}" in archive.namelist()
        if Path(settings.CHROMIUM).is_file():  # the cover sheet needs Chromium to print
            assert archive.read("cover.pdf").startswith(b"%PDF")
    api = client.post(
        "/api/v1/evidence/exports",
        {"items": [str(second.pk)], "cover": False},
        content_type="application/json",
    )
    assert api.status_code == 200
    path.write_bytes(b"".join(api.streaming_content))
    assert bundle.verify_bundle(path, {node.node_id: node.fingerprint}).ok
    with zipfile.ZipFile(path) as archive:
        assert "cover.pdf" not in archive.namelist()
    assert events(AuditAction.EVIDENCE_EXPORT) == 2


def test_purge_through_the_api_then_download_is_refused(people, case):
    item = add(people["author"], case=case)
    client = signed_in(people["author"])
    purged = client.post(
        f"/api/v1/evidence/items/{item.pk}/purge",
        {"reason": "deletion requested"},
        content_type="application/json",
    )
    assert purged.status_code == 200 and purged.json()["purged_at"]
    assert purged.json()["custody"][-1]["event"] == "purged"
    refused = client.get(f"/api/v1/evidence/items/{item.pk}/content")
    assert refused.status_code == 409
    page = client.get(reverse("evidence:download", kwargs={"item_id": item.pk}))
    assert page.status_code == 302
    assert events(AuditAction.EVIDENCE_REFUSED) == 2


# Who sees an item on a case: the team (author, mate), the central authority
# and auditors; an outsider who works on cases gets 404, an analyst (no
# evidence permission) 403; every refusal is audited.
EXPECTED = {
    "author": 200,
    "mate": 200,
    "central": 200,
    "auditor": 200,
    "outsider": 404,
    "analyst": 403,
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_need_to_know_on_every_endpoint(people, case, who):
    item = add(people["author"], b"secret bytes", case=case)
    client = signed_in(people[who])
    urls = [
        reverse("evidence:item", kwargs={"item_id": item.pk}),
        reverse("evidence:download", kwargs={"item_id": item.pk}),
        f"/api/v1/evidence/items/{item.pk}",
        f"/api/v1/evidence/items/{item.pk}/content",
    ]
    denied_before = events(AuditAction.ACCESS_DENIED)
    for url in urls:
        response = client.get(url)
        assert response.status_code == EXPECTED[who], (url, response.status_code)
        if response.status_code == 200 and response.streaming:
            assert body(response) == b"secret bytes"
    exported = client.post(
        "/api/v1/evidence/exports",
        {"items": [str(item.pk)], "cover": False},
        content_type="application/json",
    )
    assert exported.status_code == EXPECTED[who]
    listed = client.get(f"/api/v1/evidence/cases/{case.pk}/items")
    if EXPECTED[who] == 200:
        assert [row["id"] for row in listed.json()] == [str(item.pk)]
        return
    assert listed.status_code in (403, 404)
    assert events(AuditAction.ACCESS_DENIED) >= denied_before + len(urls) + 2
    purge = client.post(
        f"/api/v1/evidence/items/{item.pk}/purge", {"reason": "x"}, content_type="application/json"
    )
    assert purge.status_code == EXPECTED[who]
    item.refresh_from_db()
    assert not item.purged
    assert item.custody.count() == 1  # nothing but 'collected': no access left a trace


def test_wrong_file_field_is_refused(people, case):
    client = signed_in(people["author"])
    refused = client.post(f"/api/v1/evidence/cases/{case.pk}/items", {"other": io.BytesIO(b"x")})
    assert refused.status_code == 422


def test_a_browser_form_over_the_limit_is_told_why_unread(people, case, settings):
    """A form's CSRF token is in its body: a body refused unread fails the CSRF
    check, and the page then names the real reason (413), not CSRF."""
    settings.EVIDENCE_MAX_ITEM_BYTES = 1000
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["author"])
    client.get(reverse("cases:detail", kwargs={"case_id": case.pk}))  # the CSRF cookie
    wire = Tripwire(0)
    refused = client.generic(
        "POST",
        reverse("evidence:add-to-case", kwargs={"case_id": case.pk}),
        b"",
        # generic() sets neither header for an empty body: a client would send both.
        CONTENT_TYPE="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(50 * 1_048_576),
        **{"wsgi.input": wire},
    )
    assert refused.status_code == 413
    assert "larger than this node accepts" in refused.content.decode()
    assert wire.given == 0
    assert events(AuditAction.EVIDENCE_REFUSED, actor="user:ev-author") == 1
    ordinary = client.post(reverse("evidence:add-to-case", kwargs={"case_id": case.pk}), {})
    assert ordinary.status_code == 403  # any other CSRF failure stays Django's


def test_the_upload_form_knows_the_limit(people, case, settings):
    settings.EVIDENCE_MAX_ITEM_BYTES = 3 * 1_048_576
    page = signed_in(people["author"]).get(reverse("cases:detail", kwargs={"case_id": case.pk}))
    html = page.content.decode()
    assert f'data-max-bytes="{3 * 1_048_576}"' in html
    assert "evidence/limit.js" in html


# An item on a request follows the request's need-to-know: its team (the
# author), the central authority and auditors; not an investigator off it.
REQUEST_EXPECTED = {"author": 200, "central": 200, "auditor": 200, "outsider": 404, "analyst": 403}


@pytest.mark.parametrize("who", list(REQUEST_EXPECTED))
def test_need_to_know_follows_the_request(people, who):
    request = make_request(people)
    item = add(people["author"], b"court order", request=request)
    client = signed_in(people[who])
    for url in (f"/api/v1/evidence/items/{item.pk}", f"/api/v1/evidence/items/{item.pk}/content"):
        assert client.get(url).status_code == REQUEST_EXPECTED[who], url
    page = client.get(reverse("evidence:item", kwargs={"item_id": item.pk}))
    assert page.status_code == REQUEST_EXPECTED[who]


@pytest.mark.parametrize("who", list(EXPECTED))
def test_the_evidence_list_shows_only_what_the_user_may_open(people, case, who):
    item = add(people["author"], b"listed bytes", case=case)
    listed_before = events(AuditAction.EVIDENCE_LIST)
    page = signed_in(people[who]).get(reverse("evidence:list"))
    if EXPECTED[who] == 403:
        assert page.status_code == 403
        return
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="evidence-list"' in html
    assert (str(item.pk) in html) == (EXPECTED[who] == 200)
    # The sidebar leads here: Evidence is an area of the node, not "soon".
    assert f'href="{reverse("evidence:list")}" data-area="evidence"' in html
    assert events(AuditAction.EVIDENCE_LIST) == listed_before + 1


def test_the_custody_details_are_named_in_chinese(people, case):
    item = add(people["author"], case=case)
    reader = people["mate"]
    reader.language = "zh-hans"
    reader.save(update_fields=["language"])
    html = signed_in(reader).get(reverse("evidence:item", kwargs={"item_id": item.pk}))
    text = html.content.decode()
    assert "法律依据" in text or "收集方式" in text
    assert "legal_basis:" not in text and "how:" not in text
