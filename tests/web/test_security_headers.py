"""Every page carries a strict Content-Security-Policy and a Permissions-Policy
besides the older security headers (issue 14, finding 9), and no template
holds what that policy would refuse: inline script, event-handler attributes,
style attributes, or a <style> block without the request's nonce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from accord.core.roles import Role

pytestmark = pytest.mark.django_db

SOURCE = Path(__file__).resolve().parents[2] / "src" / "accord"
# Printed to PDF from a file only, never served as a page.
PDF_ONLY = {"evidence/templates/evidence/cover.html"}


def test_pages_carry_a_strict_policy_and_the_older_headers(client_for):
    for client, url in ((Client(), "/login/"), (client_for(Role.INVESTIGATOR), "/")):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert "camera=()" in response["Permissions-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


REFUSED = [
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "inline script"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style(?![^>]*\snonce=)[^>]*>", re.I), "<style> without the nonce"),
]


def test_no_template_holds_what_the_policy_refuses():
    found = []
    for path in SOURCE.glob("*/templates/**/*.html"):
        name = path.relative_to(SOURCE).as_posix()
        if name in PDF_ONLY:
            continue
        text = path.read_text(encoding="utf-8")
        found += [f"{name}: {what}" for pattern, what in REFUSED if pattern.search(text)]
    assert found == []
