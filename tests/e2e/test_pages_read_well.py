"""Pages that read well (issue 15), in English and in Simplified Chinese: every
main page walked once per language by the officers who see it, and on each

- at 1366 pixels nothing is clipped: the page is no wider than the window,
  no table scrolls inside its box, no selector is too narrow for the choice it
  shows;
- at a 390-pixel phone nothing falls off the screen: the document is no wider
  than the viewport (wide tables scroll inside their own box), and a full-page
  screenshot is saved under test-artifacts/screenshots/phone-*.png;
- axe-core (axe-playwright-python) finds no serious or critical violation
  (run on the phone, where a page is at its most crowded: the colours are the
  same at both widths, and at 1366 pixels no table box scrolls).

The main pages are every area in the sidebar of an investigator, a node
administrator and a central-authority officer, the login page, the forms and
account pages, and the detail pages of what is made here: a draft request
(and its print in both languages), a case, an import into it, an evidence
item of it (with its custody timeline), an intelligence object (imported with
the CLI), a federation message, and a dialogue with its round and the round's
fact sheet. The shared live nodes serve them; no node
is started here."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.assistance.flow import request_body
from tests.e2e.test_shell import ZH, in_chinese, sign_in, switch_to
from tests.live import LiveNode, ensure_peered, signed_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live]

DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
SEVERE = {"serious", "critical"}

# Who walks which pages: the sidebar's areas of each role, and these besides.
WALKERS: dict[str, list[str]] = {
    "investigator": [
        "/requests/new/",
        "/requests/new/?type=data_order",
        "/requests/{request}/",
        "/cases/new/",
        "/cases/{case}/",
        "/account/password/",
        "/account/second-factor/",
        "/intel/objects/{intel_object}/",
        "/evidence/{evidence}/",
        "/cases/{case}/imports/{import_job}/",
        "/requests/{request}/print/?lang=en",
        "/requests/{request}/print/?lang=zh-hans",
    ],
    "node_admin": ["/federation/messages/{message}/"],
    "central_authority": [
        "/dialogue/{dialogue}/",
        "/dialogue/rounds/{round}/",
        "/dialogue/rounds/{round}/fact-sheet/",
    ],
}
# Pages that differ by role, walked by each of the officers above; every other
# page once per language.
BY_ROLE = {"/", "/dialogue/", "/matching/"}

# The document's width against the viewport's (horizontal overflow).
DOCUMENT_WIDTH = """() => {
  const root = document.documentElement;
  // The innermost elements that reach past the right edge, to name the culprit.
  const past = [...document.body.querySelectorAll('*')].filter(el =>
    el.getBoundingClientRect().right > root.clientWidth + 1
    && !(el.parentElement && el.parentElement.closest('.table-wrap'))
    && ![...el.children].some(child =>
      child.getBoundingClientRect().right > root.clientWidth + 1));
  const describe = el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
    + ` "${(el.textContent || '').trim().slice(0, 40)}"`;
  return {scroll: root.scrollWidth, client: root.clientWidth,
          past: past.slice(0, 3).map(describe)};
}"""

# What is cut off at desktop width: a table box that scrolls (on the pages
# whose tables must fit), a selector narrower than the choice it shows
# (measured in the selector's own font, with room for its arrow).
CLIPPED = """(tablesMustFit) => {
  const name = el => el.tagName.toLowerCase() + (el.dataset.testid ? `[${el.dataset.testid}]` : '')
    + (el.querySelector('h2') ? ` "${el.querySelector('h2').textContent.trim()}"` : '');
  const found = [];
  for (const box of tablesMustFit ? document.querySelectorAll('.table-wrap') : []) {
    if (box.scrollWidth > box.clientWidth + 1) {
      found.push(`${name(box)} scrolls: ${box.scrollWidth}px in ${box.clientWidth}px`);
    }
  }
  const ruler = document.createElement('canvas').getContext('2d');
  for (const select of document.querySelectorAll('main select')) {
    const option = select.options[select.selectedIndex];
    if (!option) continue;
    const style = getComputedStyle(select);
    ruler.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = select.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight) - 16;
    if (ruler.measureText(option.text).width > room) {
      found.push(`select ${select.name} too narrow for "${option.text}"`);
    }
  }
  return found;
}"""


@pytest.fixture(scope="module")
def examples(two_live_nodes, tmp_path_factory) -> dict[str, str]:
    """What the detail pages walked show, made on cn.test: a draft request, a
    case with an import and an evidence item, an intelligence object and a
    federation message."""
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    with signed_in(cn, "investigator") as officer:
        made = officer.post(
            "/api/v1/assistance/requests", json=request_body("data_order", us.node_id)
        )
        assert made.status_code == 201, made.text
        case = officer.post(
            "/api/v1/cases", json={"title": "Phishing ring (synthetic)", "title_language": "en"}
        )
        assert case.status_code == 201, case.text
        case_id = case.json()["id"]
        job = officer.post(
            f"/api/v1/cases/{case_id}/imports/csv",
            json={"text": "domain,phish-pages.example\nipv4,not-an-address"},
        )
        assert job.status_code in (201, 202), job.text
        item = officer.post(
            f"/api/v1/evidence/cases/{case_id}/items",
            data={"description": "Seized phishing kit (synthetic)", "how": "seizure"},
            files={"file": ("kit.zip", b"PK synthetic kit " * 64, "application/zip")},
        )
        assert item.status_code == 201, item.text
        # Viewed and downloaded: the custody timeline has more than one record.
        assert officer.get(f"/api/v1/evidence/items/{item.json()['id']}/content").is_success
        intel_object = imported_object(cn, officer, tmp_path_factory.mktemp("stix"))
        note = officer.post(
            "/api/v1/federation/notes",
            json={
                "peer": us.node_id,
                "subject": "Phishing kit",
                "text": "Seen on your side?",
                "language": "en",
            },
        )
        assert note.status_code == 201, note.text
        message = note.json()["message_id"]
    with signed_in(cn, "node_admin") as admin:
        # Delivered: its page shows the partner's signed receipt too.
        wait_until(
            lambda: admin.get(f"/api/v1/federation/outbox/{message}").json()["status"] == "applied",
            timeout=60,
            what="the note delivered",
        )
    with signed_in(cn, "central_authority") as central:
        dialogue = central.post(
            "/api/v1/dialogue/dialogues",
            json={
                "peer": us.node_id,
                "track": "law_enforcement_cyber",
                "title_en": "Law Enforcement and Cybersecurity Dialogue (synthetic)",
                "title_zh": "执法及网络安全对话（合成）",
            },
        )
        assert dialogue.status_code == 201, dialogue.text
        dialogue_id = dialogue.json()["dialogue"]["id"]
        dialogue_round = central.post(
            f"/api/v1/dialogue/dialogues/{dialogue_id}/rounds",
            json={
                "number": 1,
                "date": "2017-10-04",
                "venue_en": "Washington, D.C.",
                "venue_zh": "华盛顿",
                "topics": ["cybersecurity", "narcotics"],
                "documents": [],
            },
        )
        assert dialogue_round.status_code == 201, dialogue_round.text
    return {
        "dialogue": dialogue_id,
        "round": dialogue_round.json()["id"],
        "request": made.json()["id"],
        "case": case_id,
        "import_job": job.json()["id"],
        "evidence": item.json()["id"],
        "intel_object": intel_object,
        "message": message,
    }


def imported_object(node: LiveNode, officer, folder) -> str:
    """An indicator that indicates a malware, imported with `accord intel
    import`: the indicator's page (with the relationship) by its number."""
    import stix2

    name = f"Phishing kit host {uuid.uuid4().hex[:8]}"
    found = stix2.Indicator(
        name=name,
        pattern="[domain-name:value = 'phish-pages.example']",
        pattern_type="stix",
        object_marking_refs=[stix2.TLP_GREEN],
    )
    malware = stix2.Malware(name="Phishing kit (synthetic)", is_family=True)
    bundle = stix2.Bundle(objects=[found, malware, stix2.Relationship(found, "indicates", malware)])
    path = folder / "bundle.json"
    path.write_text(bundle.serialize(), encoding="utf-8")
    node.accord("intel", "import", str(path))
    listed = officer.get("/intel/", params={"q": name})
    numbers = re.findall(r'href="/intel/objects/(\d+)/"', listed.text)
    assert numbers, listed.text[:2000]
    return numbers[0]


