"""The rules of a request that need no partner, in process: what a request
must carry (`rules.parse_request`), the screening rules
(`rules.rule_problems`, `record_finding`), the deadlines, the turnaround
metrics, and how `accord requests` answers bad input."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from accord.assistance import deadlines, rules, services
from accord.assistance.metrics import compute, durations, percentile
from accord.assistance.models import (
    AssistanceRequest,
    RequestEvent,
    ScreeningFinding,
    State,
)
from accord.assistance.registry import basis_fits
from accord.assistance.rules import parse_request, rule_problems
from accord.assistance.types import LegalBasis, RequestType
from accord.core.audit import Actor
from accord.core.roles import Role
from accord.federation.models import Peer
from tests.assistance.flow import DETAILS, request_body
from tests.live import LiveNode, discard_node, make_node

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def body(request_type: str = "data_order", **overrides) -> dict:
    data = request_body(request_type, "us.test", **overrides)
    del data["peer"]
    return copy.deepcopy(data)


def data_order(category: str, years: int, judicial: bool = True) -> dict:
    details = {**DETAILS["data_order"], "data_category": category, "issuer_is_judicial": judicial}
    offence = {
        "label": "Fraud",
        "statute": "Art. 266",
        "max_penalty_years": years,
        "category": "fraud",
    }
    return body(details=details, offences=[offence])


def problems_of(data: dict) -> list[str]:
    return parse_request(data)[1]


# ---------------------------------------------------------------- what a request carries


@pytest.mark.parametrize("request_type", list(RequestType))
def test_the_sample_request_of_every_type_is_valid(request_type):
    content, problems = parse_request(body(request_type))
    assert problems == []
    assert content["request_type"] == request_type


@pytest.mark.parametrize("category", ["traffic", "content"])
def test_traffic_and_content_data_need_an_offence_of_three_years(category):
    assert any("at least 3 years" in p for p in problems_of(data_order(category, 2)))
    assert problems_of(data_order(category, 3)) == []


@pytest.mark.parametrize("category", ["traffic", "content"])
def test_traffic_and_content_data_need_a_judicial_issuer(category):
    assert any("judicial issuer" in p for p in problems_of(data_order(category, 10, False)))


@pytest.mark.parametrize("category", ["subscriber", "identification"])
def test_subscriber_data_needs_neither_a_serious_offence_nor_a_judge(category):
    assert problems_of(data_order(category, 1, judicial=False)) == []


@pytest.mark.parametrize("follows", [False, None])
def test_a_preservation_request_must_state_that_a_full_request_follows(follows):
    details = {**DETAILS["preservation"], "full_request_follows": follows}
    if follows is None:
        del details["full_request_follows"]
    [problem] = problems_of(body("preservation", details=details))
    assert problem.startswith("details.full_request_follows: ")


@pytest.mark.parametrize(
    ("basis", "request_type"),
    [
        (basis, request_type)
        for basis in LegalBasis
        for request_type in RequestType
        if not basis_fits(request_type, basis)
    ],
)
def test_a_legal_basis_named_after_an_article_fits_only_its_type(basis, request_type):
    problems = problems_of(body(request_type, legal_basis=basis))
    assert "This legal basis does not cover this type of request." in problems


@pytest.mark.parametrize("request_type", list(RequestType))
@pytest.mark.parametrize("basis", ["bilateral", "eio", "interpol"])
def test_a_general_legal_basis_fits_every_type(basis, request_type):
    assert problems_of(body(request_type, legal_basis=basis)) == []


@pytest.mark.parametrize("urgency", ["urgent", "emergency"])
def test_an_urgent_request_says_why(urgency):
    assert problems_of(body(urgency=urgency)) == ["Say why the request is urgent."]
    assert problems_of(body(urgency=urgency, urgency_reason="Life at risk")) == []


def test_a_confidential_request_says_why():
    assert problems_of(body(confidential=True)) == [
        "Say why the request must be kept confidential."
    ]
    assert problems_of(body(confidential=True, confidentiality_reasons="Covert operation")) == []


def identifiers(*items: dict) -> dict:
    return body(details={**DETAILS["data_order"], "identifiers": list(items)})


def test_an_ip_address_needs_the_time_it_was_seen():
    [problem] = problems_of(identifiers({"kind": "ip", "value": "203.0.113.7"}))
    assert problem.startswith("details.identifiers.0: ") and "observed_at" in problem


def test_an_ip_address_must_be_one_and_is_written_in_its_normal_form():
    assert problems_of(
        identifiers({"kind": "ip", "value": "203.0.113.300", "observed_at": "2026-10-01T10:00:00Z"})
    )
    content, problems = parse_request(
        identifiers(
            {"kind": "ip", "value": "2001:DB8:0:0::1", "observed_at": "2026-10-01T10:00:00Z"}
        )
    )
    assert problems == [] and content["details"]["identifiers"][0]["value"] == "2001:db8::1"


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+86 138 0013 8000", "+8613800138000"),
        ("+1 (202) 555-0143", "+12025550143"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_kept_in_e164(written, e164):
    content, problems = parse_request(identifiers({"kind": "phone", "value": written}))
    assert problems == [] and content["details"]["identifiers"][0]["value"] == e164


@pytest.mark.parametrize("written", ["138 0013 8000", "+86 12", "call me"])
def test_a_phone_number_without_country_code_or_digits_is_refused(written):
    [problem] = problems_of(identifiers({"kind": "phone", "value": written}))
    assert problem.startswith("details.identifiers.0: ")


def test_an_email_domain_is_lower_cased_but_not_its_mailbox():
    content, _ = parse_request(identifiers({"kind": "email", "value": "John.Doe@Example.ORG"}))
    assert content["details"]["identifiers"][0]["value"] == "John.Doe@example.org"


def test_unknown_fields_and_types_are_refused_naming_the_field():
    assert problems_of({**body(), "priority": "high"})[0].startswith("priority: ")
    assert problems_of({**body(), "request_type": "extradition"})[0].startswith("request_type: ")
    assert problems_of(body(details={**DETAILS["data_order"], "x": 1}))[0].startswith("details.x: ")


def test_a_request_needs_at_least_one_offence():
    assert problems_of(body(offences=[]))[0].startswith("offences: ")


# ---------------------------------------------------------------- screening rules


@pytest.fixture
def peer(db) -> Peer:
    return Peer.objects.create(
        node_id="cn.rules",
        url="http://127.0.0.1:9",
        party="China",
        agency="MPS",
        signing_key="s",
        encryption_key="e",
        fingerprint="f",
    )


def incoming(peer: Peer, request_type: str = "data_order", state: str = State.SCREENING):
    """A request received from the partner, as the requested node holds it."""
    content, problems = parse_request(body(request_type))
    assert problems == []
    request = AssistanceRequest(
        id=uuid.uuid4(),
        reference=f"CN.RULES-{uuid.uuid4().hex[:8]}",
        requesting_node="cn.rules",
        requested_node="xx.test",
        peer=peer,
        outgoing=False,
        state=state,
        version=6,
        created_at=MONDAY,
        submitted_at=MONDAY,
        received_at=MONDAY + HOUR,
        **rules.content_fields(content),
    )
    request.save(force_insert=True)
    return request


def find(request, ground: str, applies: bool) -> None:
    ScreeningFinding.objects.create(
        request=request, ground=ground, applies=applies, rationale="Considered"
    )


def consulted(request) -> None:
    RequestEvent.objects.create(
        request=request,
        version=request.version,
        action="consult",
        from_state=State.SCREENING,
        to_state=State.CONSULTATION,
        side="requested",
        actor_name="CA",
        actor_role="central_authority",
        at=MONDAY,
        payload={"comment": "Conditions?"},
    )


GROUNDS = {"grounds": [{"ground": "essential_interests", "rationale": "Security"}]}
DOMESTIC = {"grounds": [{"ground": "domestic_investigation", "rationale": "Own case"}]}


@pytest.mark.django_db
def test_a_refusal_needs_a_consultation_first(peer):
    request = incoming(peer)
    assert any(
        "consult the requester" in p for p in rule_problems(request, "refuse", GROUNDS, MONDAY)
    )
    consulted(request)
    assert rule_problems(request, "refuse", GROUNDS, MONDAY) == []


@pytest.mark.django_db
def test_a_domestic_investigation_postpones_but_never_refuses(peer):
    request = incoming(peer)
    consulted(request)
    assert rule_problems(request, "refuse", DOMESTIC, MONDAY)
    assert rule_problems(request, "postpone", DOMESTIC, MONDAY) == []
    assert rule_problems(request, "postpone", GROUNDS, MONDAY)


@pytest.mark.django_db
def test_dual_criminality_is_never_a_ground_to_refuse_preservation(peer):
    request = incoming(peer, "preservation")
    consulted(request)
    grounds = {"grounds": [{"ground": "no_dual_criminality", "rationale": "Not a crime here"}]}
    assert any("never a ground" in p for p in rule_problems(request, "refuse", grounds, MONDAY))


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["accept", "accept_with_conditions"])
def test_acceptance_follows_the_latest_dual_criminality_finding(peer, action):
    request = incoming(peer)
    assert rule_problems(request, action, {}, MONDAY)
    find(request, ScreeningFinding.DUAL_CRIMINALITY, True)
    assert rule_problems(request, action, {}, MONDAY) == []
    find(request, ScreeningFinding.DUAL_CRIMINALITY, False)  # reconsidered
    assert rule_problems(request, action, {}, MONDAY)


@pytest.mark.django_db
@pytest.mark.parametrize("request_type", ["preservation", "spontaneous"])
def test_preservation_and_spontaneous_information_need_no_dual_criminality(peer, request_type):
    assert rule_problems(incoming(peer, request_type), "accept", {}, MONDAY) == []


@pytest.mark.django_db
def test_a_person_is_located_only_after_the_political_neutrality_screen(peer):
    request = incoming(peer, "locate_person")
    find(request, ScreeningFinding.DUAL_CRIMINALITY, True)
    assert any("INTERPOL Art. 3" in p for p in rule_problems(request, "accept", {}, MONDAY))
    find(request, "interpol_art3", True)
    assert any("INTERPOL Art. 3" in p for p in rule_problems(request, "accept", {}, MONDAY))
    find(request, "interpol_art3", False)
    assert rule_problems(request, "accept", {}, MONDAY) == []


@pytest.mark.django_db
def test_a_ground_that_applies_allows_acceptance_only_with_conditions(peer):
    request = incoming(peer)
    find(request, ScreeningFinding.DUAL_CRIMINALITY, True)
    find(request, "essential_interests", True)
    assert any(
        "A screening ground applies" in p for p in rule_problems(request, "accept", {}, MONDAY)
    )
    assert rule_problems(request, "accept_with_conditions", {}, MONDAY) == []


@pytest.mark.parametrize(("days", "allowed"), [(30, False), (59, False), (60, True), (90, True)])
def test_a_preservation_hold_lasts_at_least_sixty_days(days, allowed):
    request = AssistanceRequest(request_type="preservation", state=State.ACCEPTED)
    payload = {"expires_at": (MONDAY + days * DAY).isoformat()}
    assert (rule_problems(request, "preserve", payload, MONDAY) == []) is allowed
    assert rule_problems(request, "preserve", {}, MONDAY) == []  # the node sets 60 days


@pytest.mark.django_db
def test_only_the_requested_central_authority_records_findings(peer, users):
    request = incoming(peer)
    ca = Actor.of(users[Role.CENTRAL_AUTHORITY])
    with pytest.raises(services.TransitionRefused) as refused:
        services.record_finding(Actor.of(users[Role.INVESTIGATOR]), request, "immunity", True, "No")
    assert refused.value.status == 403
    for ground, applies in (
        ("no_dual_criminality", True),
        ("not_a_ground", True),
        ("immunity", True),
    ):
        with pytest.raises(ValidationError):
            services.record_finding(
                ca, request, ground, applies, "" if ground == "immunity" else "Because"
            )
    finding = services.record_finding(ca, request, "immunity", False, "  No immunity  ")
    assert (finding.ground, finding.applies, finding.rationale) == (
        "immunity",
        False,
        "No immunity",
    )
    request.outgoing = True
    with pytest.raises(services.TransitionRefused) as refused:
        services.record_finding(ca, request, "immunity", False, "Ours")
    assert refused.value.status == 403


@pytest.mark.django_db
def test_dual_criminality_cannot_be_denied_where_it_is_not_required(peer, users):
    ca = Actor.of(users[Role.CENTRAL_AUTHORITY])
    with pytest.raises(ValidationError):
        services.record_finding(
            ca, incoming(peer, "preservation"), "dual_criminality", False, "Not an offence here"
        )


@pytest.mark.django_db
def test_screening_is_over_once_the_request_is_decided(peer, users):
    ca = Actor.of(users[Role.CENTRAL_AUTHORITY])
    with pytest.raises(services.TransitionRefused) as refused:
        services.record_finding(ca, incoming(peer, state=State.ACCEPTED), "immunity", True, "Late")
    assert refused.value.status == 409


# ---------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    ("start", "days", "end"),
    [
        (MONDAY, 1, MONDAY + DAY),  # Tuesday
        (MONDAY + 3 * DAY, 1, MONDAY + 4 * DAY),  # Thursday -> Friday
        (MONDAY + 4 * DAY, 1, MONDAY + 7 * DAY),  # Friday -> Monday
        (MONDAY + 4 * DAY, 2, MONDAY + 8 * DAY),  # Friday -> Tuesday
        (MONDAY + 5 * DAY, 1, MONDAY + 7 * DAY),  # Saturday -> Monday
        (MONDAY + 6 * DAY, 1, MONDAY + 7 * DAY),  # Sunday -> Monday
        (MONDAY, 5, MONDAY + 7 * DAY),  # a working week
        (MONDAY, 0, MONDAY),
    ],
)
def test_business_days_skip_the_weekend(start, days, end):
    assert deadlines.add_business_days(start, days) == end


@pytest.mark.parametrize(
    ("urgency", "submitted", "due"),
    [
        ("emergency", MONDAY + 4 * DAY, MONDAY + 4 * DAY + 8 * HOUR),  # hours, weekend or not
        ("urgent", MONDAY + 4 * DAY, MONDAY + 8 * DAY),  # Friday -> Tuesday
        ("standard", MONDAY + 4 * DAY, MONDAY + 8 * DAY),  # Friday -> Tuesday
        ("standard", MONDAY, MONDAY + 2 * DAY),
    ],
)
def test_acknowledgement_is_due_within_eight_hours_or_two_business_days(urgency, submitted, due):
    assert deadlines.acknowledge_due(submitted, urgency) == due


@pytest.mark.parametrize(
    ("request_type", "urgency", "decide", "respond"),
    [
        ("data_order", "emergency", 8 * HOUR, 8 * HOUR),
        ("data_order", "urgent", 10 * DAY, 10 * DAY),
        ("data_order", "standard", 10 * DAY, 10 * DAY),
        ("traffic_disclosure", "standard", 10 * DAY, 10 * DAY),
        ("stored_data", "standard", 10 * DAY, 10 * DAY),  # Art. 31: a data request too
        ("preservation", "emergency", 8 * HOUR, 8 * HOUR),
        ("preservation", "standard", 10 * DAY, 10 * DAY),
        ("locate_person", "emergency", 8 * HOUR, 8 * HOUR),
        ("locate_person", "urgent", 3 * DAY, 3 * DAY),
        ("identity_verification", "standard", 7 * DAY, 7 * DAY),
    ],
)
def test_decision_and_response_are_due_by_type_and_urgency(request_type, urgency, decide, respond):
    assert deadlines.decision_and_response_due(MONDAY, request_type, urgency) == (
        MONDAY + decide,
        MONDAY + respond,
    )


@pytest.mark.parametrize("urgency", ["emergency", "urgent", "standard"])
def test_evidence_is_decided_within_thirty_days_and_executed_ninety_after(urgency):
    assert deadlines.decision_and_response_due(MONDAY, "general_evidence", urgency) == (
        MONDAY + 30 * DAY,
        None,
    )
    assert deadlines.execution_due(MONDAY + DAY, "general_evidence", urgency) == (MONDAY + 91 * DAY)


@pytest.mark.parametrize("urgency", ["emergency", "urgent", "standard"])
def test_spontaneous_information_has_no_deadline_after_receipt(urgency):
    assert deadlines.decision_and_response_due(MONDAY, "spontaneous", urgency) == (None, None)


def timed(**fields) -> AssistanceRequest:
    """An unsaved request with its milestones (metrics and deadlines read no database)."""
    base = {
        "request_type": "data_order",
        "urgency": "standard",
        "outgoing": False,
        "state": State.SCREENING,
        "refusal_grounds": [],
    }
    return AssistanceRequest(**{**base, **fields})


def test_each_deadline_runs_from_its_milestone_until_it_is_met():
    request = timed(
        submitted_at=MONDAY,
        acknowledge_due=MONDAY + 2 * DAY,
        received_at=MONDAY + HOUR,
        decision_due=MONDAY + HOUR + 5 * DAY,
        response_due=MONDAY + HOUR + 10 * DAY,
    )
    found = {d.key: d for d in deadlines.deadlines_of(request)}
    assert list(found) == ["acknowledge", "decide", "respond"]
    acknowledge, decide = found["acknowledge"], found["decide"]
    assert acknowledge.met_at == MONDAY + HOUR and not acknowledge.overdue(MONDAY + 30 * DAY)
    later = MONDAY + HOUR + 4 * DAY
    assert decide.fraction_used(later) == pytest.approx(0.8)
    assert not decide.overdue(later) and decide.overdue(MONDAY + HOUR + 5 * DAY + HOUR)
    assert decide.time_left(later) == DAY
    assert found["respond"].owner == "requested"


def test_a_preservation_hold_is_the_requesters_deadline():
    request = timed(
        request_type="preservation",
        state=State.PRESERVED,
        submitted_at=MONDAY,
        received_at=MONDAY,
        responded_at=MONDAY + DAY,
        hold_expires=MONDAY + 61 * DAY,
    )
    [hold] = [d for d in deadlines.deadlines_of(request) if d.key == "hold"]
    assert (hold.owner, hold.starts_at, hold.due_at) == (
        "requesting",
        MONDAY + DAY,
        MONDAY + 61 * DAY,
    )


# ---------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.5, 7.0),
        ([7.0], 0.9, 7.0),
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.0),  # nearest rank: no interpolation
        ([4.0, 1.0, 3.0, 2.0], 0.9, 4.0),
        ([float(v) for v in range(1, 11)], 0.9, 9.0),
        ([float(v) for v in range(1, 11)], 0.5, 5.0),
        ([2.0, 1.0], 0.0, 1.0),
    ],
)
def test_percentiles_are_nearest_rank(values, fraction, expected):
    assert percentile(values, fraction) == expected


def test_durations_run_from_submission_to_receipt_then_from_receipt():
    request = timed(
        submitted_at=MONDAY,
        received_at=MONDAY + 2 * HOUR,
        decided_at=MONDAY + 26 * HOUR,
        responded_at=MONDAY + 50 * HOUR,
    )
    assert durations(request) == {"acknowledge": 2.0, "decide": 24.0, "respond": 48.0}
    assert durations(timed(submitted_at=MONDAY)) == {}


def test_metrics_count_turnaround_overdue_requests_and_refusals():
    now = MONDAY + 40 * DAY
    rows = [
        timed(state=State.DRAFT),  # not cooperation yet: left out
        timed(
            state=State.CLOSED,
            submitted_at=MONDAY,
            received_at=MONDAY + 2 * HOUR,
            decided_at=MONDAY + 26 * HOUR,
            responded_at=MONDAY + 50 * HOUR,
        ),
        timed(
            state=State.REFUSED,
            urgency="urgent",
            submitted_at=MONDAY,
            received_at=MONDAY + 4 * HOUR,
            decided_at=MONDAY + 14 * HOUR,
            decision_due=MONDAY,
            refusal_grounds=[
                {"ground": "essential_interests", "rationale": "a"},
                {"ground": "political_offence", "rationale": "b"},
            ],
        ),
        # Outgoing, still being decided long after its decision was due.
        timed(
            outgoing=True,
            request_type="general_evidence",
            submitted_at=MONDAY,
            received_at=MONDAY + HOUR,
            decision_due=MONDAY + HOUR + 30 * DAY,
        ),
        # Outgoing emergency preservation never acknowledged.
        timed(
            outgoing=True,
            request_type="preservation",
            urgency="emergency",
            state=State.SUBMITTED,
            submitted_at=MONDAY,
            acknowledge_due=MONDAY + HOUR,
        ),
    ]
    result = compute(rows, now)
    assert result["requests"] == 4
    assert result["overall"] == {
        "acknowledge": {"count": 3, "median_hours": 2.0, "p90_hours": 4.0},
        "decide": {"count": 2, "median_hours": 10.0, "p90_hours": 24.0},
        "respond": {"count": 1, "median_hours": 48.0, "p90_hours": 48.0},
    }
    assert result["by_direction"]["outgoing"]["acknowledge"]["count"] == 1
    assert result["by_direction"]["incoming"]["decide"]["count"] == 2
    by_type = {(row["direction"], row["type"]): row for row in result["by_type"]}
    assert set(by_type) == {("incoming", "data_order"), ("outgoing", "general_evidence")}
    assert by_type[("incoming", "data_order")]["respond"]["count"] == 1
    assert {(row["direction"], row["urgency"]) for row in result["by_urgency"]} == {
        ("incoming", "urgent"),
        ("incoming", "standard"),
        ("outgoing", "standard"),
    }
    # A refused request is final: its missed deadline no longer counts.
    assert result["overdue"] == {"incoming": 0, "outgoing": 2}
    assert (result["decided"], result["refused"], result["refusal_rate"]) == (2, 1, 0.5)
    assert result["refusals_by_ground"] == [
        {"ground": "political_offence", "count": 1, "rate": 0.5},
        {"ground": "essential_interests", "count": 1, "rate": 0.5},
    ]


def test_metrics_of_nothing_are_empty_not_an_error():
    result = compute([], MONDAY)
    assert result["requests"] == 0 and result["refusal_rate"] is None
    assert result["overall"]["decide"] == {"count": 0, "median_hours": None, "p90_hours": None}


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> LiveNode:
    """An initialised node (not serving) for the command line."""
    made = make_node(
        tmp_path_factory.mktemp("cli"), "cn.rules", "China", "Ministry of Public Security"
    )
    made.init()
    made.create_user("investigator", "investigator")
    yield made
    discard_node(made)


def assert_one_line_error(result, text: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr


@pytest.mark.live
@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["tick", "--at", "notatime"], "--at takes an ISO time"),
        (["tick", "--at", "2027-01-31T12:00:00"], "--at needs a time zone"),
        (["show", "CN.RULES-2026-9999"], "no request 'CN.RULES-2026-9999' on this node"),
        (["step", "CN.RULES-2026-9999", "accept", "--as", "nobody"], "no active user 'nobody'"),
        (["step", "CN.RULES-2026-9999", "accept", "--as", "investigator"], "no request"),
    ],
)
def test_bad_input_to_the_requests_command_gets_one_line_and_no_traceback(node, args, text):
    assert_one_line_error(node.accord("requests", *args, check=False), text)


@pytest.mark.live
@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (
            ["finding", "x", "immunity", "--applies", "maybe", "--rationale", "r", "--as", "a"],
            "invalid choice: 'maybe'",
        ),
        (["tick", "--at"], "expected one argument"),
    ],
)
def test_a_misused_requests_command_shows_its_usage_and_the_mistake(node, args, text):
    result = node.accord("requests", *args, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    usage, *_, mistake = result.stderr.strip().splitlines()
    assert usage.startswith("usage: accord requests") and text in mistake


@pytest.mark.live
@pytest.mark.parametrize(
    ("stdin", "text"),
    [
        ("not json", "-: not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"request_type": "data_order"}', 'name an active peer in "peer"'),
    ],
)
def test_a_request_file_that_is_not_a_request_gets_one_line(node, stdin, text):
    result = node.accord(
        "requests", "create", "-", "--as", "investigator", stdin=stdin, check=False
    )
    assert_one_line_error(result, text)


@pytest.mark.live
def test_the_clock_runs_at_a_given_time(node):
    result = node.accord("requests", "tick", "--at", "2027-01-31T12:00:00+00:00")
    assert result.stdout.strip() == "0 holds lapsed, 0 reminders sent, 0 follow-up requests drafted"
