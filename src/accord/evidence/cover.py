"""The court bundle's cover sheet (`cover.pdf`): for the people who receive
the bundle, in English and in Chinese, what it holds (each item's name, size,
SHA-256, case or request, custody records) and how to check it offline. It is
printed by Chromium (`accord.core.pdf`); without Chromium the bundle goes
without one, as docs/evidence.md allows: nothing else depends on it, and a
verifier ignores it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string

from accord.core import pdf
from accord.core.identity import this_node

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh-hans")


def render_html(sources: list[Any], actor: str, created_at: datetime) -> str:
    node = this_node()
    context = {
        "languages": LANGUAGES,
        "node": node,
        "fingerprint": node.fingerprint,
        "actor": actor,
        "created_at": created_at,
        "items": sources,
        "records": sum(len(source.records) for source in sources),
    }
    return render_to_string("evidence/cover.html", context)


def render_cover(sources: list[Any], actor: str, created_at: datetime) -> bytes | None:
    """The cover as PDF, or None (and a log line) when it cannot be printed."""
    try:
        return pdf.render(render_html(sources, actor, created_at))
    except pdf.PdfUnavailable as exc:
        log.warning("court bundle exported without a cover sheet: %s", exc)
        return None
