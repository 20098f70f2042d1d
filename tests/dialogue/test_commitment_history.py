"""A commitment's history only grows (docs/dialogue.md): a report here is
written on top of the history as it stands under the commitment's lock, and a
partner's message may add entries to the history this node holds, never drop
or change one. A refused message changes nothing; the inbox records the
refusal and its reason with the message (INBOX_REFUSE)."""

from __future__ import annotations

from typing import Any

import pytest

from accord.dialogue import services, wire
from accord.dialogue.fields import now_iso
from accord.dialogue.models import Commitment
from accord.dialogue.types import CommitmentStatus
from accord.federation import kinds
from tests.dialogue.conftest import Partner, Record, snapshot


def entry(partner: Partner, status: str, note: str = "") -> dict[str, Any]:
    return {"at": now_iso(), "node": partner.node, "status": status, "by": "Partner", "note": note}


def report(record: Record, status: str, history: list[dict[str, Any]]) -> wire.CommitmentBody:
    """The partner's report on the commitment it owes, carrying `history`."""
    return wire.commitment_body(record.they_owe).model_copy(
        update={
            "status": CommitmentStatus(status),
            "updated_at": now_iso(),
            "history": history,
        }
    )


@pytest.fixture
def reported(record: Record, partner: Partner) -> list[dict[str, Any]]:
    """The partner has reported once: the history here holds two entries."""
    partner.report(record.they_owe, "in_progress")
    record.they_owe.refresh_from_db()
    assert len(record.they_owe.history) == 2
    return list(record.they_owe.history)


def test_a_partner_report_that_appends_to_the_history_is_applied(record, partner, reported):
    partner.send(
        wire.COMMITMENT_KIND, report(record, "done", [*reported, entry(partner, "done", "All")])
    )

    item = Commitment.objects.get(pk=record.they_owe.pk)
    assert item.status == "done"
    assert item.history[:2] == reported
    assert item.history[2]["status"] == "done"


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda h, e: [h[0], e], id="drops-an-entry"),
        pytest.param(lambda h, e: [e], id="replaces-the-whole-history"),
        pytest.param(lambda h, e: [{**h[0], "status": "done"}, h[1], e], id="changes-an-entry"),
        pytest.param(lambda h, e: [h[1], h[0], e], id="reorders-entries"),
        pytest.param(lambda h, e: [h[0]], id="shortens-the-history"),
    ],
)
def test_a_partner_report_that_rewrites_the_history_is_refused(record, partner, reported, rewrite):
    before = snapshot()

    with pytest.raises(kinds.Refusal) as refused:
        partner.send(
            wire.COMMITMENT_KIND, report(record, "done", rewrite(reported, entry(partner, "done")))
        )

    assert refused.value.reason.startswith("history_rewritten:")
    assert snapshot() == before
    assert Commitment.objects.get(pk=record.they_owe.pk).history == reported


def test_a_partner_report_that_repeats_the_history_is_applied(record, partner, reported):
    """A resent report adds nothing and takes nothing away."""
    partner.send(wire.COMMITMENT_KIND, report(record, "in_progress", reported))

    assert Commitment.objects.get(pk=record.they_owe.pk).history == reported


def test_a_report_here_keeps_a_report_made_since_the_commitment_was_read(record, ca):
    """Two officers report from pages loaded at the same time: both reports stay."""
    first_page = Commitment.objects.get(pk=record.we_owe.pk)
    second_page = Commitment.objects.get(pk=record.we_owe.pk)

    services.set_commitment_status(ca, first_page, "in_progress", "Started")
    services.set_commitment_status(ca, second_page, "done", "Finished")

    history = Commitment.objects.get(pk=record.we_owe.pk).history
    assert [e["status"] for e in history] == ["open", "in_progress", "done"]
    assert second_page.history == history
