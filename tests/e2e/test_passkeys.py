"""Passkeys in a real browser (issue 14): an officer adds a passkey on the
second-factor page, made by Chromium's virtual authenticator (a platform
authenticator with user verification, driven over the DevTools protocol), then
signs in with it in place of a code; the next officer, whose role requires a
second factor, sets up a passkey instead of an authenticator app at the first
sign-in, in Chinese. The pages' script is a static file: no page of the flow
breaks the Content-Security-Policy. No ORM here (see conftest).

WebAuthn refuses an IP address as the relying party, so the browser opens the
node at http://localhost:PORT (one of its default ACCORD_ALLOWED_HOSTS; the
relying party is the page's host unless ACCORD_WEBAUTHN_RP_ID says otherwise)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_content_security_policy import LISTEN
from tests.e2e.test_shell import ZH, cn_node, in_chinese, switch_to
from tests.live import TEST_PASSWORD, LiveNode

pytestmark = [pytest.mark.browser, pytest.mark.live]


def at_localhost(node: LiveNode) -> str:
    return node.url.replace("127.0.0.1", "localhost")


def with_authenticator(page: Page) -> None:
    """Chromium's virtual authenticator, for this page: it answers every
    WebAuthn call at once, the person verified (as a fingerprint would)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )


def watched(page: Page) -> list[str]:
    """Policy violations the page reports (see test_content_security_policy)."""
    console: list[str] = []
    page.context.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return console


def violations(page: Page, console: list[str]) -> list[str]:
    page.wait_for_load_state("load")
    return [*page.evaluate("window.__violations"), *console]


def new_officer(node: LiveNode, role: str) -> str:
    username = f"passkey-{role}-{uuid.uuid4().hex[:8]}"
    node.accord(
        "createuser", username, "--role", role, "--password-stdin", stdin=TEST_PASSWORD + "\n"
    )
    return username


def password_step(page: Page, base: str, username: str) -> None:
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("[data-testid=sign-in]")


def test_an_officer_adds_a_passkey_and_signs_in_with_it(two_live_nodes, page, screenshot):
    node = cn_node(two_live_nodes)
    base = at_localhost(node)
    username = new_officer(node, "investigator")
    console = watched(page)
    with_authenticator(page)
    password_step(page, base, username)
    expect(page).to_have_url(base + "/")

    page.goto(base + "/account/second-factor/")
    expect(page.get_by_test_id("passkey")).to_have_count(0)
    page.fill("#passkey-name", "virtual key")
    page.get_by_test_id("add-passkey").click()
    # The first second factor: recovery codes come with it, shown once.
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("codes-done").click()
    page.goto(base + "/account/second-factor/")
    expect(page.get_by_test_id("passkey")).to_have_count(1)
    expect(page.get_by_test_id("passkey")).to_contain_text("virtual key")
    expect(page.get_by_test_id("second-factor-status")).to_have_text(
        "A passkey protects your sign-in."
    )
    assert violations(page, console) == []
    screenshot(page, "passkeys-en")

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(re.escape(base) + "/login/"))
    password_step(page, base, username)
    expect(page).to_have_url(re.compile(re.escape(base) + "/account/second-factor/verify/"))
    assert violations(page, console) == []
    page.get_by_test_id("use-passkey").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_test_id("page-title")).to_be_visible()


def test_a_required_role_sets_up_a_passkey_at_first_sign_in_in_chinese(
    two_live_nodes, page, screenshot
):
    node = cn_node(two_live_nodes)
    base = at_localhost(node)
    username = new_officer(node, "central_authority")
    console = watched(page)
    with_authenticator(page)
    password_step(page, base, username)
    expect(page).to_have_url(re.compile(re.escape(base) + "/account/second-factor/enrol/"))
    switch_to(page, ZH)
    expect(page.get_by_test_id("add-passkey")).to_have_text(in_chinese("Add a passkey"))
    assert violations(page, console) == []
    screenshot(page, "passkeys-enrol-zh")
    page.get_by_test_id("add-passkey").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("codes-done").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_test_id("page-title")).to_be_visible()
    switch_to(page, "en")  # the nodes are shared: leave the user in English
