"""Evidence in a real browser, in Chinese, across the two live nodes: an
investigator on cn.test drafts a request and attaches a court order through the
request page's form; it follows the submission to us.test as an evidence item
with cn's custody; once the request is in execution there, us's central
authority responds with the provider's production through the step form, and
the response's file goes back as an evidence item; on cn.test it arrives, the
request page lists it, and the investigator exports a court bundle with the
button, and `accord evidence verify`, run as a court would (a new process, no
node, no database), accepts it with both nodes' fingerprints.

The workflow steps between (validation, submission, screening) are not the
point here: they go through the API, as a user's own tools would. No ORM in
this process (Playwright's loop would make Django refuse it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accord.assistance.demo import Officer
from tests.e2e.test_requests import (
    PDF_TIMEOUT_MS,
    expect_chinese,
    expect_interface_in_chinese,
    fill_data_order,
    open_new_request_form,
    reload_until,
    save_draft,
    unique_marker,
)
from tests.e2e.test_shell import ZH, sign_in, switch_to
from tests.live import TEST_PASSWORD, LiveNode, ensure_peered, identity_of

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(autouse=True)
def live_codes(monkeypatch) -> None:
    """The demo's scripted officer (assistance.demo.Officer) types codes of the
    demo's secret; the live nodes' officers are enrolled with the tests' one."""
    from accord.core import democlient
    from tests.second_factor import LIVE_CODES

    monkeypatch.setattr(democlient, "DEMO_CODES", LIVE_CODES)


ITEM_URL = re.compile(r"/evidence/([0-9a-f-]{36})/$")
COURT_ORDER = (
    b"%PDF-1.4\n% synthetic test court order\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
)
PRODUCTION = "账号,注册人\nvoip-7731,测试人员（测试数据）\n".encode()


@pytest.fixture
def officer(new_page) -> Iterator[Callable[[LiveNode, str], Page]]:
    """officer(node, username): a browser of its own, signed in, in Chinese;
    put back to English afterwards (the nodes are shared), even on failure."""
    signed_in: list[tuple[Page, LiveNode]] = []

    def make(node: LiveNode, username: str) -> Page:
        page = new_page()
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


def add_evidence(page: Page, name: str, data: bytes, content_type: str, **fields: str) -> None:
    """Fills the request page's evidence form and adds the file; the page
    comes back with the item listed."""
    form = page.get_by_test_id("evidence-form")
    expect(form).to_be_visible()
    expect_chinese(form.get_by_test_id("evidence-add"), "Add evidence")
    form.get_by_test_id("evidence-file").set_input_files(
        {"name": name, "mimeType": content_type, "buffer": data}
    )
    for field, value in fields.items():
        form.locator(f"[name={field}]").fill(value)
    form.get_by_test_id("evidence-add").click()
    expect(page.locator(".message.error")).to_have_count(0)
    items = page.get_by_test_id("evidence-items")
    expect(items.get_by_test_id("evidence-item").filter(has_text=name)).to_have_count(1)


def api_steps(node: LiveNode, username: str, request_id: str, *actions: str) -> None:
    """Workflow steps by API, each once the request allows it (bounded waits)."""
    officer = Officer(node.url, username, TEST_PASSWORD)
    try:
        for action in actions:
            officer.step(request_id, action)
    finally:
        officer.client.close()


