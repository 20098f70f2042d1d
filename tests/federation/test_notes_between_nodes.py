"""Two live nodes peer by fingerprint and exchange signed notes over HTTP."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from tests.assistance.flow import Officers, Pair
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


def test_a_threaded_reply_about_a_request_arrives_in_its_thread_on_the_other_node(peered):
    cn, us = peered
    with ExitStack() as stack:
        request_id, _view = Pair(Officers(stack, cn, us), cn, us).new("data_order")
        cn_officer = stack.enter_context(signed_in(cn, "investigator"))
        us_reader = stack.enter_context(signed_in(us, "central_authority"))
        subject = f"About {request_id[:8]}"
        first = cn_officer.post(
            "/api/v1/federation/notes",
            json={
                "peer": "us.test",
                "subject": subject,
                "text": "Has the provider answered?",
                "language": "en",
                "request": request_id,
            },
        )
        assert first.status_code == 201, first.text
        thread = first.json()["thread"]
        assert thread == first.json()["message_id"]  # a thread is named by its first note

        def on_us(client, wanted_thread):
            def found():
                answer = client.get("/api/v1/federation/notes", params={"thread": wanted_thread})
                assert answer.status_code == 200, answer.text
                return [n for n in answer.json()["items"] if n["direction"] == "in"]

            return found

        arrived = wait_until(on_us(us_reader, thread), timeout=60, what="the note on us.test")
        assert arrived[0]["request"] == request_id and arrived[0]["thread_subject"] == subject

        reply = us_reader.post(
            "/api/v1/federation/notes",
            json={
                "peer": "cn.test",
                "text": "Not yet; tomorrow.",
                "language": "en",
                "thread": thread,
            },
        )
        assert reply.status_code == 201, reply.text
        assert reply.json()["thread"] == thread and reply.json()["subject"] == subject

        back = wait_until(on_us(cn_officer, thread), timeout=60, what="the reply on cn.test")
        assert [n["text"] for n in back] == ["Not yet; tomorrow."]
        assert back[0]["request"] == request_id and back[0]["read"] is False
        # On cn.test the thread holds both notes, and its page links the request.
        page = cn_officer.get(f"/notes/{thread}/").text
        assert page.count('data-testid="thread-note"') == 2
        assert f'href="/requests/{request_id}/"' in page
