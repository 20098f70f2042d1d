"""Forms that keep the officer's work (issue 15): a refused draft or step shows
the page again with everything typed, each problem beside its field in the
user's language; dates are checked for sense; the refusal path explains the
consultation it needs and carries the grounds over; the page offers one
primary step and folds the rest away; an investigator cannot discard what a
prosecutor is validating. In one process, through HTTP and the services."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accord.assistance import services
from accord.assistance.models import AssistanceRequest
from accord.core import dates
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.arrivals import arrive, pinned_peer
from tests.assistance.flow import request_body

pytestmark = pytest.mark.django_db

RAW = ("String should", "List should", "Value error", "validation")


@pytest.fixture
def peer(db) -> Peer:
    return pinned_peer("us.forms")


def form(peer: Peer, **changes: str) -> dict[str, str]:
    data = {
        "request_type": "data_order",
        "peer": peer.node_id,
        "legal_basis": "bilateral",
        "requesting_authority": "Shanghai PSB",
        "central_authority": "MPS",
        "summary": "电信诈骗（测试）: the summary the officer typed",
        "purpose": "Identify",
        "urgency": "standard",
        "language": "en",
        "signer": "Zhang Wei",
        "offence_1_label": "Fraud",
        "offence_1_statute": "Art. 266",
        "offence_1_penalty": "10",
        "offence_1_category": "fraud",
        "d_data_category": "subscriber",
        "d_identifiers": "phone +86 138 0013 8000\n",
        "d_issuer": "Procuratorate",
    }
    data.update(changes)
    return data


def in_chinese(client: Client, user) -> Client:
    user.language = "zh-hans"
    user.save()
    client.force_login(user)
    return client


def errors_of(html: str, field: str, step: str = "") -> list[str]:
    """The error lines shown in the field's own box, after its control (in
    the form of `step`, if given: step forms share field names)."""
    if step:
        # A refusal that needs a consultation first is "step-refuse-consult-first".
        html = html[html.index(f'data-testid="step-{step}') :]
    start = html.find(f'name="{field}"')
    assert start >= 0, f"no field {field}"
    after = html[start:]
    ends = [i for i in (after.find('<div class="field'), after.find("</form>")) if i >= 0]
    return re.findall(r'<p class="error"[^>]*>(.*?)</p>', after[: min(ends)])


def test_a_too_long_purpose_is_named_beside_its_field_in_chinese_and_the_input_is_kept(users, peer):
    client = in_chinese(Client(), users[Role.INVESTIGATOR])
    response = client.post(reverse("assistance:create"), form(peer, purpose="x" * 10_001))
    assert response.status_code == 200
    html = response.content.decode()
    assert errors_of(html, "purpose") == ["最多写 10000 个字符。"]
    assert not any(raw in html for raw in RAW)
    assert "电信诈骗（测试）: the summary the officer typed" in html  # kept
    assert 'value="Shanghai PSB"' in html
    assert not AssistanceRequest.objects.exists()


def test_a_bad_identifier_line_is_named_beside_the_identifiers(client_for, peer):
    lines = "phone +86 138 0013 8000\nip 999.1.1.1 2026-10-01T10:00Z\n"
    response = client_for(Role.INVESTIGATOR).post(
        reverse("assistance:create"), form(peer, d_identifiers=lines)
    )
    html = response.content.decode()
    assert errors_of(html, "d_identifiers") == ["Line 2: Enter a valid value."]
    assert "ip 999.1.1.1 2026-10-01T10:00Z" in html
    assert not any(raw in html for raw in RAW)


def test_a_rule_of_the_type_is_named_beside_the_field_it_is_about(client_for, peer):
    response = client_for(Role.INVESTIGATOR).post(
        reverse("assistance:create"), form(peer, urgency="urgent")
    )
    assert errors_of(response.content.decode(), "urgency_reason") == [
        "Say why the request is urgent."
    ]


@pytest.mark.parametrize(
    ("deadline", "problem"),
    [
        ("1900-01-01", "has already passed"),
        ("yesterday", "has already passed"),
        ("in eleven years", "more than 10 years away"),
    ],
)
def test_a_desired_deadline_that_makes_no_sense_is_refused_on_the_page_and_by_the_service(
    users, client_for, peer, deadline, problem
):
    today = dates.today()
    day = {
        "yesterday": (today - timedelta(days=1)).isoformat(),
        "in eleven years": today.replace(year=today.year + 11, day=1).isoformat(),
    }.get(deadline, deadline)
    response = client_for(Role.INVESTIGATOR).post(
        reverse("assistance:create"), form(peer, desired_deadline=day)
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert problem in " ".join(errors_of(html, "desired_deadline"))
    assert f'value="{day}"' in html
    body = request_body("data_order", peer.node_id, desired_deadline=day)
    body.pop("peer")
    with pytest.raises(ValidationError, match=problem):
        services.create_request(Actor.of(users[Role.INVESTIGATOR]), peer, body)
    assert not AssistanceRequest.objects.exists()


def test_today_as_desired_deadline_is_accepted(client_for, peer):
    today = dates.today().isoformat()
    response = client_for(Role.INVESTIGATOR).post(
        reverse("assistance:create"), form(peer, desired_deadline=today)
    )
    assert response.status_code == 302
    assert AssistanceRequest.objects.get().desired_deadline.isoformat() == today


def test_the_api_refuses_a_past_desired_deadline(client_for, peer):
    body = request_body("data_order", peer.node_id, desired_deadline="1900-01-01")
    response = client_for(Role.INVESTIGATOR).post(
        "/api/v1/assistance/requests", body, content_type="application/json"
    )
    assert response.status_code == 422
    assert "1900-01-01" in str(response.json()["detail"])


# ---------------------------------------------------------------- steps


def screening(users, peer) -> AssistanceRequest:
    """A request received from the partner, in screening here."""
    request = arrive(users, peer, "data_order")
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    for step in ("acknowledge", "start_screening"):
        request.refresh_from_db()
        services.perform(officer, request, step, version=request.version)
    request.refresh_from_db()
    return request


def step(client: Client, request: AssistanceRequest, action: str, **fields: str):
    request.refresh_from_db()
    data = {"action": action, "version": str(request.version), **fields}
    return client.post(reverse("assistance:step", args=[request.pk]), data)


def test_the_page_offers_one_primary_step_and_folds_the_rest_away(users, client_for, peer):
    request = screening(users, peer)
    html = client_for(Role.CENTRAL_AUTHORITY).get(reverse("assistance:detail", args=[request.pk]))
    html = html.content.decode()
    folded = re.findall(r'<details data-testid="fold-(\w+)"', html)
    assert "consult" in folded and "legal_review" in folded
    # Refusing needs a consultation first: offered folded, last, and it says so.
    assert folded[-1] == "refuse"
    assert 'data-testid="consult-first"' in html
    shown = re.findall(r'data-testid="step-(\w+)(?:-consult-first)?"', html)
    assert len(shown) == len(folded) + 1  # one open, as the primary step
    assert [s for s in shown if s not in folded] == ["request_information"]


def test_a_refused_step_keeps_what_was_typed_and_names_the_problem_beside_it(
    users, client_for, peer
):
    request = screening(users, peer)
    officer = Actor.of(users[Role.CENTRAL_AUTHORITY])
    services.record_finding(officer, request, "dual_criminality", True, "Fraud in both laws")
    client = in_chinese(Client(), users[Role.CENTRAL_AUTHORITY])
    response = step(
        client, request, "accept_with_conditions", comment="我写的说明", c_1_kind="use_limit"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert errors_of(html, "c_1_text", "accept_with_conditions") == ["这个字段是必填项。"]
    assert "我写的说明" in html
    assert re.search(r'<details data-testid="fold-accept_with_conditions" open>', html)
    assert not any(raw in html for raw in RAW)
    request.refresh_from_db()
    assert request.state == "screening"


def test_the_refusal_path_goes_through_a_consultation_with_the_grounds_carried_over(
    users, client_for, peer
):
    request = screening(users, peer)
    client = client_for(Role.CENTRAL_AUTHORITY)
    rationale = "The conduct is not an offence in our law (test)"
    # No grounds: the refusal's form says which field is missing, nothing moves.
    empty = step(client, request, "refuse", then="consult").content.decode()
    assert errors_of(empty, "g_1_ground", "refuse") == ["This field is required."]
    # With grounds: the consultation's form opens with them.
    page = step(
        client,
        request,
        "refuse",
        then="consult",
        g_1_ground="no_dual_criminality",
        g_1_rationale=rationale,
    ).content.decode()
    assert 'data-testid="consult-carries-grounds"' in page
    assert rationale in page and "Budapest Art. 27(6)" in page
    comment = re.search(
        r'<textarea name="comment"[^>]*id="step-consult-comment">(.*?)</textarea>', page, re.S
    )
    assert comment and rationale in comment[1]
    request.refresh_from_db()
    assert request.state == "screening"  # nothing taken yet
    # The officer sends the consultation as offered.
    done = step(
        client,
        request,
        "consult",
        comment=comment[1].strip(),
        g_1_ground="no_dual_criminality",
        g_1_rationale=rationale,
    )
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.state == "consultation"
    # Back on the page, the refusal's form holds the grounds written before.
    html = client.get(reverse("assistance:detail", args=[request.pk])).content.decode()
    assert 'data-testid="consult-first"' not in html
    assert rationale in html
    assert '<option value="no_dual_criminality" selected>' in html
    refused = step(
        client, request, "refuse", g_1_ground="no_dual_criminality", g_1_rationale=rationale
    )
    assert refused.status_code == 302
    request.refresh_from_db()
    assert request.state == "refused"
    assert request.refusal_grounds == [{"ground": "no_dual_criminality", "rationale": rationale}]


# ---------------------------------------------------------------- discard


def test_an_investigator_cannot_discard_a_request_a_prosecutor_is_validating(
    users, client_for, peer
):
    body = request_body("data_order", peer.node_id)
    body.pop("peer")
    investigator = Actor.of(users[Role.INVESTIGATOR])
    request = services.create_request(investigator, peer, body)
    services.perform(investigator, request, "send_for_validation", version=1)
    request.refresh_from_db()
    page = client_for(Role.INVESTIGATOR).get(reverse("assistance:detail", args=[request.pk]))
    assert 'data-testid="step-discard"' not in page.content.decode()
    with pytest.raises(services.TransitionRefused) as refused:
        services.perform(
            investigator, request, "discard", {"comment": "changed my mind"}, version=2
        )
    assert refused.value.status == 409
    assert "prosecutor" in refused.value.message
    audited = AuditEvent.objects.filter(action=AuditAction.REQUEST_ACTION_REFUSED).last()
    assert audited.data["action"] == "discard"
    request.refresh_from_db()
    assert request.state == "pending_validation"
    # The prosecutor may still send it back to the draft; then the investigator may discard it.
    services.perform(
        Actor.of(users[Role.PROSECUTOR]), request, "return_to_draft", {"comment": "fix"}, version=2
    )
    request.refresh_from_db()
    services.perform(investigator, request, "discard", {"comment": "gone"}, version=3)
    request.refresh_from_db()
    assert request.state == "withdrawn"
