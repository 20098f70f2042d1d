"""The dialogue record in a real browser, on both live nodes, in English and in
Chinese: a dialogue with one round, both delegations, two outcomes proposed
and signed on cn.test, a commitment measured by an indicator and a
disagreement with both sides' positions, all set up through the JSON API; one
outcome co-signed on us.test by its central authority clicking "Co-sign" (and
answering the confirmation); then the dashboard, the dialogue, the round, the
fact sheet and its PDF read on each node in each language.

No ORM here (Playwright's loop would make Django refuse it). The translations
are still being completed, so assertions rest on data-testid, data-status and
the data typed in; a UI string is compared with its Chinese only where the
catalogue already has one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from tests.e2e.conftest import SCREENSHOT_DIR
from tests.e2e.test_requests import PDF_TIMEOUT_MS, expect_chinese, reload_until
from tests.e2e.test_shell import ZH, sign_in, switch_to
from tests.live import LiveNode, ensure_peered, signed_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live]

DELIVERY_TIMEOUT_SECONDS = 60
API = "/api/v1/dialogue"
AUTHORITY = "central_authority"
CONFIRM_QUESTION = "Sign this text for your node?"
LANGUAGES = ("en", ZH)
SHORT = {"en": "en", ZH: "zh"}

# The outcome that gets co-signed, and the one left awaiting us.test's signature.
AGREED_EN = (
    "Both sides will cooperate on cybercrime cases and on network protection, and answer "
    "each other's requests promptly."
)
AGREED_ZH = "双方将在网络犯罪案件和网络保护方面开展合作，并及时答复对方的请求。"
PROPOSED_EN = (
    "Both sides will strengthen cooperation against drug trafficking, including fentanyl "
    "and its precursors."
)
PROPOSED_ZH = "双方将加强禁毒合作，包括打击芬太尼及其前体化学品的贩运。"
COMMITMENT_EN = "Answer cybercrime requests from the partner"
COMMITMENT_ZH = "答复对方的网络犯罪协助请求"
ISSUE_EN = "What counts as a cyber attack, and how state responsibility is attributed"
ISSUE_ZH = "网络攻击的界定及国家责任的归属"
CN_POSITION_EN = "Attribution must rest on evidence shared through agreed channels."
CN_POSITION_ZH = "归因必须基于通过商定渠道分享的证据。"
US_POSITION_EN = "Attribution may also rest on national technical means."
US_POSITION_ZH = "归因也可以基于国家技术手段。"
CN_CO_CHAIR = "Guo Shengkun"
US_CO_CHAIR = "Jeff Sessions"
VENUE = {"en": "Washington, D.C.", ZH: "华盛顿"}
PAST_DUE = "2020-06-30"  # already overdue: the dashboard counts it


@dataclass
class Record:
    """What the fixture builds; every text carries the run's marker."""

    marker: str
    dialogue_id: str = ""
    round_id: str = ""
    agreed_id: str = ""
    proposed_id: str = ""

    def title(self, language: str) -> str:
        if language == ZH:
            return f"中美执法及网络安全对话 {self.marker}"
        return f"China–US Law Enforcement and Cybersecurity Dialogue {self.marker}"

    def outcome(self, which: str, language: str) -> str:
        texts = {
            ("agreed", "en"): AGREED_EN,
            ("agreed", ZH): AGREED_ZH,
            ("proposed", "en"): PROPOSED_EN,
            ("proposed", ZH): PROPOSED_ZH,
        }
        return f"{texts[which, language]} [{self.marker}]"

    def commitment(self, language: str) -> str:
        return f"{COMMITMENT_ZH if language == ZH else COMMITMENT_EN} [{self.marker}]"

    def issue(self, language: str) -> str:
        return f"{ISSUE_ZH if language == ZH else ISSUE_EN} [{self.marker}]"

    @property
    def path(self) -> str:
        return f"{API}/dialogues/{self.dialogue_id}"


