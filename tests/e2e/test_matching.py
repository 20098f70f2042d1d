"""Hit/no-hit in a real browser, in Chinese, across two live nodes: us.test's
central authority lets cn.test ask about domains (on the /matching/ page);
an investigator on cn.test opens a case, asks us.test about its values, sees
the one us.test also holds come back as a hit, and turns it into a draft
assistance request with "Request details".

No ORM here (Playwright's loop would make Django refuse it): the cases are
set up through the nodes' API, everything else through the pages."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.e2e.test_requests import expect_interface_in_chinese, reload_until
from tests.e2e.test_shell import ZH, in_chinese, sign_in, switch_to
from tests.live import LiveNode, ensure_peered, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.live]

EDIT_URL = re.compile(r"/requests/([0-9a-f-]{36})/edit/$")


def case_with(node: LiveNode, username: str, title: str, values: list[str]) -> str:
    """A case on `node` opened by `username` holding the domains `values`; its id."""
    with signed_in(node, username) as client:
        created = client.post("/api/v1/cases", json={"title": title, "title_language": "zh-hans"})
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]
        for value in values:
            added = client.post(
                f"/api/v1/cases/{case_id}/observables", json={"type": "domain", "value": value}
            )
            assert added.status_code == 201, added.text
    return case_id


def let_ask_about_domains(page: Page, answerer: LiveNode, asker: LiveNode) -> None:
    """The answerer's central authority, on its /matching/ page, in Chinese."""
    page.goto(answerer.url + "/matching/")
    expect(page.get_by_test_id("page-title")).to_have_text(in_chinese("Hit/no-hit"))
    form = page.get_by_test_id(f"policy-form-{asker.node_id}")
    form.locator("input[name=types][value=domain]").check()
    form.locator("input[name=max_values]").fill("100")
    form.locator("input[name=per_day]").fill("1000")
    form.locator("input[name=needs_approval]").uncheck()
    form.locator("button[type=submit]").click()
    expect(page.locator(".message.success")).to_be_visible()
    row = page.get_by_test_id("policies").locator(f"tr[data-peer='{asker.node_id}']")
    expect(row).to_contain_text("domain")


def sign_in_in_chinese(page: Page, node: LiveNode, username: str) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, node, username)
    expect(page).to_have_url(node.url + "/")
    if page.locator("html").get_attribute("lang") != "zh-Hans":
        switch_to(page, ZH)
    expect_interface_in_chinese(page)


def back_to_english(page: Page, node: LiveNode) -> None:
    """The nodes are shared: leave the user in English, as other tests expect."""
    page.goto(node.url + "/")
    if page.locator("html").get_attribute("lang") != "en":
        switch_to(page, "en")


def test_an_investigator_asks_a_partner_in_chinese_and_drafts_a_request_from_the_hit(
    two_live_nodes, new_page, screenshot
):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    marker = str(time.time_ns())
    shared, own = f"pay-{marker}.example", f"only-cn-{marker}.example"
    case_with(us, "investigator", f"境外钓鱼网站 {marker}", [shared, f"only-us-{marker}.example"])
    case_id = case_with(cn, "investigator", f"电信诈骗钓鱼网站 {marker}", [shared, own])

    authority = new_page()
    sign_in_in_chinese(authority, us, "central_authority")
    investigator = new_page()
    sign_in_in_chinese(investigator, cn, "investigator")
    try:
        let_ask_about_domains(authority, us, cn)

        # The investigator opens the case and sees the hit/no-hit card in Chinese.
        case_url = f"{cn.url}/cases/{case_id}/"
        investigator.goto(case_url)
        card = investigator.get_by_test_id("matching")
        expect(card.locator("h2")).to_have_text(in_chinese("Hit/no-hit with partner nodes"))
        form = investigator.get_by_test_id("ask-form")
        expect(form.locator("input[name=observable]:checked")).to_have_count(2)
        form.get_by_test_id(f"ask-peer-{us.node_id}").check()
        form.get_by_test_id("ask-purpose").fill("核查涉案域名是否为对方已掌握的诈骗网站。")
        form.get_by_test_id("ask").click()
        expect(investigator.locator(".message.success")).to_have_text(
            in_chinese("Asked. The answers appear here when the partner nodes reply.")
        )
        queries = investigator.get_by_test_id("matching-queries")
        expect(queries.locator("tr[data-status]")).to_have_count(1)

        # The answer arrives: the shared value, and only it, is a hit.
        hits = investigator.get_by_test_id("matching-hits").locator("tr[data-testid=hit]")
        reload_until(investigator, case_url, lambda: hits.count() > 0, "the hit from us.test")
        expect(hits).to_have_count(1)
        expect(hits.first).to_have_attribute("data-normal", shared)
        expect(hits.first).to_have_attribute("data-peer", us.node_id)
        expect(queries.locator("tr[data-status=answered]")).to_have_count(1)
        screenshot(investigator, "matching-hit-cn-zh")

        # "Request details" drafts a data order to us.test, pre-filled from the hit.
        hits.first.get_by_test_id("request-details").click()
        expect(investigator).to_have_url(EDIT_URL)
        expect(investigator.locator(".message.success")).to_be_visible()
        form = investigator.get_by_test_id("request-form")
        expect(form.locator("select[name=peer]")).to_have_value(us.node_id)
        typed = form.locator("input, textarea").evaluate_all(
            "fields => fields.map(field => field.value).join('\\n')"
        )
        assert shared in typed, "the draft does not cite the matched value"
        assert own not in typed, "the draft cites a value that did not match"
        screenshot(investigator, "matching-draft-request-cn-zh")
    finally:
        for page, node in ((authority, us), (investigator, cn)):
            try:
                back_to_english(page, node)
            except PlaywrightError:
                pass
