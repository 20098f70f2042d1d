"""The pages keep to their Content-Security-Policy (issue 14, finding 9): no
inline script or style, nothing from elsewhere. A browser reports every
violation as a `securitypolicyviolation` event and a console message; the
main pages of two roles, in English and in Chinese, must raise none.

No ORM here (Playwright's loop would make Django refuse it): HTTP only."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from accord.core.roles import Role
from tests.e2e.test_shell import cn_node, sign_in
from tests.live import LiveNode

pytestmark = [pytest.mark.browser, pytest.mark.live]

# Collects what the browser refuses, from before the page's own first byte runs.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} line ${e.lineNumber}`);
});
"""


def violations_on(page: Page, url: str, console: list[str]) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.status < 400, (url, response and response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy, (url, policy)
    page.wait_for_load_state("load")
    found = [f"{url}: {v}" for v in page.evaluate("window.__violations") + console]
    console.clear()
    return found


def main_pages(page: Page, node: LiveNode) -> list[str]:
    links = page.locator("nav.sidebar a[data-area]").evaluate_all("els => els.map(e => e.href)")
    return [node.url + "/", node.url + "/account/password/", *links]


@pytest.mark.parametrize(
    ("locale", "lang"), [("en-US", "en"), ("zh-CN", "zh-Hans")], ids=["en", "zh-hans"]
)
def test_main_pages_raise_no_policy_violation(two_live_nodes, browser: Browser, locale, lang):
    node = cn_node(two_live_nodes)
    found: list[str] = []
    for role in (Role.INVESTIGATOR, Role.NODE_ADMIN):
        # The browser's language, not the user's stored choice: the shared
        # users keep theirs for the other tests.
        context = browser.new_context(locale=locale)
        try:
            context.add_init_script(LISTEN)
            page = context.new_page()
            console: list[str] = []
            page.on(
                "console",
                lambda m, seen=console: (
                    seen.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            found += violations_on(page, node.url + "/login/", console)
            sign_in(page, node, role.value)
            expect(page).to_have_url(node.url + "/")
            expect(page.locator("html")).to_have_attribute("lang", lang)
            for url in main_pages(page, node):
                found += violations_on(page, url, console)
        finally:
            context.close()
    assert found == []