@pytest.fixture
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def severe_violations(axe, page: Page) -> list[str]:
    results = axe.run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in SEVERE
    ]


def too_wide(page: Page) -> list[str]:
    width = page.evaluate(DOCUMENT_WIDTH)
    if width["scroll"] > width["client"]:
        return [
            f"the page is {width['scroll']}px wide in {width['client']}px"
            f" (past the edge: {', '.join(width['past'])})"
        ]
    return []


# Pages whose tables must fit at 1366 pixels without scrolling: those found
# clipped there (the offences table, the users' roles). Elsewhere a table
# whose data is wide (message ids, long reasons) scrolls inside its box.
TABLES_FIT = {"/requests/{request}/", "/admin/users/"}


def check(
    page: Page, axe, where: str, shot: str, screenshot, problems: list[str], tables: bool = False
) -> None:
    """The page as it is now, at desktop width and on a phone."""
    page.set_viewport_size(DESKTOP)
    clipped = page.evaluate(CLIPPED, tables) + too_wide(page)
    problems += [f"{where} at 1366 px: {p}" for p in clipped]
    page.set_viewport_size(PHONE)
    problems += [f"{where} at 390 px: {p}" for p in too_wide(page)]
    problems += [f"{where} at 390 px: {v}" for v in severe_violations(axe, page)]
    screenshot(page, f"phone-{shot}")
    page.set_viewport_size(DESKTOP)


