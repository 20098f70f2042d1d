"""A commitment's due date is checked for sense when this node records it: a
date decades away is refused, one already past only when the user confirms
it (a commitment recorded late); it cannot be corrected afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accord.core import dates
from accord.core.audit import Actor
from accord.core.roles import Role
from accord.dialogue import services
from accord.dialogue.models import Commitment
from tests.dialogue.conftest import Record

pytestmark = pytest.mark.django_db


def commitment(r: Record, ca: Actor, due, **extra):
    data = {"title_en": "Train officers", "owner_node": r.here, "due_date": due, **extra}
    return services.create_commitment(ca, r.agreed, data)


@pytest.mark.parametrize("due", ["1900-01-01", "2206-01-01"])
def test_a_due_date_decades_away_is_refused_even_when_confirmed(record: Record, ca, due):
    before = Commitment.objects.count()
    with pytest.raises(ValidationError, match="years"):
        commitment(record, ca, due, confirm_past=True)
    assert Commitment.objects.count() == before


def test_a_past_due_date_needs_the_users_confirmation(record: Record, ca):
    yesterday = (dates.today() - timedelta(days=1)).isoformat()
    with pytest.raises(ValidationError, match="already passed"):
        commitment(record, ca, yesterday)
    assert commitment(record, ca, yesterday, confirm_past=True).due_date.isoformat() == yesterday


def test_today_and_the_coming_years_are_accepted(record: Record, ca):
    assert commitment(record, ca, dates.today()).due_date == dates.today()
    in_nine_years = dates.today().replace(year=dates.today().year + 9, day=1)
    assert commitment(record, ca, in_nine_years).due_date == in_nine_years


def test_the_api_refuses_a_past_due_date_unless_confirmed(record: Record, users):
    client = Client()
    client.force_login(users[Role.CENTRAL_AUTHORITY])
    path = f"/api/v1/dialogue/outcomes/{record.agreed.pk}/commitments"
    body = {"title_en": "Late", "owner_node": record.here, "due_date": "2020-06-30"}
    refused = client.post(path, body, content_type="application/json")
    assert refused.status_code == 422
    assert "2020-06-30" in str(refused.json()["detail"])
    body["confirm_past"] = True
    assert client.post(path, body, content_type="application/json").status_code == 201
