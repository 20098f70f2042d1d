"""Mutual-assistance requests in a real browser, in Chinese, across two live
nodes: drafted, validated and submitted on cn.test by three officers (each in
their own browser), then acknowledged, screened and accepted on us.test by its
central authority, and the acceptance seen back on cn.test. Also the form's
cross-field check, and the printable form and its PDF.

No ORM here (Playwright's loop would make Django refuse it). The translations
are still being completed, so assertions rest on data-testid, data-state and
the data typed in; a UI string is compared with its Chinese only where the
catalogue already has one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import SCREENSHOT_DIR
from tests.e2e.test_shell import ZH, sign_in, switch_to
from tests.live import LiveNode, ensure_peered

pytestmark = [pytest.mark.browser, pytest.mark.live]

DELIVERY_TIMEOUT_SECONDS = 60
PDF_TIMEOUT_MS = 90_000  # the node prints with its own Chromium (bounded at 60 s there)
REQUEST_URL = re.compile(r"/requests/([0-9a-f-]{36})/$")

SUMMARY = "电信诈骗团伙使用境外服务器（测试数据）"
PURPOSE = "查明涉案服务器及电话号码的注册用户身份，用于刑事诉讼。"
IDENTIFIERS = "ip 203.0.113.7 2026-10-01T10:00:00Z\nphone +8613800138000"


def chinese_if_translated(text: str) -> str | None:
    """The catalogue's Simplified Chinese for `text`, or None while untranslated."""
    with translation.override(ZH):
        translated = gettext(text)
    return translated if translated != text else None


def expect_chinese(locator: Locator, english: str) -> None:
    """The element shows the Chinese of `english` if the catalogue has it."""
    chinese = chinese_if_translated(english)
    if chinese is not None:
        expect(locator).to_have_text(chinese)


def expect_interface_in_chinese(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_test_id("lang-zh-hans")).to_have_attribute("aria-current", "true")


@pytest.fixture
def officer(new_page) -> Iterator[Callable[[LiveNode, str], Page]]:
    """officer(node, username): a browser of its own, signed in, in Chinese.
    The nodes are shared with other tests: every user is put back to English
    afterwards, even when the test fails."""
    signed_in: list[tuple[Page, LiveNode]] = []

    def make(node: LiveNode, username: str) -> Page:
        page = new_page()
        # Decisive buttons carry data-confirm: accept any confirmation asked.
        page.on("dialog", lambda dialog: dialog.accept())
        sign_in(page, node, username)
        expect(page).to_have_url(node.url + "/")
        signed_in.append((page, node))
        switch_to(page, ZH)
        expect_interface_in_chinese(page)
        return page

    yield make
    for page, node in signed_in:
        page.goto(node.url + "/")
        if page.locator("html").get_attribute("lang") != "en":
            switch_to(page, "en")


def unique_marker() -> str:
    return f"测试{time.time_ns()}"


def open_new_request_form(page: Page, node: LiveNode, request_type: str) -> Locator:
    page.click("a[data-area=requests]")
    expect(page).to_have_url(re.compile(re.escape(node.url) + r"/requests/$"))
    expect_chinese(page.get_by_test_id("page-title"), "Assistance requests")
    page.get_by_test_id("new-request").click()
    expect(page.get_by_test_id(f"type-{request_type}")).to_be_visible()
    expect_chinese(page.get_by_test_id("page-title"), "New request")
    page.get_by_test_id(f"type-{request_type}").click()
    form = page.get_by_test_id("request-form")
    expect(form).to_be_visible()
    expect(form.locator("input[name=request_type]")).to_have_value(request_type)
    return form


