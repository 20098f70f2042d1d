"""A liaison officer's working day (issue 15), in a real browser, once in
English and once in Simplified Chinese, on the two shared live nodes:

1. a request arrives from cn.test; us.test's central authority finds it in
   "Waiting for you" on the dashboard (and the count in the navigation),
   opens it from the entry and acts on it; the entry is gone, the count drops;
2. the request list: sorted by a column (the order changes), a second page,
   and the CSV export with the request's reference;
3. a refused form keeps its input: a new request with a desired deadline in
   the past shows the error beside that field, the summary typed still there;
4. the refusal path: refusing needs a consultation first (Budapest Art.
   27(6)); the page says so, the grounds written are carried into the
   consultation and back into the refusal, which then ends the request.

The steps worth showing are saved as the screenshots of docs/tour.md, under
docs/tour/ (at the browser's 1280 x 800 window), so the tour never goes stale.
The requests are made and sent on cn.test through the API, as the partner's
own tools would. No ORM in this process (Playwright's loop forbids it)."""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Locator, Page, expect

from tests.assistance.flow import act, get, request_body
from tests.e2e.conftest import REPO_ROOT
from tests.e2e.test_shell import ZH, in_chinese
from tests.live import LiveNode, ensure_peered, signed_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live]

TOUR_DIR = REPO_ROOT / "docs" / "tour"
DELIVERY_TIMEOUT_SECONDS = 60

SUMMARIES = {
    "en": "Phishing ring using rented servers (synthetic test data)",
    ZH: "电信诈骗团伙使用境外服务器（测试数据）",
}
RATIONALES = {
    "en": "Sending the phishing mails is not an offence in our law as described (test).",
    ZH: "所述行为在我方法律中不构成犯罪（测试数据）。",
}
# What the refusal's form says when the requester must be consulted first.
CONSULT_FIRST = (
    "Before refusing, you must offer the requester a consultation: could the request be "
    "granted in part, or under conditions (Budapest Art. 27(6))? Write the grounds you are "
    "considering; they are carried over into the consultation, and back into this form once "
    "it has been held."
)


def tr(language: str, text: str) -> str:
    """`text` as the interface shows it in `language`; Chinese must be translated."""
    return in_chinese(text) if language == ZH else text


def tour_shot(page: Page, language: str, name: str) -> Path:
    """A window-sized screenshot for docs/tour.md."""
    TOUR_DIR.mkdir(parents=True, exist_ok=True)
    path = TOUR_DIR / f"{language}-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def sent_from_cn(
    cn: LiveNode, us: LiveNode, summary: str, language: str, n: int
) -> list[tuple[str, str]]:
    """`n` data orders drafted, validated and submitted on cn.test through the
    API; their ids and references once each has arrived on us.test."""
    ids = []
    with ExitStack() as stack:

        def client(node: LiveNode, role: str) -> httpx.Client:
            return stack.enter_context(signed_in(node, role))

        investigator = client(cn, "investigator")
        prosecutor = client(cn, "prosecutor")
        authority = client(cn, "central_authority")
        receiver = client(us, "central_authority")
        for _ in range(n):
            body = request_body("data_order", us.node_id, summary=summary, language=language)
            made = investigator.post("/api/v1/assistance/requests", json=body)
            assert made.status_code == 201, made.text
            request_id = made.json()["id"]
            act(investigator, request_id, "send_for_validation")
            act(prosecutor, request_id, "validate")
            act(authority, request_id, "submit")
            ids.append(request_id)
        for request_id in ids:
            wait_until(
                lambda rid=request_id: (
                    receiver.get(f"/api/v1/assistance/requests/{rid}").status_code == 200
                ),
                timeout=DELIVERY_TIMEOUT_SECONDS,
                what=f"request {request_id} to reach us.test",
            )
        return [(request_id, get(receiver, request_id)["reference"]) for request_id in ids]


def nav_count(page: Page) -> int:
    return int(page.get_by_test_id("nav-waiting").get_attribute("data-count") or "0")


def take_step(page: Page, action: str, state: str) -> None:
    page.get_by_test_id(f"step-{action}").locator("button[type=submit]").click()
    expect(page.get_by_test_id("request-state")).to_have_attribute("data-state", state)
    expect(page.locator(".message.error")).to_have_count(0)


def references_shown(page: Page) -> list[str]:
    return (
        page.get_by_test_id("request-table")
        .locator("tr[data-reference]")
        .evaluate_all("rows => rows.map(r => r.dataset.reference)")
    )


