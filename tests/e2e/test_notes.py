"""Two officers on two live nodes exchange a signed note through the web UI,
in Chinese: written on cn.test, read on us.test."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.test_shell import in_chinese, sign_in, switch_to
from tests.live import ensure_peered

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_a_note_written_on_one_node_is_read_on_the_other(two_live_nodes, new_page, screenshot):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    subject = f"线索核查 {time.time_ns()}"

    writer = new_page()
    sign_in(writer, cn, "investigator")
    switch_to(writer, "zh-hans")
    writer.click("a[data-area=notes]")
    expect(writer.locator("h1")).to_have_text(in_chinese("Notes"))
    writer.select_option("#id_peer", "us.test")
    writer.fill("#id_subject", subject)
    writer.fill("#id_text", "请协助核查 IP 203.0.113.7 在 2026-11-01 的使用人信息。")
    writer.select_option("#id_language", "zh-hans")
    writer.click("[data-testid=send-note]")
    expect(writer.locator(".message.success")).to_be_visible()
    # Sending starts a conversation and opens it; the list shows it too.
    expect(writer.locator("[data-testid=thread-subject]")).to_have_text(subject)
    writer.goto(cn.url + "/notes/")
    sent_row = writer.locator("tr[data-direction=out]", has_text=subject)
    expect(sent_row).to_be_visible()

    reader = new_page()
    sign_in(reader, us, "central_authority")
    switch_to(reader, "zh-hans")
    deadline = time.monotonic() + 60
    received = reader.locator("tr[data-direction=in]", has_text=subject)
    while time.monotonic() < deadline:
        reader.goto(us.url + "/notes/")
        if received.count():
            break
        time.sleep(0.5)
    expect(received).to_be_visible()
    expect(received).to_contain_text("cn.test")
    expect(received).to_contain_text(in_chinese("signature verified"))
    screenshot(reader, "notes-received-us-zh")

    # The writer's page shows the delivery once the signed receipt is back.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        writer.reload()
        if writer.locator("tr[data-direction=out]", has_text=subject).locator(".pill.ok").count():
            break
        time.sleep(0.5)
    expect(sent_row.locator(".pill.ok")).to_have_text(in_chinese("delivered"))
    screenshot(writer, "notes-sent-cn-zh")
    # The nodes are shared with other tests: leave both users in English.
    switch_to(writer, "en")
    switch_to(reader, "en")


def test_the_federation_page_shows_the_channel_in_chinese(two_live_nodes, page, screenshot):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    sign_in(page, cn, "node_admin")
    switch_to(page, "zh-hans")
    page.click("a[data-area=federation]")
    expect(page.locator("h1")).to_have_text(in_chinese("Federation"))
    row = page.get_by_test_id("peer-table").locator("tr", has_text="us.test")
    expect(row).to_be_visible()
    expect(page.get_by_role("heading", name=in_chinese("Latest messages sent"))).to_be_visible()
    screenshot(page, "federation-cn-zh")
    switch_to(page, "en")
