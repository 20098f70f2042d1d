"""Aggregates never reveal a confidential request to anyone who may not see
it (issue 14, finding 10). Every role reads the dialogue's indicators (each
with its monthly series, by type and partner) and, where it works on
requests, the request metrics; a confidential request off the reader's team
must change neither answer. The request indicators leave confidential
requests out for everyone (docs/dialogue.md 6.2)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accord.core.roles import Role
from tests.assistance.stored import stored_request
from tests.objects import make_partner

pytestmark = pytest.mark.django_db

INDICATORS = "/api/v1/dialogue/indicators"
METRICS = "/api/v1/assistance/metrics"
# Those who may see every request on the node: the metrics count it for them.
NEED_TO_KNOW = (Role.CENTRAL_AUTHORITY, Role.AUDITOR)


def answered(peer, reference: str, **fields):
    now = timezone.now()
    return stored_request(
        peer,
        reference,
        request_type="locate_person",
        state="responded",
        offences=[{"label": "x", "statute": "-", "max_penalty_years": 5, "category": "fraud"}],
        created_at=now - timedelta(days=12),
        submitted_at=now - timedelta(days=10),
        received_at=now - timedelta(days=10),
        decided_at=now - timedelta(days=9),
        responded_at=now - timedelta(days=8),
        **fields,
    )


def readings(client) -> tuple:
    found = client.get(INDICATORS)
    assert found.status_code == 200
    metrics = client.get(METRICS)
    return found.json(), metrics.status_code, metrics.json()


@pytest.mark.parametrize("role", list(Role))
def test_a_confidential_request_moves_no_figure_for_a_reader_off_its_team(users, client_for, role):
    peer = make_partner()
    answered(peer, "AGG-PLAIN", created_by=users[Role.PROSECUTOR])
    client = client_for(role)
    before = readings(client)
    assert any(m["value"] for m in before[0]), "the plain request counts"
    answered(peer, "AGG-SECRET", confidential=True, confidentiality_reasons="Covert")
    after = readings(client)
    assert after[0] == before[0], "indicators"
    if role not in NEED_TO_KNOW:
        assert after[1:] == before[1:], "request metrics"
    else:
        assert after[2] != before[2], "the metrics count what the reader may see"