def sort_by_reference(page: Page, direction: str) -> list[str]:
    page.get_by_test_id("sort-reference").click()
    header = page.locator("th", has=page.get_by_test_id("sort-reference"))
    expect(header).to_have_attribute("aria-sort", direction)
    return references_shown(page)


def field_box(form: Locator, name: str) -> Locator:
    return form.locator(".field", has=form.page.locator(f"[name={name}]"))


def open_fold(page: Page, action: str) -> Locator:
    fold = page.get_by_test_id(f"fold-{action}")
    if fold.get_attribute("open") is None:
        fold.locator("summary").click()
    return fold


@pytest.mark.parametrize("language", ["en", ZH])
def test_a_liaison_officers_day(two_live_nodes, officer_in, language):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    marker = f"day{time.time_ns()}"
    summary = f"{SUMMARIES[language]} {marker}"
    (first, reference), (second, other_reference) = sent_from_cn(cn, us, summary, language, 2)

    # 1. What waits for me: the new request, on the dashboard and in the navigation.
    authority = officer_in(us, "central_authority", language)
    authority.goto(us.url + "/")
    expect(authority.locator("#waiting-title")).to_contain_text(tr(language, "Waiting for you"))
    entry = authority.locator("[data-testid=waiting-entry][data-kind=new_request]").filter(
        has_text=reference
    )
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(tr(language, "New incoming request"))
    waiting = nav_count(authority)
    assert waiting >= 2, waiting  # both requests wait
    expect(authority.get_by_test_id("waiting-count")).to_have_text(str(waiting))
    entry.scroll_into_view_if_needed()
    tour_shot(authority, language, "1-waiting-for-you")

    entry.get_by_role("link", name=reference).click()
    expect(authority).to_have_url(f"{us.url}/requests/{first}/")
    expect(authority.get_by_test_id("page-title")).to_have_text(reference)
    take_step(authority, "acknowledge", "received")
    take_step(authority, "start_screening", "screening")
    expect(authority.get_by_test_id("request-state")).to_have_text(tr(language, "Screening"))

    authority.goto(us.url + "/")
    expect(entry).to_have_count(0)
    assert nav_count(authority) == waiting - 1, (nav_count(authority), waiting)
    expect(authority.get_by_test_id("waiting-count")).to_have_text(str(waiting - 1))

    # 2. The list: sorted by a column, a page at a time, exported to CSV.
    authority.goto(f"{us.url}/requests/?direction=incoming&q={marker}")
    expect(authority.get_by_test_id("page-title")).to_have_text(tr(language, "Assistance requests"))
    mine = sorted([reference, other_reference])
    ascending = sort_by_reference(authority, "ascending")
    assert ascending == mine, ascending
    descending = sort_by_reference(authority, "descending")
    assert descending == mine[::-1], descending
    row = authority.locator(f"tr[data-reference='{other_reference}']")
    expect(row.get_by_test_id("state")).to_have_text(tr(language, "Submitted"))
    tour_shot(authority, language, "2-request-list")

    authority.goto(f"{us.url}/requests/?direction=incoming&q={marker}&sort=reference&per_page=1")
    assert references_shown(authority) == mine[:1]
    authority.get_by_test_id("page-next").click()
    expect(authority.get_by_test_id("pagination").locator("[aria-current=page]")).to_have_text("2")
    assert references_shown(authority) == mine[1:]
    export = authority.get_by_test_id("export-csv")
    expect(export).to_have_text(tr(language, "Export CSV"))
    with authority.expect_download() as download:
        export.click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    header = csv_text.splitlines()[0]
    assert tr(language, "Reference") in header, header
    assert reference in csv_text and other_reference in csv_text, csv_text  # every page

    # 3. A refused form keeps what was typed and says why beside the field.
    investigator = officer_in(us, "investigator", language)
    investigator.goto(f"{us.url}/requests/new/?type=data_order")
    expect(investigator.get_by_test_id("page-title")).to_have_text(tr(language, "New request"))
    form = investigator.get_by_test_id("request-form")
    typed = f"{SUMMARIES[language]} (draft {marker})"
    past = (date.today() - timedelta(days=3)).isoformat()
    form.locator("select[name=peer]").select_option(cn.node_id)
    form.locator("select[name=legal_basis]").select_option("bilateral")
    form.locator("[name=requesting_authority]").fill("FBI Cyber Division")
    form.locator("[name=central_authority]").fill("Office of International Affairs")
    form.locator("[name=summary]").fill(typed)
    form.locator("[name=purpose]").fill("Identify the subscriber")
    form.locator("select[name=urgency]").select_option("standard")
    form.locator("[name=desired_deadline]").fill(past)
    form.locator("[name=signer]").fill("Jane Roe")
    form.locator("[name=offence_1_label]").fill("Wire fraud")
    form.locator("[name=offence_1_statute]").fill("18 U.S.C. § 1343")
    form.locator("[name=offence_1_penalty]").fill("20")
    form.locator("select[name=offence_1_category]").select_option("fraud")
    form.locator("select[name=d_data_category]").select_option("subscriber")
    form.locator("[name=d_identifiers]").fill("ip 198.51.100.20 2026-10-01T10:00:00Z")
    form.locator("[name=d_issuer]").fill("U.S. District Court")
    form.get_by_test_id("save-draft").click()

    expect(investigator).to_have_url(re.compile(re.escape(us.url) + r"/requests/new/"))
    form = investigator.get_by_test_id("request-form")
    expect(form.locator(".field.has-error")).to_have_count(1)
    beside = field_box(form, "desired_deadline")
    message = tr(language, "The date %(day)s has already passed: give today or a later date.")
    expect(beside.locator("p.error")).to_have_text(message % {"day": past})
    expect(form.locator("[name=summary]")).to_have_value(typed)
    expect(form.locator("[name=desired_deadline]")).to_have_value(past)
    expect(form.locator("[name=d_issuer]")).to_have_value("U.S. District Court")
    beside.scroll_into_view_if_needed()
    investigator.evaluate("window.scrollBy(0, -250)")  # the summary above it in view too
    tour_shot(investigator, language, "3-form-keeps-input")

    # 4. The refusal path: consult first, the grounds carried over and back.
    authority.goto(f"{us.url}/requests/{first}/")
    fold = open_fold(authority, "refuse")
    refusal = fold.get_by_test_id("step-refuse-consult-first")
    expect(refusal).to_be_visible()
    expect(refusal.get_by_test_id("consult-first")).to_have_text(tr(language, CONSULT_FIRST))
    button = refusal.get_by_test_id("consult-first-button")
    expect(button).to_have_text(tr(language, "Consult the requester first"))
    rationale = RATIONALES[language]
    refusal.locator("#step-refuse-g_1_ground").select_option("no_dual_criminality")
    refusal.locator("#step-refuse-g_1_rationale").fill(rationale)
    fold.scroll_into_view_if_needed()
    tour_shot(authority, language, "4-refusal-needs-consultation")

    button.click()
    consult = authority.get_by_test_id("step-consult")
    expect(consult).to_be_visible()
    expect(consult.get_by_test_id("consult-carries-grounds")).to_be_visible()
    comment = consult.locator("#step-consult-comment")
    expect(comment).to_have_value(re.compile(re.escape(rationale)))
    expect(authority.get_by_test_id("request-state")).to_have_attribute("data-state", "screening")
    consult.scroll_into_view_if_needed()
    tour_shot(authority, language, "5-consultation-with-grounds")
    take_step(authority, "consult", "consultation")
    expect(authority.get_by_test_id("request-state")).to_have_text(tr(language, "Consultation"))

    fold = open_fold(authority, "refuse")
    expect(fold.get_by_test_id("consult-first")).to_have_count(0)
    refuse = fold.get_by_test_id("step-refuse")
    expect(refuse.locator("#step-refuse-g_1_ground")).to_have_value("no_dual_criminality")
    expect(refuse.locator("#step-refuse-g_1_rationale")).to_have_value(rationale)
    take_step(authority, "refuse", "refused")
    expect(authority.get_by_test_id("request-state")).to_have_text(tr(language, "Refused"))
    expect(authority.locator("body")).to_contain_text(rationale)
    with translation.override(language):
        done = gettext("Done: the request is now %(state)s.") % {"state": gettext("Refused")}
    expect(authority.locator(".message.success")).to_contain_text(done)
    tour_shot(authority, language, "6-refused")

    # The partner's node records the refusal too.
    with signed_in(cn, "central_authority") as requester:
        wait_until(
            lambda: get(requester, first)["state"] == "refused",
            timeout=DELIVERY_TIMEOUT_SECONDS,
            what="the refusal to reach cn.test",
        )
    # The nodes are shared: the other request is screened too, and waits for no one.
    with signed_in(us, "central_authority") as receiver:
        act(receiver, second, "acknowledge")
        act(receiver, second, "start_screening")