def fill_data_order(
    form: Locator,
    peer: str,
    marker: str,
    *,
    category: str = "subscriber",
    penalty: int = 10,
) -> None:
    """A data order, everything typed in Chinese; `marker` makes it findable."""
    form.locator("select[name=peer]").select_option(peer)
    form.locator("select[name=legal_basis]").select_option("bilateral")
    form.locator("[name=requesting_authority]").fill(f"上海市公安局网络安全保卫总队 {marker}")
    form.locator("[name=central_authority]").fill("中华人民共和国公安部")
    form.locator("[name=summary]").fill(f"{SUMMARY}\n案件编号：沪公网安〔2026〕17号")
    form.locator("[name=purpose]").fill(PURPOSE)
    form.locator("select[name=urgency]").select_option("standard")
    # The request's language follows the interface language by default.
    expect(form.locator("select[name=language]")).to_have_value(ZH)
    form.locator("[name=signer]").fill("张伟")
    form.locator("[name=offence_1_label]").fill("诈骗罪（电信网络诈骗）")
    form.locator("[name=offence_1_statute]").fill("《中华人民共和国刑法》第二百六十六条")
    form.locator("[name=offence_1_penalty]").fill(str(penalty))
    form.locator("select[name=offence_1_category]").select_option("fraud")
    form.locator("select[name=d_data_category]").select_option(category)
    form.locator("[name=d_identifiers]").fill(IDENTIFIERS)
    form.locator("[name=d_issuer]").fill("上海市人民检察院")
    form.locator("[name=d_issuer_is_judicial]").check()


def save_draft(page: Page, form: Locator) -> tuple[str, str]:
    """Saves the form; returns the new request's id and reference."""
    form.get_by_test_id("save-draft").click()
    expect(page).to_have_url(REQUEST_URL)
    match = REQUEST_URL.search(page.url)
    assert match is not None, page.url
    expect(page.get_by_test_id("request-state")).to_have_attribute("data-state", "draft")
    expect(page.locator(".message.success")).to_be_visible()
    reference = page.get_by_test_id("page-title").inner_text().strip()
    assert reference, "the detail page shows no reference"
    return match[1], reference


def take_step(page: Page, action: str, state: str) -> None:
    """Presses the step's button; the request then is in `state`."""
    form = page.get_by_test_id(f"step-{action}")
    expect(form).to_be_visible()
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("request-state")).to_have_attribute("data-state", state)
    expect(page.locator(".message.error")).to_have_count(0)


def open_from_list(page: Page, node: LiveNode, reference: str, direction: str = "") -> None:
    page.goto(f"{node.url}/requests/?direction={direction}&q={reference}")
    row = page.get_by_test_id("request-table").locator(f"tr[data-reference='{reference}']")
    expect(row).to_have_count(1)
    row.get_by_role("link", name=reference).click()
    expect(page.get_by_test_id("page-title")).to_have_text(reference)


