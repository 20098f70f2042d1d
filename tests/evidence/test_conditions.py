"""Conditions of use follow the partner's material: shown on the item and in
the API, written into the bundle manifest, enforced on export and download
(refused with the reason, audited, nothing recorded in custody); and the
provider's question on how it was used, with the answer, recorded."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.evidence import conditions, services, usage
from accord.evidence.models import UseQuestion
from tests.evidence.partner import accept_with, fresh, received, restrict
from tests.evidence.world import add, events, make_people, make_request

pytestmark = pytest.mark.django_db

SPECIALITY = ("speciality", "Only for the fraud proceedings named in the request.")


@pytest.fixture
def people():
    return make_people()


@pytest.fixture
def request_(people):
    return make_request(people)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def refusals(item) -> list[dict]:
    rows = AuditEvent.objects.filter(
        action=str(AuditAction.EVIDENCE_REFUSED), target_id=str(item.pk)
    ).order_by("seq")
    return [row.data for row in rows]


def custody_events(item) -> list[str]:
    return [row.event for row in item.custody.order_by("seq")]


def manifest_of(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("bundle/manifest.json"))


def test_only_the_partners_material_is_bound(people, request_):
    accept_with(request_, SPECIALITY)
    ours = add(people["author"], b"our court order", request=request_)
    theirs = received(request_)
    assert conditions.conditions_of(fresh(ours)) == []
    [condition] = conditions.conditions_of(fresh(theirs))
    assert (condition.kind, condition.source) == ("speciality", "acceptance")
    assert condition.manifest_line() == f"speciality: {SPECIALITY[1]}"


def test_export_against_a_speciality_limit(people, request_):
    accept_with(request_, SPECIALITY, ("no_onward_transfer", "Not to third states."))
    item = received(request_)
    author = Actor.of(people["author"])

    with pytest.raises(services.EvidenceRefused, match="purpose") as unstated:
        services.export_bundle(author, [item], io.BytesIO())
    assert unstated.value.status == 422
    with pytest.raises(services.EvidenceRefused, match=request_.reference) as other:
        services.export_bundle(author, [item], io.BytesIO(), purpose="A tax audit")
    assert other.value.status == 403
    # The reference must be named whole: R-1 is not R-12.
    with pytest.raises(services.EvidenceRefused):
        services.export_bundle(author, [item], io.BytesIO(), purpose=f"{request_.reference}9")
    assert [r["action"] for r in refusals(item)] == ["export"] * 3
    assert "Speciality" in refusals(item)[1]["reason"]
    assert custody_events(item) == ["received"]
    assert events(AuditAction.EVIDENCE_EXPORT) == 0

    out = io.BytesIO()
    purpose = f"Trial in the fraud proceedings, {request_.reference.lower()}"
    manifest = services.export_bundle(author, [item], out, purpose=purpose)
    assert custody_events(item) == ["received", "exported"]
    assert item.custody.get(event="exported").details["purpose"] == purpose
    expected = [f"speciality: {SPECIALITY[1]}", "no_onward_transfer: Not to third states."]
    assert manifest["items"][0]["conditions"] == expected
    assert manifest_of(out.getvalue())["items"][0]["conditions"] == expected


def test_the_cli_export_states_the_purpose(people, request_, tmp_path):
    from django.core.management import CommandError, call_command

    accept_with(request_, SPECIALITY)
    item = received(request_)
    out = tmp_path / "bundle.zip"
    args = ["evidence", "export", str(item.pk), "--out", str(out), "--no-cover"]
    args += ["--as", "ev-author"]
    with pytest.raises(CommandError, match="Speciality"):
        call_command(*args, "--purpose", "Another matter", stdout=io.StringIO())
    assert not out.exists()
    call_command(*args, "--purpose", f"Trial, {request_.reference}", stdout=io.StringIO())
    [exported] = manifest_of(out.read_bytes())["items"]
    assert exported["conditions"] == [f"speciality: {SPECIALITY[1]}"]


def test_the_case_a_request_is_filed_under_also_names_the_proceedings(people, request_):
    from tests.cases.world import open_case

    case = open_case(people["author"], "Fraud ring")
    request_.case = case
    request_.save(update_fields=["case"])
    accept_with(request_, SPECIALITY)
    item = received(request_)
    services.export_bundle(
        Actor.of(people["author"]), [item], io.BytesIO(), purpose=f"Trial in {case.reference}"
    )
    assert custody_events(item)[-1] == "exported"


def test_download_after_a_deletion_request_is_refused_and_audited(people, request_):
    item = received(request_, b"to be deleted")
    author = Actor.of(people["author"])
    assert b"".join(services.download(author, item)) == b"to be deleted"
    restrict(request_, "delete", "Delete the production.", "2026-11-30T09:00:00+00:00")
    for who in (author, Actor.of(people["central"])):
        with pytest.raises(services.EvidenceRefused, match="2026-11-30") as refused:
            services.download(who, item)
        assert refused.value.status == 409
    with pytest.raises(services.EvidenceRefused, match="deletion"):
        services.export_bundle(author, [item], io.BytesIO(), purpose=request_.reference)
    assert [r["action"] for r in refusals(item)] == ["download", "download", "export"]
    assert all("2026-11-30" in r["reason"] and r["conditions"] == "1" for r in refusals(item))
    assert custody_events(item) == ["received", "downloaded"]


def test_restricted_use_is_for_the_central_authority_only(people, request_):
    item = received(request_, b"restricted")
    restrict(request_, "restrict_use", "Police use only.", "2026-11-30T09:00:00+00:00")
    with pytest.raises(services.EvidenceRefused, match="central authority") as refused:
        services.download(Actor.of(people["author"]), item)
    assert refused.value.status == 403
    assert refusals(item)[0]["action"] == "download"
    central = Actor.of(people["central"])
    url = f"/api/v1/evidence/items/{item.pk}"
    assert signed_in(people["author"]).get(url).json()["may"]["download"] is False
    assert signed_in(people["central"]).get(url).json()["may"]["download"] is True
    assert b"".join(services.download(central, item)) == b"restricted"
    services.export_bundle(central, [item], io.BytesIO(), purpose="Court hearing")
    assert custody_events(item) == ["received", "viewed", "viewed", "downloaded", "exported"]


def test_the_api_refuses_with_the_reason_and_gives_the_conditions(people, request_):
    accept_with(request_, SPECIALITY)
    item = received(request_)
    client = signed_in(people["author"])
    got = client.get(f"/api/v1/evidence/items/{item.pk}").json()
    assert got["conditions"] == [
        {
            "kind": "speciality",
            "label": "Speciality: use only for the stated purpose and case",
            "text": SPECIALITY[1],
            "source": "acceptance",
            "on": None,
        }
    ]
    assert got["retention"]["until"] is None
    refused = client.post(
        "/api/v1/evidence/exports",
        {"items": [str(item.pk)], "cover": False, "purpose": "Another case"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert request_.reference in refused.json()["detail"]
    allowed = client.post(
        "/api/v1/evidence/exports",
        {"items": [str(item.pk)], "cover": False, "purpose": f"For {request_.reference}"},
        content_type="application/json",
    )
    assert allowed.status_code == 200
    data = b"".join(allowed.streaming_content)
    assert manifest_of(data)["items"][0]["conditions"] == [f"speciality: {SPECIALITY[1]}"]


def test_the_item_page_shows_conditions_and_retention_in_chinese(people, request_):
    accept_with(request_, SPECIALITY)
    restrict(request_, "restrict_use", "仅限警方使用", "2026-11-30T09:00:00+00:00")
    item = received(request_)
    reader = people["author"]
    reader.language = "zh-hans"
    reader.save(update_fields=["language"])
    page = signed_in(reader).get(reverse("evidence:item", kwargs={"item_id": item.pk}))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-kind="speciality"' in html and 'data-kind="restrict_use"' in html
    assert "使用条件" in html and "保留期限" in html and "提供方限制了使用" in html
    assert "仅限警方使用" in html and "2026-11-30" in html
    assert "Conditions of use" not in html


def test_the_page_export_form_takes_the_purpose(people, request_):
    accept_with(request_, SPECIALITY)
    item = received(request_)
    client = signed_in(people["author"])
    refused = client.post(reverse("evidence:export"), {"item": [item.pk], "purpose": "Other"})
    assert refused.status_code == 302
    assert custody_events(item) == ["received"]
    done = client.post(
        reverse("evidence:export"), {"item": [item.pk], "purpose": request_.reference}
    )
    assert done.status_code == 200 and done["Content-Type"] == "application/zip"
    assert custody_events(item)[-1] == "exported"


def test_a_purpose_too_long_to_keep_whole_is_refused_not_cut(people, request_):
    """The purpose goes whole into each item's signed custody record; one
    over the limit is refused with the limit named, audited, and nothing is
    exported, from the API as from the service."""
    accept_with(request_, SPECIALITY)
    item = received(request_)
    author = Actor.of(people["author"])
    longest = f"Trial, {request_.reference}: " + "证" * (services.FIELD - 20)
    longest = longest[: services.FIELD]
    with pytest.raises(services.EvidenceRefused, match="at most 300") as refused:
        services.export_bundle(author, [item], io.BytesIO(), purpose=longest + "证")
    assert refused.value.status == 422
    client = signed_in(people["author"])
    answer = client.post(
        "/api/v1/evidence/exports",
        {"items": [str(item.pk)], "cover": False, "purpose": longest + "x" * 500},
        content_type="application/json",
    )
    assert answer.status_code == 422
    assert "800" in answer.json()["detail"]
    assert [r["action"] for r in refusals(item)] == ["export"] * 2
    assert custody_events(item) == ["received"]
    assert events(AuditAction.EVIDENCE_EXPORT) == 0
    services.export_bundle(author, [item], io.BytesIO(), purpose=longest)
    assert item.custody.get(event="exported").details["purpose"] == longest


# ---------------------------------------------------------------- how was it used?


def test_the_provider_asks_and_the_receiver_answers_both_recorded(people, request_):
    central = Actor.of(people["central"])
    provided = add(people["central"], b"our production", request=request_)  # provider's own
    question = usage.ask_use(central, fresh(provided), "Was the ledger used at trial?")
    assert question.asked_node == "xx.test"
    assert events(AuditAction.EVIDENCE_USE_ASKED, target_id=str(provided.pk)) == 1
    sent = usage.question_message(question)

    # The receiving side (simulated here): the same question on the item it received.
    item = received(request_)
    body = {**sent, "item_id": str(item.pk), "sha256": item.sha256, "question_id": str(item.pk)}
    arrived = usage.receive_question(request_.peer.node_id, body)
    assert usage.receive_question(request_.peer.node_id, body) == arrived  # once only
    assert events(AuditAction.EVIDENCE_USE_ASKED, target_id=str(item.pk)) == 1
    answered = usage.answer_use(
        Actor.of(people["author"]), arrived, "Exhibit 4 at the trial of 3 March."
    )
    assert answered.answered_by == "ev-author" and answered.answered_at is not None
    assert events(AuditAction.EVIDENCE_USE_ANSWERED, target_id=str(item.pk)) == 1
    with pytest.raises(services.EvidenceRefused, match="answered already") as twice:
        usage.answer_use(Actor.of(people["author"]), arrived, "Again")
    assert twice.value.status == 409

    # Back on the provider: the answer arrives on the question it asked.
    reply = {**usage.answer_message(answered), "question_id": str(question.pk)}
    reply["item_id"] = str(provided.pk)
    back = usage.receive_answer(request_.peer.node_id, reply)
    assert back.answer == "Exhibit 4 at the trial of 3 March."
    assert events(AuditAction.EVIDENCE_USE_ANSWERED, target_id=str(provided.pk)) == 1
    assert UseQuestion.objects.count() == 2
    assert item.custody.filter(event__in=["viewed", "downloaded"]).count() == 0


def test_who_may_ask_and_answer(people, request_):
    provided = add(people["author"], b"ours", request=request_)
    with pytest.raises(services.EvidenceRefused, match="central authority"):
        usage.ask_use(Actor.of(people["author"]), provided, "How was it used?")
    item = received(request_)
    with pytest.raises(services.EvidenceRefused, match="provided"):
        usage.ask_use(Actor.of(people["central"]), fresh(item), "How?")
    with pytest.raises(services.EvidenceRefused, match="question"):
        usage.ask_use(Actor.of(people["central"]), provided, "  ")
    body = {
        "question_id": "6f1e2d3c-4b5a-4978-8c6d-5e4f3a2b1c0d",
        "item_id": str(item.pk),
        "sha256": item.sha256,
        "question": "How?",
        "asked_by": "provider",
        "asked_at": "2026-12-01T10:00:00+00:00",
    }
    with pytest.raises(ValueError):
        usage.receive_question("someone.else", body)
    question = usage.receive_question(request_.peer.node_id, body)
    with pytest.raises(services.EvidenceRefused, match="Auditors"):
        usage.answer_use(Actor.of(people["auditor"]), question, "Nothing")
    assert [r["action"] for r in refusals(provided)] == ["ask_use", "ask_use"]
    assert refusals(item)[-1]["action"] == "answer_use"


def test_asking_and_answering_through_the_api_and_the_pages(people, request_):
    provided = add(people["central"], b"our production", request=request_)
    url = f"/api/v1/evidence/items/{provided.pk}/use-questions"
    refused = signed_in(people["author"]).post(
        url, {"question": "How?"}, content_type="application/json"
    )
    assert refused.status_code == 403
    asked = signed_in(people["central"]).post(
        url, {"question": "How was it used?"}, content_type="application/json"
    )
    assert asked.status_code == 201 and asked.json()["question"] == "How was it used?"
    detail = signed_in(people["central"]).get(f"/api/v1/evidence/items/{provided.pk}").json()
    assert [q["id"] for q in detail["use_questions"]] == [asked.json()["id"]]
    outsider = signed_in(people["outsider"]).post(
        url, {"question": "How?"}, content_type="application/json"
    )
    assert outsider.status_code == 404

    item = received(request_)
    body = {
        "question_id": "6f1e2d3c-4b5a-4978-8c6d-5e4f3a2b1c0d",
        "item_id": str(item.pk),
        "sha256": item.sha256,
        "question": "证据在审判中如何使用？",
        "asked_by": "provider",
        "asked_at": "2026-12-01T10:00:00+00:00",
    }
    question = usage.receive_question(request_.peer.node_id, body)
    reader = people["author"]
    reader.language = "zh-hans"
    reader.save(update_fields=["language"])
    client = signed_in(reader)
    page = client.get(reverse("evidence:item", kwargs={"item_id": item.pk})).content.decode()
    assert "材料的使用情况" in page and "证据在审判中如何使用？" in page
    assert 'data-testid="answer-form"' in page and 'data-testid="ask-form"' not in page
    answer_url = reverse("evidence:answer-use", kwargs={"item_id": item.pk})
    done = client.post(answer_url, {"question": str(question.pk), "answer": "第4号证物。"})
    assert done.status_code == 302
    question.refresh_from_db()
    assert question.answer == "第4号证物。"
    page = client.get(reverse("evidence:item", kwargs={"item_id": item.pk})).content.decode()
    assert 'data-testid="use-answer"' in page and "第4号证物。" in page
    again = signed_in(people["author"]).post(
        f"/api/v1/evidence/items/{item.pk}/use-answers",
        {"question_id": str(question.pk), "answer": "Again"},
        content_type="application/json",
    )
    assert again.status_code == 409
    missing = client.post(answer_url, {"question": "not-a-uuid", "answer": "x"})
    assert missing.status_code == 404
