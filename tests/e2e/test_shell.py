"""The web shell in a real browser against a live node: sign-in, the role-aware
sidebar, and the interface language (English / 简体中文) that sticks to the user.

No ORM here (Playwright's loop would make Django refuse it): the nodes are
reached over HTTP only. Expected texts come from the message catalogue through
gettext, so an untranslated catalogue fails the Chinese tests."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from accord.core.roles import ROLE_PERMISSIONS, Role
from accord.web.navigation import AREAS
from tests.live import TEST_PASSWORD, LiveNode

pytestmark = [pytest.mark.browser, pytest.mark.live]

ZH = "zh-hans"


def in_chinese(text: str) -> str:
    """The catalogue's Simplified Chinese for `text`; must really be translated."""
    with translation.override(ZH):
        translated = gettext(text)
    assert translated != text, f"{text!r} is not translated to Simplified Chinese"
    return translated


def in_english(text) -> str:
    with translation.override("en"):
        return str(text)


def expected_areas(role: Role) -> set[str]:
    return {area.key for area in AREAS if area.permission in ROLE_PERMISSIONS[role]}


def cn_node(nodes: tuple[LiveNode, LiveNode]) -> LiveNode:
    node = nodes[0]
    assert node.node_id == "cn.test"
    return node


def sign_in(page: Page, node: LiveNode, username: str, password: str = TEST_PASSWORD) -> None:
    page.goto(node.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[data-testid=sign-in]")
    code = node.second_factor_code(username) if password == TEST_PASSWORD else None
    if code is not None:
        # The second step of the sign-in: a code from the authenticator.
        expect(page).to_have_url(re.compile(re.escape(node.url) + "/account/second-factor/verify/"))
        page.fill("#id_code", code)
        page.click("[data-testid=submit-code]")


def sign_in_to_dashboard(page: Page, node: LiveNode, role: Role) -> None:
    sign_in(page, node, role.value)
    expect(page).to_have_url(node.url + "/")
    expect(page.get_by_test_id("page-title")).to_be_visible()


def sign_out(page: Page, node: LiveNode) -> None:
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(re.escape(node.url) + r"/login/"))
    expect(page.get_by_test_id("whoami")).to_have_count(0)


def switch_to(page: Page, language: str) -> None:
    page.get_by_test_id(f"lang-{language}").click()
    expected_lang = "zh-Hans" if language == ZH else "en"
    expect(page.locator("html")).to_have_attribute("lang", expected_lang)
    page.wait_for_load_state("load")