def reload_until(page: Page, url: str, found: Callable[[], bool], what: str) -> None:
    """Reloads `url` until `found()`; bounded by DELIVERY_TIMEOUT_SECONDS."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while True:
        page.goto(url)
        if found():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {DELIVERY_TIMEOUT_SECONDS} s: {what}")
        time.sleep(0.5)


def test_a_request_drafted_and_submitted_on_cn_is_accepted_on_us_all_in_chinese(
    two_live_nodes, officer, screenshot
):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    marker = unique_marker()

    # The investigator drafts a data order on cn.test.
    investigator = officer(cn, "investigator")
    form = open_new_request_form(investigator, cn, "data_order")
    expect_interface_in_chinese(investigator)
    fill_data_order(form, us.node_id, marker)
    screenshot(investigator, "requests-form-filled-cn-zh")
    request_id, reference = save_draft(investigator, form)
    expect(investigator.get_by_test_id("edit-draft")).to_be_visible()
    facts = investigator.locator("dl.facts").first
    expect(facts).to_contain_text(SUMMARY)
    expect(facts).to_contain_text(PURPOSE)
    expect(investigator.get_by_test_id("offences")).to_contain_text("诈骗罪（电信网络诈骗）")
    screenshot(investigator, "requests-draft-cn-zh")
    take_step(investigator, "send_for_validation", "pending_validation")
    # A prosecutor validates it now: the investigator may neither send nor discard it.
    expect(investigator.get_by_test_id("step-send_for_validation")).to_have_count(0)
    expect(investigator.get_by_test_id("step-discard")).to_have_count(0)
    screenshot(investigator, "requests-pending-validation-cn-zh")

    # The prosecutor validates it.
    prosecutor = officer(cn, "prosecutor")
    open_from_list(prosecutor, cn, reference, "outgoing")
    expect(prosecutor.get_by_test_id("request-state")).to_have_attribute(
        "data-state", "pending_validation"
    )
    # Validating is the step offered first; returning it to the draft is folded away.
    expect(prosecutor.get_by_test_id("fold-return_to_draft")).to_be_visible()
    expect(prosecutor.get_by_test_id("step-return_to_draft")).not_to_be_visible()
    take_step(prosecutor, "validate", "validated")

    # The central authority of cn.test submits it to us.test.
    cn_authority = officer(cn, "central_authority")
    open_from_list(cn_authority, cn, reference, "outgoing")
    expect(cn_authority.get_by_test_id("request-state")).to_have_attribute(
        "data-state", "validated"
    )
    screenshot(cn_authority, "requests-validated-cn-zh")
    take_step(cn_authority, "submit", "submitted")
    screenshot(cn_authority, "requests-submitted-cn-zh")

    # On us.test the central authority finds it among the incoming requests.
    us_authority = officer(us, "central_authority")
    incoming = f"{us.url}/requests/?direction=incoming"
    row = us_authority.get_by_test_id("request-table").locator(f"tr[data-reference='{reference}']")
    reload_until(us_authority, incoming, lambda: row.count() > 0, f"{reference} to reach us.test")
    expect(us_authority.get_by_test_id("tab-incoming")).to_have_attribute("aria-current", "page")
    expect(row).to_contain_text(cn.node_id)
    screenshot(us_authority, "requests-incoming-us-zh")
    row.get_by_role("link", name=reference).click()
    expect(us_authority).to_have_url(f"{us.url}/requests/{request_id}/")
    expect(us_authority.get_by_test_id("request-state")).to_have_attribute(
        "data-state", "submitted"
    )
    # What cn.test's officers typed arrives intact, in Chinese.
    expect(us_authority.locator("dl.facts").first).to_contain_text(SUMMARY)
    expect(us_authority.locator("dd[lang=zh-hans]").first).to_contain_text(SUMMARY)
    expect(us_authority.get_by_test_id("offences")).to_contain_text("第二百六十六条")

    take_step(us_authority, "acknowledge", "received")
    take_step(us_authority, "start_screening", "screening")
    finding = us_authority.get_by_test_id("finding-form")
    expect(finding).to_be_visible()
    finding.locator("select[name=ground]").select_option("dual_criminality")
    finding.locator("select[name=applies]").select_option("yes")
    rationale = "诈骗行为在双方法律中均构成犯罪（测试数据）"
    finding.locator("textarea[name=rationale]").fill(rationale)
    finding.locator("button[type=submit]").click()
    expect(us_authority.locator(".message.success")).to_be_visible()
    expect(us_authority.get_by_test_id("screening")).to_contain_text(rationale)
    screenshot(us_authority, "requests-screening-us-zh")
    take_step(us_authority, "accept", "accepted")
    expect(us_authority.get_by_test_id("timeline").locator("li")).to_have_count(7)
    screenshot(us_authority, "requests-accepted-us-zh")

    # Back on cn.test, the acceptance arrives.
    state = cn_authority.get_by_test_id("request-state")
    reload_until(
        cn_authority,
        f"{cn.url}/requests/{request_id}/",
        lambda: state.get_attribute("data-state") == "accepted",
        f"{reference} to be accepted on cn.test",
    )
    expect(state).to_have_attribute("data-state", "accepted")
    expect_chinese(state, "Accepted")
    expect(cn_authority.get_by_test_id("timeline").locator("li")).to_have_count(7)
    expect_interface_in_chinese(cn_authority)
    screenshot(cn_authority, "requests-accepted-cn-zh")

    # The investigator who drafted it sees it accepted too.
    investigator.goto(f"{cn.url}/requests/?direction=outgoing&q={reference}")
    mine = investigator.get_by_test_id("request-table").locator(f"tr[data-reference='{reference}']")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text(us.node_id)
    expect_chinese(mine.get_by_test_id("state"), "Accepted")
    screenshot(investigator, "requests-list-cn-zh")


def test_traffic_data_for_a_minor_offence_is_refused_by_the_form_and_nothing_is_saved(
    two_live_nodes, officer, screenshot
):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    marker = unique_marker()
    investigator = officer(cn, "investigator")
    form = open_new_request_form(investigator, cn, "data_order")
    # Traffic data need an offence punishable by at least three years.
    fill_data_order(form, us.node_id, marker, category="traffic", penalty=1)
    form.get_by_test_id("save-draft").click()

    expect(investigator).to_have_url(re.compile(re.escape(cn.url) + r"/requests/new/"))
    errors = investigator.locator(".form-errors[role=alert]")
    expect(errors).to_be_visible()
    expect(errors.locator("p")).to_have_count(1)
    expect(errors).not_to_be_empty()
    expect_interface_in_chinese(investigator)
    # What was typed is kept, to be corrected.
    form = investigator.get_by_test_id("request-form")
    expect(form.locator("[name=summary]")).to_have_value(re.compile(re.escape(SUMMARY)))
    expect(form.locator("select[name=d_data_category]")).to_have_value("traffic")
    expect(form.locator("[name=offence_1_penalty]")).to_have_value("1")
    expect(form.locator("[name=d_identifiers]")).to_have_value(IDENTIFIERS)
    screenshot(investigator, "requests-form-error-cn-zh")

    investigator.goto(f"{cn.url}/requests/?q={marker}")
    table = investigator.get_by_test_id("request-table")
    expect(table.locator("tr[data-reference]")).to_have_count(0)

    # Corrected (the offence carries up to ten years), the draft is saved.
    form = open_new_request_form(investigator, cn, "data_order")
    fill_data_order(form, us.node_id, marker, category="traffic", penalty=10)
    save_draft(investigator, form)
    investigator.goto(f"{cn.url}/requests/?q={marker}")
    expect(table.locator("tr[data-reference]")).to_have_count(1)


def test_the_printable_form_and_its_pdf_are_in_chinese(two_live_nodes, officer, screenshot):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    investigator = officer(cn, "investigator")
    form = open_new_request_form(investigator, cn, "data_order")
    fill_data_order(form, us.node_id, unique_marker())
    request_id, reference = save_draft(investigator, form)

    print_url = f"{cn.url}/requests/{request_id}/print/?lang=zh-hans"
    expect(
        investigator.locator(f"a[href$='/requests/{request_id}/print/?lang=zh-hans']")
    ).to_be_visible()
    response = investigator.goto(print_url)
    assert response is not None and response.status == 200, response and response.status
    expect(investigator.locator("html")).to_have_attribute("lang", re.compile(r"^zh", re.I))
    sheet = investigator.get_by_test_id("print-form")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text(reference)
    expect(sheet).to_contain_text(SUMMARY)
    expect(sheet).to_contain_text("上海市人民检察院")
    expect(sheet).to_contain_text("203.0.113.7")
    expect_chinese(investigator.locator("h1"), "Request for mutual legal assistance")
    screenshot(investigator, "requests-print-cn-zh")

    pdf = investigator.request.get(
        f"{cn.url}/requests/{request_id}/pdf/?lang=zh-hans", timeout=PDF_TIMEOUT_MS
    )
    assert pdf.status == 200, f"{pdf.status}: {pdf.text()[:500]}"
    assert pdf.headers["content-type"] == "application/pdf", pdf.headers
    assert f"{reference}-zh-hans.pdf" in pdf.headers.get("content-disposition", "")
    body = pdf.body()
    assert body.startswith(b"%PDF-"), body[:20]
    assert len(body) > 5_000, len(body)
    # Chinese prints in an embedded CJK font, not as empty boxes.
    assert re.search(rb"/FontName\s*/[A-Z]{6}\+NotoSans(CJK|SC)", body), "no CJK font in the PDF"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    (SCREENSHOT_DIR / "requests-print-cn-zh.pdf").write_bytes(body)
