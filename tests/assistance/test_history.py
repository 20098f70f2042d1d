"""The demo's synthetic past (issue 15): months of finished requests, the
same on both nodes, marked synthetic, enough for the charts to draw."""

from __future__ import annotations

import base64
import os
import re
from datetime import date

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse

from accord.assistance import history, metrics
from accord.assistance.models import FINAL_STATES, AssistanceRequest
from accord.core.identity import this_node
from accord.core.roles import Role
from accord.federation.models import Peer
from accord.web import waiting

pytestmark = pytest.mark.django_db
UNTIL = date(2026, 11, 30)


@pytest.fixture
def peer(db) -> Peer:
    key = base64.b64encode(os.urandom(32)).decode()
    return Peer.objects.create(
        node_id="yy.past",
        url="http://127.0.0.1:9/",
        party="Elsewhere",
        agency="Police",
        signing_key=key,
        encryption_key=key,
        fingerprint="0" * 64,
    )


def test_both_nodes_plan_the_same_past():
    assert history.plan(("aa.one", "bb.two"), UNTIL) == history.plan(("bb.two", "aa.one"), UNTIL)


def test_each_node_holds_the_same_replica_but_for_its_direction(peer):
    here = this_node().node_id
    for past in history.plan((here, peer.node_id), UNTIL)[:6]:
        mine = model_to_dict(history._replica(past, here, peer))
        theirs = model_to_dict(history._replica(past, peer.node_id, peer))
        assert mine.pop("outgoing") is not theirs.pop("outgoing")
        assert mine == theirs


def test_the_past_spans_months_is_finished_and_marked_synthetic(peer):
    added = history.load(this_node().node_id, peer, UNTIL)
    rows = AssistanceRequest.objects.all()
    assert added == rows.count() == 60
    assert all(r.synthetic and r.summary.startswith(history.MARK) for r in rows)
    assert all(r.state in FINAL_STATES for r in rows)
    months = {(r.submitted_at.year, r.submitted_at.month) for r in rows}
    assert len(months) >= 6
    assert {r.outgoing for r in rows} == {True, False}
    assert history.load(this_node().node_id, peer, UNTIL) == 0  # loading again adds nothing


def test_the_dashboard_draws_the_past_and_nothing_waits_because_of_it(peer, users, client_for):
    history.load(this_node().node_id, peer, UNTIL)
    data = metrics.compute(AssistanceRequest.objects.all(), this_node_now())
    assert data["overall"]["respond"]["count"] >= 40
    assert data["overall"]["acknowledge"]["median_hours"] > 1
    page = client_for(Role.CENTRAL_AUTHORITY).get(reverse("web:dashboard")).content.decode()
    assert 'data-testid="chart-stages"' in page
    assert "Includes 60 synthetic example requests" in page
    assert not re.search(r"(?<![\d.])0\.0 h", page)
    assert waiting.counts(users[Role.CENTRAL_AUTHORITY]) == {}


def this_node_now():
    from django.utils import timezone

    return timezone.now()