def sidebar_areas(page: Page) -> set[str]:
    return set(
        page.locator("nav.sidebar [data-area]").evaluate_all("els => els.map(e => e.dataset.area)")
    )


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.NODE_ADMIN], ids=lambda r: r.value)
def test_each_role_sees_its_dashboard_and_only_its_areas(two_live_nodes, page, screenshot, role):
    node = cn_node(two_live_nodes)
    page.goto(node.url + "/")
    expect(page).to_have_url(re.compile(re.escape(node.url) + r"/login/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    screenshot(page, "login-en")

    sign_in_to_dashboard(page, node, role)
    expect(page.get_by_test_id("page-title")).to_have_text("Dashboard")
    whoami = page.get_by_test_id("whoami")
    expect(whoami).to_contain_text(role.value)  # no full name: the username shows
    expect(whoami.locator(".role")).to_have_text(in_english(role.label))
    expect(page.locator(".node-badge")).to_contain_text("cn.test")

    assert sidebar_areas(page) == expected_areas(role)
    users_link = page.locator("a[data-area=users]")
    if role is Role.NODE_ADMIN:
        expect(users_link).to_have_count(1)
        expect(page.locator("a[data-area=audit]")).to_have_count(1)
    else:
        expect(users_link).to_have_count(0)
        expect(page.locator("[data-area=audit]")).to_have_count(0)
    screenshot(page, f"dashboard-{role.value}-en")

    if role is Role.INVESTIGATOR:
        # Hiding the link is not the guard: the page itself must refuse.
        response = page.goto(node.url + "/admin/users/")
        assert response is not None
        assert response.status == 403, response.status
        expect(page.get_by_test_id("user-table")).to_have_count(0)
    else:
        users_link.click()
        expect(page).to_have_url(node.url + "/admin/users/")
        expect(page.get_by_test_id("user-table")).to_be_visible()
        screenshot(page, "users-node_admin-en")


def test_switching_to_simplified_chinese_translates_the_dashboard(two_live_nodes, page, screenshot):
    node = cn_node(two_live_nodes)
    role = Role.INVESTIGATOR
    title_zh = in_chinese("Dashboard")
    sign_in_to_dashboard(page, node, role)
    expect(page.get_by_test_id("page-title")).to_have_text("Dashboard")

    switch_to(page, ZH)
    expect(page).to_have_url(node.url + "/")
    expect(page.get_by_test_id("page-title")).to_have_text(title_zh)
    expect(page.get_by_test_id("lang-zh-hans")).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("whoami").locator(".role")).to_have_text(in_chinese("Investigator"))
    expect(page.locator("a[data-area=dashboard]")).to_have_text(title_zh)
    expect(page.get_by_test_id("logout")).to_have_text(in_chinese("Sign out"))
    screenshot(page, "dashboard-investigator-zh")

    switch_to(page, "en")
    expect(page.get_by_test_id("page-title")).to_have_text("Dashboard")


def test_language_choice_follows_the_user_not_the_browser(two_live_nodes, new_page, screenshot):
    node = cn_node(two_live_nodes)
    title_zh = in_chinese("Dashboard")

    first = new_page()
    sign_in_to_dashboard(first, node, Role.PROSECUTOR)
    switch_to(first, ZH)
    expect(first.get_by_test_id("page-title")).to_have_text(title_zh)
    sign_out(first, node)
    # This browser keeps the language cookie: its login page is in Chinese too.
    expect(first.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(first.get_by_test_id("sign-in")).to_have_text(in_chinese("Sign in"))
    screenshot(first, "login-zh")

    # A brand-new browser: no session, no language cookie.
    second = new_page()
    assert second.context.cookies() == []
    second.goto(node.url + "/login/")
    expect(second.locator("html")).to_have_attribute("lang", "en")
    sign_in_to_dashboard(second, node, Role.PROSECUTOR)
    expect(second.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(second.get_by_test_id("page-title")).to_have_text(title_zh)

    # Another person on the same node has chosen nothing: English.
    third = new_page()
    sign_in_to_dashboard(third, node, Role.CENTRAL_AUTHORITY)
    expect(third.locator("html")).to_have_attribute("lang", "en")
    expect(third.get_by_test_id("page-title")).to_have_text("Dashboard")

    # Switching back is remembered too.
    switch_to(second, "en")
    sign_out(second, node)
    fourth = new_page()
    sign_in_to_dashboard(fourth, node, Role.PROSECUTOR)
    expect(fourth.locator("html")).to_have_attribute("lang", "en")
    expect(fourth.get_by_test_id("page-title")).to_have_text("Dashboard")


def test_failed_sign_in_shows_an_error_and_stays_on_the_login_page(
    two_live_nodes, page, screenshot
):
    node = cn_node(two_live_nodes)
    sign_in(page, node, Role.INVESTIGATOR.value, "not-the-password-123")
    expect(page).to_have_url(re.compile(re.escape(node.url) + r"/login/"))
    error = page.locator(".form-errors[role=alert]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("password")
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    expect(page.locator("#id_username")).to_have_value(Role.INVESTIGATOR.value)
    expect(page.locator("#id_password")).to_have_value("")
    expect(page.get_by_test_id("whoami")).to_have_count(0)
    screenshot(page, "login-failed-en")

    # An unknown user gets the same message (no hint which part was wrong).
    message = error.inner_text()
    sign_in(page, node, "nobody-here", "not-the-password-123")
    expect(page.locator(".form-errors[role=alert]")).to_have_text(message)

    # And the right password still works afterwards.
    sign_in_to_dashboard(page, node, Role.INVESTIGATOR)


def test_node_admin_users_page_in_chinese(two_live_nodes, page, screenshot):
    node = cn_node(two_live_nodes)
    sign_in_to_dashboard(page, node, Role.NODE_ADMIN)
    switch_to(page, ZH)
    expect(page.get_by_test_id("page-title")).to_have_text(in_chinese("Dashboard"))
    screenshot(page, "dashboard-node_admin-zh")

    users_link = page.locator("a[data-area=users]")
    expect(users_link).to_have_text(in_chinese("Users"))
    users_link.click()
    expect(page).to_have_url(node.url + "/admin/users/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("main h1")).to_have_text(in_chinese("Users"))
    expect(users_link).to_have_attribute("aria-current", "page")
    table = page.get_by_test_id("user-table")
    # One row per role's user (the nodes are shared: other tests add users,
    # such as passkey-investigator-…, so the user name must match whole).
    usernames = table.locator("tbody tr > td:first-child")
    for role in Role:
        whole = re.compile(rf"^\s*{re.escape(role.value)}\s*$")
        expect(usernames.filter(has_text=whole)).to_have_count(1)
    expect(page.locator("main h2")).to_have_text(in_chinese("Add a user"))
    screenshot(page, "users-node_admin-zh")
