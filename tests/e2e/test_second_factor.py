"""The second factor in a real browser (issue 14): a new central-authority
officer, created without one, is taken from the password to the setup page,
scans (here: reads) the secret, confirms a code, sees the recovery codes once,
and only then reaches the node; the next sign-in asks for a code, in Chinese
for a user who reads it. No ORM here (see conftest)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accord.core.democlient import OneTimeCodes
from tests.e2e.test_shell import ZH, cn_node, in_chinese, sign_out, switch_to
from tests.live import TEST_PASSWORD, LiveNode

pytestmark = [pytest.mark.browser, pytest.mark.live]
USERNAME = "officer-2fa"


def password_step(page: Page, node: LiveNode) -> None:
    page.goto(node.url + "/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("[data-testid=sign-in]")


def test_an_officer_sets_up_the_second_factor_at_first_sign_in(two_live_nodes, page, screenshot):
    node = cn_node(two_live_nodes)
    node.accord(
        "createuser",
        USERNAME,
        "--role",
        "central_authority",
        "--password-stdin",
        stdin=TEST_PASSWORD + "\n",
    )
    password_step(page, node)
    expect(page).to_have_url(re.compile(re.escape(node.url) + "/account/second-factor/enrol/"))
    expect(page.locator("nav.sidebar [data-area]")).to_have_count(0)
    expect(page.get_by_test_id("totp-qr").locator("svg")).to_be_visible()
    screenshot(page, "second-factor-enrol-en")
    codes = OneTimeCodes(page.get_by_test_id("totp-secret").inner_text())
    page.fill("#id_code", codes.next(node.url, USERNAME))
    page.click("[data-testid=submit-code]")
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("codes-done").click()
    expect(page).to_have_url(node.url + "/")
    expect(page.get_by_test_id("page-title")).to_be_visible()

    switch_to(page, ZH)
    sign_out(page, node)
    password_step(page, node)
    expect(page).to_have_url(re.compile(re.escape(node.url) + "/account/second-factor/verify/"))
    expect(page.locator("h1")).to_have_text(in_chinese("Second factor"))
    screenshot(page, "second-factor-verify-zh")
    page.fill("#id_code", codes.next(node.url, USERNAME))
    page.click("[data-testid=submit-code]")
    expect(page).to_have_url(node.url + "/")
    switch_to(page, "en")  # the nodes are shared: leave the user in English