def call(client: httpx.Client, method: str, path: str, body: Any = None, expect: int = 200):
    response = client.request(method, path, json=body)
    assert response.status_code == expect, (
        f"{method} {path}: {response.status_code} " + (response.text[:500])
    )
    return response.json()


def fetched(client: httpx.Client, path: str) -> dict | None:
    """The dialogue as this node has it, or None while it has not arrived."""
    response = client.get(path)
    return response.json() if response.status_code == 200 else None


def arrived(client: httpx.Client, path: str, found: Callable[[dict], Any], what: str) -> dict:
    """Polls the node's API until `found(dialogue)`; bounded."""
    return wait_until(
        lambda: (d := fetched(client, path)) is not None and found(d) and d,
        timeout=DELIVERY_TIMEOUT_SECONDS,
        interval=0.3,
        what=what,
    )


def outcome_status(dialogue: dict, outcome_id: str) -> str:
    (outcome,) = [o for o in dialogue["outcomes"] if o["id"] == outcome_id]
    return max(outcome["versions"], key=lambda v: v["version"])["status"]


def signed_by(dialogue: dict, outcome_id: str) -> set[str]:
    (outcome,) = [o for o in dialogue["outcomes"] if o["id"] == outcome_id]
    latest = max(outcome["versions"], key=lambda v: v["version"])
    return {s["node"] for s in latest["signatures"]}


@pytest.fixture(scope="module")
def record(two_live_nodes) -> Record:
    """The dialogue, built through the API as the two central authorities would,
    up to (not including) us.test's co-signature; waits until us.test has it all."""
    cn, us = two_live_nodes
    ensure_peered(cn, us)
    r = Record(marker=f"E2E-{time.time_ns() % 10**10}")
    with signed_in(cn, AUTHORITY) as cn_api, signed_in(us, AUTHORITY) as us_api:
        dialogue = call(
            cn_api,
            "POST",
            f"{API}/dialogues",
            {
                "peer": us.node_id,
                "track": "law_enforcement_cyber",
                "title_en": r.title("en"),
                "title_zh": r.title(ZH),
            },
            expect=201,
        )["dialogue"]
        r.dialogue_id = dialogue["id"]
        path = r.path
        r.round_id = round_id = call(
            cn_api,
            "POST",
            f"{path}/rounds",
            {
                "number": 1,
                "date": "2017-10-04",
                "venue_en": VENUE["en"],
                "venue_zh": VENUE[ZH],
                "topics": ["narcotics", "cybersecurity"],
                "documents": [{"title": "Joint press release (public)", "reference": ""}],
            },
            expect=201,
        )["id"]
        call(
            cn_api,
            "PUT",
            f"{API}/rounds/{round_id}/delegation",
            {
                "people": [
                    {
                        "role": "co_chair",
                        "name": f"郭声琨 {CN_CO_CHAIR}",
                        "title": "State Councilor and Minister of Public Security",
                    },
                    {"role": "member", "name": "刘彦平", "title": "公安部副部长"},
                ]
            },
        )

        ids = {}
        for which, topic in (("agreed", "cybersecurity"), ("proposed", "narcotics")):
            ids[which] = call(
                cn_api,
                "POST",
                f"{API}/rounds/{round_id}/outcomes",
                {
                    "topic": topic,
                    "text_en": r.outcome(which, "en"),
                    "text_zh": r.outcome(which, ZH),
                    "signer_title": "国务委员、公安部部长",
                },
                expect=201,
            )["id"]
        r.agreed_id, r.proposed_id = ids["agreed"], ids["proposed"]
        call(
            cn_api,
            "POST",
            f"{API}/outcomes/{r.agreed_id}/commitments",
            {
                "title_en": r.commitment("en"),
                "title_zh": r.commitment(ZH),
                "owner_node": us.node_id,
                "due_date": PAST_DUE,
                "confirm_past": True,
                "indicators": [
                    {"code": "assistance.answered", "topic": "cybersecurity", "target": 12}
                ],
            },
            expect=201,
        )
        issue = call(
            cn_api,
            "POST",
            f"{path}/disagreements",
            {
                "topic": "cybersecurity",
                "round_id": round_id,
                "issue_en": r.issue("en"),
                "issue_zh": r.issue(ZH),
            },
            expect=201,
        )["id"]
        call(
            cn_api,
            "PUT",
            f"{API}/disagreements/{issue}/position",
            {"text_en": CN_POSITION_EN, "text_zh": CN_POSITION_ZH},
        )

        # us.test receives it all through the channel, then adds its own part.
        arrived(
            us_api,
            path,
            lambda d: any(
                d["rounds"] and len(d["outcomes"]) == 2 and d["commitments"] and x["positions"]
                for x in d["disagreements"]
            ),
            "the dialogue to reach us.test",
        )
        call(
            us_api,
            "PUT",
            f"{API}/rounds/{round_id}/delegation",
            {
                "people": [
                    {"role": "co_chair", "name": US_CO_CHAIR, "title": "Attorney General"},
                    {
                        "role": "co_chair",
                        "name": "Elaine Duke",
                        "title": "Acting Secretary of Homeland Security",
                    },
                ]
            },
        )
        call(
            us_api,
            "PUT",
            f"{API}/disagreements/{issue}/position",
            {"text_en": US_POSITION_EN, "text_zh": US_POSITION_ZH},
        )
        arrived(
            cn_api,
            path,
            lambda d: (
                any(p["node"] == us.node_id for p in d["rounds"][0]["delegations"])
                and us.node_id in d["disagreements"][0]["positions"]
            ),
            "us.test's delegation and position to reach cn.test",
        )
        arrived(
            us_api,
            path,
            lambda d: all(outcome_status(d, i) == "proposed" for i in ids.values()),
            "both outcomes, signed by cn.test, on us.test",
        )
    return r


