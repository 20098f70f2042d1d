"""Every user-visible string is translatable, and the Simplified Chinese
catalogue is complete and in step with the source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib

SOURCE = Path(__file__).resolve().parents[1] / "src" / "accord"
CATALOGUE = SOURCE / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_zh_hans_is_complete():
    po = polib.pofile(str(CATALOGUE))
    assert not po.untranslated_entries(), [e.msgid for e in po.untranslated_entries()]
    assert not po.fuzzy_entries(), [e.msgid for e in po.fuzzy_entries()]


def test_catalogue_holds_every_string_in_the_source(tmp_path):
    copy = tmp_path / "accord"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "accord.settings",
        "ACCORD_DATA_DIR": str(tmp_path / "node"),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    extracted = {e.msgid for e in polib.pofile(str(copy / CATALOGUE.relative_to(SOURCE)))}
    committed = {e.msgid for e in polib.pofile(str(CATALOGUE)) if not e.obsolete}
    assert extracted - committed == set(), "run makemessages and translate the new strings"
