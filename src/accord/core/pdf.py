"""Printable pages as PDF (request forms, dialogue fact sheets): Chromium
prints the same HTML as the print view, so the PDF and the page never differ
(CJK needs fonts-noto-cjk, which `make` installs with Chromium)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

TIMEOUT_SECONDS = 60
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-pdf-header-footer",
    "--disable-extensions",
)


class PdfUnavailable(Exception):
    pass


def render(html: str) -> bytes:
    chromium = Path(settings.CHROMIUM)
    if not chromium.is_file():
        raise PdfUnavailable(
            _(
                "PDF printing needs Chromium at %(path)s (set ACCORD_CHROMIUM); "
                "use the print view meanwhile."
            )
            % {"path": chromium}
        )
    with tempfile.TemporaryDirectory(prefix="accord-pdf-") as work:
        page, out = Path(work) / "form.html", Path(work) / "form.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            str(chromium),
            *FLAGS,
            f"--user-data-dir={work}/profile",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise PdfUnavailable(_("Printing to PDF took too long; try again.")) from None
        if not out.is_file() or out.stat().st_size == 0:
            raise PdfUnavailable(_("Chromium could not print this page to PDF."))
        return out.read_bytes()