@pytest.fixture
def officer(new_page) -> Iterator[Callable[[LiveNode, str], Page]]:
    """officer(node, username): a browser of its own, signed in, in English.
    The nodes are shared with other tests: every user is put back to English
    afterwards, even when the test fails."""
    signed: list[tuple[Page, LiveNode]] = []

    def make(node: LiveNode, username: str) -> Page:
        page = new_page()
        sign_in(page, node, username)
        expect(page).to_have_url(node.url + "/")
        signed.append((page, node))
        if page.locator("html").get_attribute("lang") != "en":
            switch_to(page, "en")
        return page

    yield make
    for page, node in signed:
        page.goto(node.url + "/")
        if page.locator("html").get_attribute("lang") != "en":
            switch_to(page, "en")


class Confirmations:
    """Answers what window.confirm asks on a page (yes, unless told otherwise)
    and keeps the questions."""

    def __init__(self, page: Page) -> None:
        self.asked: list[str] = []
        self.accept = True
        page.on("dialog", self._answer)

    def _answer(self, dialog: Dialog) -> None:
        self.asked.append(dialog.message)
        if dialog.type == "confirm" and not self.accept:
            dialog.dismiss()
        else:
            dialog.accept()


def outcome_article(page: Page, text: str) -> Locator:
    return page.get_by_test_id("outcome").filter(has_text=text)


def expect_statuses(page: Page, record: Record) -> None:
    agreed = outcome_article(page, record.outcome("agreed", "en"))
    proposed = outcome_article(page, record.outcome("proposed", "en"))
    expect(agreed).to_have_count(1)
    expect(proposed).to_have_count(1)
    expect(agreed).to_have_attribute("data-status", "agreed")
    expect(proposed).to_have_attribute("data-status", "proposed")
    # Both languages of the signed text show on the dialogue page.
    expect(agreed.locator("p[lang=zh-hans]")).to_have_text(record.outcome("agreed", ZH))
    expect(proposed.locator("p[lang=zh-hans]")).to_have_text(record.outcome("proposed", ZH))