def verify_offline(bundle: Path, scratch: Path, *trust: str) -> subprocess.CompletedProcess:
    """`accord evidence verify` as a court runs it: a new process, an empty
    data directory and a database that is not there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "DJANGO_"))}
    env["ACCORD_DATA_DIR"] = str(scratch)
    env["ACCORD_DATABASE_URL"] = "postgres://nobody@127.0.0.1:9/none"
    args = [a for t in trust for a in ("--trust", t)]
    return subprocess.run(
        [sys.executable, "-m", "accord.cli", "evidence", "verify", str(bundle), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_court_order_goes_out_the_response_comes_back_and_the_bundle_verifies_in_chinese(
    two_live_nodes, officer, screenshot, tmp_path
):
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    marker = unique_marker()

    # cn.test: the investigator drafts a data order and attaches the court order.
    investigator = officer(cn, "investigator")
    form = open_new_request_form(investigator, cn, "data_order")
    fill_data_order(form, us.node_id, marker)
    request_id, reference = save_draft(investigator, form)
    request_url = f"{cn.url}/requests/{request_id}/"
    expect_chinese(investigator.get_by_test_id("evidence").locator("h2"), "Evidence")
    add_evidence(
        investigator,
        "调取证据令.pdf",
        COURT_ORDER,
        "application/pdf",
        description=f"上海市人民检察院调取证据令（测试数据）{marker}",
        how="法院令 Court order",
        by="张伟",
        legal_basis="《刑事诉讼法》第五十四条",
    )
    screenshot(investigator, "evidence-court-order-on-draft-cn-zh")

    # Validated and submitted on cn, screened and put in execution on us.
    api_steps(cn, "investigator", request_id, "send_for_validation")
    api_steps(cn, "prosecutor", request_id, "validate")
    api_steps(cn, "central_authority", request_id, "submit")
    screener = Officer(us.url, "central_authority", TEST_PASSWORD)
    try:
        screener.step(request_id, "acknowledge")
        screener.step(request_id, "start_screening")
        screener.finding(request_id, "dual_criminality", True, "Wire fraud, 18 U.S.C. § 1343.")
        screener.step(request_id, "accept")
        screener.step(request_id, "begin_execution")
    finally:
        screener.client.close()

    # us.test: the court order came with the request, as an evidence item with
    # cn's custody; the central authority responds with the provider's
    # production through the step form, and it goes back as evidence.
    central = officer(us, "central_authority")
    us_request_url = f"{us.url}/requests/{request_id}/"
    central.goto(us_request_url)
    expect(central.get_by_test_id("request-state")).to_have_attribute("data-state", "in_execution")
    order = central.get_by_test_id("evidence-item").filter(has_text="调取证据令.pdf")
    reload_until(central, us_request_url, lambda: order.count() == 1, "the court order on us")
    order.click()
    expect(central).to_have_url(ITEM_URL)
    expect(central.get_by_test_id("custody")).to_contain_text(cn.node_id)
    central.goto(us_request_url)
    respond = central.get_by_test_id("step-respond")
    respond.locator("[name=text]").fill(f"服务商已提供注册信息（测试数据）{marker}")
    respond.get_by_test_id("step-files").set_input_files(
        {"name": "subscribers.csv", "mimeType": "text/csv", "buffer": PRODUCTION}
    )
    respond.locator("button[type=submit]").click()
    expect(central.get_by_test_id("request-state")).to_have_attribute("data-state", "responded")
    expect(central.locator(".message.error")).to_have_count(0)
    production = central.get_by_test_id("evidence-item").filter(has_text="subscribers.csv")
    expect(production).to_have_count(1)
    production.click()
    expect(central).to_have_url(ITEM_URL)
    match = ITEM_URL.search(central.url)
    assert match is not None, central.url
    item_id = match[1]
    sent = central.get_by_test_id("transfers").locator(f"li[data-peer='{cn.node_id}']")
    reload_until(
        central,
        central.url,
        lambda: sent.get_attribute("data-status") == "done",
        "the receiver's receipt for the production",
    )
    expect(central.get_by_test_id("custody")).to_contain_text(cn.node_id)
    screenshot(central, "evidence-sent-us-zh")

    # cn.test: the production arrives on the request; both items go in a bundle.
    arrived = investigator.locator(f"tr[data-item='{item_id}']")
    reload_until(investigator, request_url, lambda: arrived.count() == 1, "the production")
    listed = investigator.get_by_test_id("response-file").locator(f"a[data-item='{item_id}']")
    expect(listed).to_have_text("subscribers.csv")
    expect(investigator.get_by_test_id("page-title")).to_have_text(reference)
    expect(investigator.locator("input[name=item]:checked")).to_have_count(2)
    investigator.get_by_test_id("export-purpose").fill(f"提交法院审理 {marker}")
    screenshot(investigator, "evidence-arrived-cn-zh")
    with investigator.expect_download(timeout=PDF_TIMEOUT_MS) as download:
        investigator.get_by_test_id("export").click()
    bundle = tmp_path / "court-bundle.zip"
    download.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    for data in (COURT_ORDER, PRODUCTION):
        assert f"files/{sha256(data).hexdigest()}" in names, names

    court = tmp_path / "court"
    court.mkdir()
    trust = [f"{n.node_id}={identity_of(n)['fingerprint']}" for n in (cn, us)]
    done = verify_offline(bundle, court, *trust)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK:"), done.stdout
    # Trusting only cn.test is not enough: us.test's custody records fail.
    partial = verify_offline(bundle, court, trust[0])
    assert partial.returncode == 1 and "BROKEN" in partial.stdout, partial.stdout
