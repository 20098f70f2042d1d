"""Browser fixtures: one headless Chromium (the system's, driven by Playwright)
for the whole session, a fresh context and page per test, and a screenshot
helper.

Playwright's sync API runs an asyncio loop in the main thread, so Django's ORM
refuses to run in this process while it is up: browser tests must not use the
`db` fixture or the ORM, and talk to live nodes over HTTP only."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
DEFAULT_TIMEOUT_MS = 15_000
E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e drives a browser against live node servers."""
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """Package scope: the browser (and Playwright's event loop, which would make
    Django refuse ORM calls) is gone before any other test package runs."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium); "
            "it is missing. Playwright's own browser downloads are not used.",
            pytrace=False,
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[[], object]]:
    """Opens a page in a brand-new browser context (no cookies, no storage).
    Call it more than once for several independent browsers in one test."""
    contexts = []

    def make():
        context = browser.new_context(viewport=VIEWPORT, locale="en-US")
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(DEFAULT_TIMEOUT_MS)
        page.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A fresh context and page for this test."""
    return new_page()


@pytest.fixture
def officer_in(new_page) -> Iterator[Callable[[object, str, str], object]]:
    """officer_in(node, username, language): a browser of its own, signed in
    (second factor included), in that language ("en" or "zh-hans"), every
    confirmation a decisive button asks accepted. The nodes are shared with
    other tests: each user is put back to English afterwards, even on failure."""
    from playwright.sync_api import expect

    from tests.e2e.test_shell import sign_in, switch_to

    signed: list[tuple[object, object]] = []

    def html_lang(page) -> str:
        return page.locator("html").get_attribute("lang") or ""

    def make(node, username: str, language: str):
        page = new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        sign_in(page, node, username)
        expect(page).to_have_url(node.url + "/")
        signed.append((page, node))
        if html_lang(page).lower() != language:
            switch_to(page, language)
        return page

    yield make
    for page, node in signed:
        page.goto(node.url + "/")
        if html_lang(page) != "en":
            switch_to(page, "en")


@pytest.fixture
def screenshot() -> Callable[[object, str], Path]:
    """screenshot(page, name) saves a full-page PNG under test-artifacts/screenshots/."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
        path = SCREENSHOT_DIR / f"{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
