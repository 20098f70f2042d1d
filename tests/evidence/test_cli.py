"""`accord evidence`: add, list, show, download, export, purge through the
management command, with the services' rules; and `verify` of an exported
bundle in a fresh process with an empty data directory: no node, no database."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accord.core.identity import this_node
from accord.evidence.models import EvidenceItem
from tests.evidence.world import make_case, make_people, make_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return make_people()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("evidence", *args, stdout=out)
    return out.getvalue()


def offline_verify(bundle: Path, data_dir: Path, *trust: str) -> subprocess.CompletedProcess:
    """`accord evidence verify` as a court would run it: a new process, an
    empty data directory, and a database URL that leads nowhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ACCORD_", "DJANGO_"))
    }
    env["ACCORD_DATA_DIR"] = str(data_dir)
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


def test_add_show_download_export_and_verify_offline(people, tmp_path):
    case = make_case(people)
    source = tmp_path / "seized.img"
    data = os.urandom(2_500_000)
    source.write_bytes(data)
    added = run(
        "add",
        str(source),
        "--case",
        case.reference,
        "--description",
        "Laptop image",
        "--how",
        "seizure",
        "--by",
        "Officer Li",
        "--as",
        "ev-author",
    )
    item = EvidenceItem.objects.get()
    assert str(item.pk) in added and item.name == "seized.img"
    listed = run("list", "--case", case.reference, "--as", "ev-mate")
    assert str(item.pk) in listed
    shown = json.loads(run("show", str(item.pk), "--as", "ev-mate"))
    assert [r["event"] for r in shown["custody"]] == ["collected", "viewed"]
    assert shown["collected"]["by"] == "Officer Li"
    out = tmp_path / "copy.img"
    run("download", str(item.pk), "--out", str(out), "--as", "ev-mate")
    assert out.read_bytes() == data
    bundle = tmp_path / "court.zip"
    run("export", str(item.pk), "--out", str(bundle), "--as", "ev-mate")
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        assert f"files/{item.sha256}" in names
        if Path(settings.CHROMIUM).is_file():  # the cover sheet needs Chromium to print
            assert archive.read("cover.pdf").startswith(b"%PDF")

    empty = tmp_path / "court-laptop"
    empty.mkdir()
    node = this_node()
    done = offline_verify(bundle, empty, f"{node.node_id}={node.fingerprint}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK:")
    assert list(empty.iterdir()) == []  # no database, no key was made there

    wrong = offline_verify(bundle, empty, f"{node.node_id}={'ab' * 32}")
    assert wrong.returncode == 1 and "BROKEN: untrusted_node" in wrong.stdout


def test_an_item_on_a_request_and_a_purge(people, tmp_path):
    request = make_request(people)
    source = tmp_path / "order.pdf"
    source.write_bytes(b"%PDF court order")
    run("add", str(source), "--request", request.reference, "--as", "ev-author")
    item = EvidenceItem.objects.get()
    assert item.request == request
    run("purge", str(item.pk), "--reason", "provider asked for deletion", "--as", "ev-author")
    with pytest.raises(CommandError, match="purged"):
        run("download", str(item.pk), "--out", str(tmp_path / "x"), "--as", "ev-author")
    assert not (tmp_path / "x").exists()
    assert "(purged)" in run("list", "--request", request.reference, "--as", "ev-author")


def test_need_to_know_holds_at_the_shell(people, tmp_path):
    case = make_case(people)
    source = tmp_path / "a.bin"
    source.write_bytes(b"a")
    run("add", str(source), "--case", case.reference, "--as", "ev-author")
    item = EvidenceItem.objects.get()
    with pytest.raises(CommandError, match="not for you"):
        run("show", str(item.pk), "--as", "ev-outsider")
    with pytest.raises(CommandError, match="not for you"):
        run("add", str(source), "--case", case.reference, "--as", "ev-outsider")
    assert "No evidence items." in run("list", "--as", "ev-outsider")


def test_verify_without_a_node_refuses_usage_errors(tmp_path):
    done = offline_verify(tmp_path / "absent.zip", tmp_path, "xx.test=00")
    assert done.returncode == 2
    assert "no such file" in done.stderr