def test_co_signing_in_the_browser_makes_the_outcome_agreed_on_both_nodes(
    two_live_nodes, record, officer, screenshot
):
    cn, us = two_live_nodes
    detail = f"/dialogue/{record.dialogue_id}/"
    signing_posts: list[str] = []

    authority = officer(us, AUTHORITY)
    confirmations = Confirmations(authority)
    authority.on(
        "request",
        lambda r: signing_posts.append(r.url) if r.method == "POST" and "/sign/" in r.url else None,
    )
    authority.goto(us.url + detail)
    expect(authority.get_by_test_id("page-title")).to_have_text(record.title("en"))
    agreed = outcome_article(authority, record.outcome("agreed", "en"))
    proposed = outcome_article(authority, record.outcome("proposed", "en"))
    for article in (agreed, proposed):
        expect(article).to_have_attribute("data-status", "proposed")
        expect(article.get_by_test_id("sign-form")).to_be_visible()
    screenshot(authority, "dialogue-before-cosign-us-en")

    # Answering "no" to the confirmation sends nothing.
    confirmations.accept = False
    proposed.get_by_test_id("sign-form").locator("button[type=submit]").click()
    assert confirmations.asked == [CONFIRM_QUESTION], confirmations.asked
    assert signing_posts == [], signing_posts
    expect(authority).to_have_url(us.url + detail)
    expect(proposed).to_have_attribute("data-status", "proposed")

    # Answering "yes" co-signs for us.test.
    confirmations.accept = True
    form = agreed.get_by_test_id("sign-form")
    form.locator("input[name=signer_title]").fill("Attorney General")
    button = form.locator("button[type=submit]")
    expect(button).to_have_attribute("data-confirm", CONFIRM_QUESTION)
    button.click()
    expect(authority.locator(".message.success")).to_be_visible()
    assert confirmations.asked == [CONFIRM_QUESTION] * 2, confirmations.asked
    assert len(signing_posts) == 1 and record.agreed_id in signing_posts[0], signing_posts
    expect(authority).to_have_url(us.url + detail)
    expect_statuses(authority, record)
    expect(agreed.get_by_test_id("sign-form")).to_have_count(0)
    expect(agreed.locator(".signatures li")).to_have_count(2)
    # Named, dated and titled (the title typed here, for this one signature).
    expect(agreed.locator(".signatures")).to_contain_text(
        re.compile(
            rf"{re.escape(us.node_id)}: signed by {AUTHORITY} on \d{{4}}-\d\d-\d\d .*"
            r"\(Attorney General\)"
        )
    )
    expect(proposed.get_by_test_id("sign-form")).to_be_visible()
    screenshot(authority, "dialogue-cosigned-us-en")

    # The co-signature reaches cn.test: agreed there too; cn.test signs nothing more.
    cn_authority = officer(cn, AUTHORITY)
    cn_agreed = outcome_article(cn_authority, record.outcome("agreed", "en"))
    reload_until(
        cn_authority,
        cn.url + detail,
        lambda: cn_agreed.get_attribute("data-status") == "agreed",
        "us.test's co-signature to reach cn.test",
    )
    expect_statuses(cn_authority, record)
    expect(cn_authority.get_by_test_id("sign-form")).to_have_count(0)
    expect(cn_agreed.locator(".signatures")).to_contain_text("Attorney General")
    screenshot(cn_authority, "dialogue-cosigned-cn-en")


def ensure_agreed(cn: LiveNode, us: LiveNode, record: Record) -> None:
    """The co-signature as the test above gives it; through the API when this
    test runs alone or the one above failed before signing."""
    with signed_in(us, AUTHORITY) as us_api, signed_in(cn, AUTHORITY) as cn_api:
        dialogue = fetched(us_api, record.path)
        assert dialogue is not None
        if us.node_id not in signed_by(dialogue, record.agreed_id):
            call(
                us_api,
                "POST",
                f"{API}/outcomes/{record.agreed_id}/signatures",
                {"version": 1, "signer_title": "Attorney General"},
                expect=201,
            )
        arrived(
            cn_api,
            record.path,
            lambda d: outcome_status(d, record.agreed_id) == "agreed",
            "the agreed outcome on cn.test",
        )