def sidebar_pages(page: Page) -> list[str]:
    hrefs = page.locator("nav.sidebar a[data-area]").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return [href for href in hrefs if href]


def shot_name(prefix: str, path: str) -> str:
    name = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "detail", path)
    return f"{prefix}-" + (re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "dashboard")


def expect_skip_link_and_focus_ring(page: Page) -> None:
    """The first Tab shows the skip link; following it lands in the content,
    and the next control shows a focus ring."""
    page.keyboard.press("Tab")
    skip = page.get_by_test_id("skip-link")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0, box
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.closest('main') !== null, s.outlineStyle,"
        " parseFloat(s.outlineWidth)]; }"
    )
    assert ring[0] and ring[1] != "none" and ring[2] >= 2, ring


@pytest.mark.parametrize("language", ["en", ZH])
def test_main_pages_fit_a_phone_and_pass_axe(
    two_live_nodes, examples, page, axe, screenshot, language
):
    node: LiveNode = two_live_nodes[0]
    problems: list[str] = []

    page.goto(node.url + "/login/")
    if language == ZH:
        switch_to(page, ZH)
        expect(page.get_by_test_id("sign-in")).to_have_text(in_chinese("Sign in"))
    check(page, axe, "/login/", f"{language}-login", screenshot, problems)

    seen: set[str] = set()
    for username, extra in WALKERS.items():
        page.context.clear_cookies()
        sign_in(page, node, username)
        expect(page).to_have_url(node.url + "/")
        lang = "zh-Hans" if language == ZH else "en"
        try:
            if page.locator("html").get_attribute("lang") != lang:
                switch_to(page, language)
            if language == ZH:
                expect(page.get_by_test_id("skip-link")).to_have_text(
                    in_chinese("Skip to the content")
                )
            if not seen:
                expect_skip_link_and_focus_ring(page)
            paths = sidebar_pages(page) + extra
            for template in paths:
                path = template.format(**examples)
                if path in seen and path not in BY_ROLE:
                    continue
                seen.add(path)
                response = page.goto(node.url + path)
                assert response is not None and response.status == 200, (path, response)
                # A print is in the language it is asked for.
                printed = re.search(r"lang=(en|zh-hans)$", path)
                shown = printed[1] if printed else lang
                # (Language tags are case-insensitive: a print writes zh-hans.)
                language_tag = re.compile(f"^{re.escape(shown)}$", re.IGNORECASE)
                expect(page.locator("html")).to_have_attribute("lang", language_tag)
                shot = shot_name(f"{language}-{username}", path)
                fit = template in TABLES_FIT
                check(page, axe, f"{username} {path}", shot, screenshot, problems, fit)
        finally:
            # The nodes are shared: the officer's language goes back to English.
            page.goto(node.url + "/")
            if page.locator("html").get_attribute("lang") != "en":
                switch_to(page, "en")
    assert {"/", "/requests/", "/admin/users/", "/audit/", "/federation/"} <= seen, seen
    assert not problems, "\n".join(problems)
