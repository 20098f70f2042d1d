"""Two live nodes peer by fingerprint and exchange signed notes over HTTP."""

from __future__ import annotations

import pytest

from tests.live import ensure_peered, signed_in, wait_until

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def peered(two_live_nodes):
    ensure_peered(*two_live_nodes)
    return two_live_nodes


def test_a_note_arrives_with_a_signed_receipt(peered):
    cn, us = peered
    with signed_in(cn, "investigator") as officer:
        sent = officer.post(
            "/api/v1/federation/notes",
            json={
                "peer": "us.test",
                "subject": "关于案件 A-17",
                "text": "请协助核查。",
                "language": "zh-hans",
            },
        )
        assert sent.status_code == 201, sent.text
        message_id = sent.json()["message_id"]

    with signed_in(us, "central_authority") as reader:

        def arrived():
            notes = reader.get("/api/v1/federation/notes").json()["items"]
            return [n for n in notes if n["message_id"] == message_id]

        note = wait_until(arrived, timeout=30, what="the note on us.test")[0]
    assert note["direction"] == "in" and note["subject"] == "关于案件 A-17"
    assert note["peer"] == "cn.test"

    with signed_in(cn, "node_admin") as admin:

        def receipted():
            # The shared nodes' outbox holds every earlier test's messages: ask
            # for this one by its id rather than page through them.
            answer = admin.get(f"/api/v1/federation/outbox/{message_id}")
            assert answer.status_code == 200, answer.text
            row = answer.json()
            return [row] if row["receipt"] else []

        row = wait_until(receipted, timeout=90, what="the receipt on cn.test")[0]
    assert row["status"] == "applied"
    assert row["receipt"]["recipient"] == "us.test" and row["receipt"]["sig"]