def read_dashboard(page: Page, node: LiveNode, record: Record, language: str, screenshot) -> None:
    page.click("a[data-area=dialogue]")
    expect(page).to_have_url(node.url + "/dialogue/")
    if language == ZH:
        expect_chinese(page.get_by_test_id("page-title"), "Dialogue")
    else:
        expect(page.get_by_test_id("page-title")).to_have_text("Dialogue")
    tracks = page.get_by_test_id("tracks")
    expect(tracks.get_by_role("link", name=record.title(language))).to_have_count(1)
    timeline = (
        page.get_by_test_id("rounds-timeline").locator("li").filter(has_text=record.title(language))
    )
    expect(timeline).to_have_count(1)
    expect(timeline).to_contain_text("2017-10-04")
    expect(timeline).to_contain_text(VENUE[language])
    expect(timeline.locator(f"a[href='/dialogue/rounds/{record.round_id}/']")).to_have_count(1)
    commitment = (
        page.get_by_test_id("commitments")
        .get_by_test_id("commitment")
        .filter(has_text=record.commitment(language))
    )
    expect(commitment).to_have_count(1)
    expect(commitment).to_have_class(re.compile(r"\boverdue\b"))
    expect(commitment.get_by_test_id("measure-assistance.answered")).to_have_count(1)
    overdue = page.get_by_test_id("overdue-commitments").inner_text().strip()
    assert overdue.isdigit() and int(overdue) >= 1, overdue
    screenshot(page, f"dialogue-dashboard-{node.node_id.split('.')[0]}-{SHORT[language]}")


def read_dialogue(page: Page, node: LiveNode, record: Record, language: str, screenshot) -> None:
    page.get_by_test_id("tracks").get_by_role("link", name=record.title(language)).click()
    expect(page).to_have_url(f"{node.url}/dialogue/{record.dialogue_id}/")
    expect(page.get_by_test_id("page-title")).to_have_text(record.title(language))
    expect_statuses(page, record)
    # Only us.test still has a signature to give, and only on the proposed outcome.
    signable = page.get_by_test_id("sign-form")
    if node.node_id.startswith("us."):
        expect(signable).to_have_count(1)
        expect(
            outcome_article(page, record.outcome("proposed", "en")).get_by_test_id("sign-form")
        ).to_have_count(1)
    else:
        expect(signable).to_have_count(0)
    commitments = page.get_by_test_id("commitment-list")
    expect(commitments).to_contain_text(record.commitment(language))
    issue = page.get_by_test_id("disagreement").filter(has_text=record.issue(language))
    expect(issue).to_have_count(1)
    expect(issue).to_have_attribute("data-status", "open")
    positions = issue.locator(".position")
    expect(positions).to_have_count(2)
    expect(positions.filter(has_text="cn.test")).to_contain_text(CN_POSITION_EN)
    expect(positions.filter(has_text="cn.test")).to_contain_text(CN_POSITION_ZH)
    expect(positions.filter(has_text="us.test")).to_contain_text(US_POSITION_EN)
    expect(positions.filter(has_text="us.test")).to_contain_text(US_POSITION_ZH)
    screenshot(page, f"dialogue-detail-{node.node_id.split('.')[0]}-{SHORT[language]}")


def read_round(page: Page, node: LiveNode, record: Record, language: str, screenshot) -> str:
    """Opens the round from the dialogue page; returns its PDF link for `language`."""
    page.get_by_test_id("rounds").locator(f"a[href='/dialogue/rounds/{record.round_id}/']").click()
    expect(page).to_have_url(f"{node.url}/dialogue/rounds/{record.round_id}/")
    expect(page.get_by_test_id("page-title")).to_contain_text(VENUE[language])
    expect(page.get_by_test_id("delegation-cn.test")).to_contain_text(CN_CO_CHAIR)
    expect(page.get_by_test_id("delegation-cn.test").locator("li")).to_have_count(2)
    expect(page.get_by_test_id("delegation-us.test")).to_contain_text(US_CO_CHAIR)
    expect(page.get_by_test_id("delegation-us.test").locator("li")).to_have_count(2)
    for testid, lang in (("factsheet-en", "en"), ("factsheet-zh", ZH)):
        expect(page.get_by_test_id(testid)).to_have_attribute(
            "href", f"/dialogue/rounds/{record.round_id}/fact-sheet/?lang={lang}"
        )
    pdf_link = page.locator(f"a[href$='/fact-sheet.pdf?lang={language}']")
    expect(pdf_link).to_have_count(1)
    screenshot(page, f"dialogue-round-{node.node_id.split('.')[0]}-{SHORT[language]}")
    href = pdf_link.get_attribute("href")
    assert href, "the round page has no PDF link"
    return href


