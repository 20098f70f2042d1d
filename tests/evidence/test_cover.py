"""The court bundle's cover sheet names itself in both languages: its pages are
bilingual, and so is the title a PDF reader shows in its window and list."""

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from accord.evidence import cover

pytestmark = pytest.mark.django_db


class _Title(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inside, self.text = False, ""

    def handle_starttag(self, tag, attrs):
        self.inside = tag == "title"

    def handle_endtag(self, tag):
        self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.text += data


def test_the_cover_title_is_in_english_and_in_chinese(test_node_identity):
    parser = _Title()
    parser.feed(cover.render_html([], "officer", datetime(2026, 12, 6, tzinfo=UTC)))
    assert parser.text == "Court evidence bundle / 法庭证据包"