def read_factsheet(page: Page, node: LiveNode, record: Record, language: str, screenshot) -> None:
    page.get_by_test_id("factsheet-zh" if language == ZH else "factsheet-en").click()
    expect(page).to_have_url(
        f"{node.url}/dialogue/rounds/{record.round_id}/fact-sheet/?lang={language}"
    )
    sheet = page.get_by_test_id("factsheet")
    expect(sheet).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", language)
    other = "en" if language == ZH else ZH
    expect(sheet).to_contain_text(record.title(language))
    for which in ("agreed", "proposed"):
        text = sheet.locator("p", has_text=record.outcome(which, language))
        expect(text).to_have_count(1)
        expect(sheet).not_to_contain_text(record.outcome(which, other))
        item = sheet.get_by_test_id("factsheet-outcome").filter(
            has_text=record.outcome(which, language)
        )
        expect(item).to_have_attribute("data-status", which)
    expect(sheet).to_contain_text(record.commitment(language))
    expect(sheet).not_to_contain_text(record.commitment(other))
    expect(sheet).to_contain_text(record.issue(language))
    expect(sheet).to_contain_text(CN_POSITION_ZH if language == ZH else CN_POSITION_EN)
    expect(sheet).to_contain_text(US_POSITION_ZH if language == ZH else US_POSITION_EN)
    expect(sheet).to_contain_text(CN_CO_CHAIR)
    expect(sheet).to_contain_text(US_CO_CHAIR)
    screenshot(page, f"dialogue-factsheet-{node.node_id.split('.')[0]}-{SHORT[language]}")


def fetch_pdf(page: Page, node: LiveNode, href: str, language: str) -> None:
    pdf = page.request.get(node.url + href, timeout=PDF_TIMEOUT_MS)
    assert pdf.status == 200, f"{pdf.status}: {pdf.text()[:500]}"
    assert pdf.headers["content-type"] == "application/pdf", pdf.headers
    assert f"fact-sheet-round-1-{language}.pdf" in pdf.headers.get("content-disposition", "")
    body = pdf.body()
    assert body.startswith(b"%PDF-"), body[:20]
    if language == ZH:
        assert re.search(rb"/FontName\s*/[A-Z]{6}\+NotoSans(CJK|SC)", body), "no CJK font"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    name = f"dialogue-factsheet-{node.node_id.split('.')[0]}-{SHORT[language]}.pdf"
    (SCREENSHOT_DIR / name).write_bytes(body)


@pytest.mark.parametrize("side", ["cn", "us"])
def test_the_record_reads_in_english_and_chinese(two_live_nodes, record, officer, screenshot, side):
    cn, us = two_live_nodes
    ensure_agreed(cn, us, record)
    node = cn if side == "cn" else us
    page = officer(node, AUTHORITY)
    for language in LANGUAGES:
        page.goto(node.url + "/")
        if language == ZH:
            switch_to(page, ZH)
        html_lang = "zh-Hans" if language == ZH else "en"
        expect(page.locator("html")).to_have_attribute("lang", html_lang)
        read_dashboard(page, node, record, language, screenshot)
        read_dialogue(page, node, record, language, screenshot)
        pdf_href = read_round(page, node, record, language, screenshot)
        read_factsheet(page, node, record, language, screenshot)
        fetch_pdf(page, node, pdf_href, language)
