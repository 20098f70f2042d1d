"""The `accord` command: every command has --help, bad input gets one line and a
non-zero exit, never a stack trace."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from accord.cli import COMMANDS
from tests.live import TEST_PASSWORD, LiveNode, discard_node, make_node

pytestmark = pytest.mark.live


@pytest.fixture
def node(tmp_path) -> LiveNode:
    made = make_node(tmp_path, "cn.cli", "China", "Ministry of Public Security")
    yield made
    discard_node(made)


def assert_user_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert text in result.stderr


def test_top_level_help_lists_commands():
    result = subprocess.run(
        [sys.executable, "-m", "accord.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for command in ("init", "serve", "createuser", "audit", "check"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "command", ["init", "serve", "background", "createuser", "audit", "check", "demo"]
)
def test_every_command_has_help(node, command):
    result = node.accord(command, "--help")
    assert "usage: accord" in result.stdout


def test_unknown_command_is_one_line(node):
    assert_user_error(node.accord("frobnicate", check=False), "unknown command 'frobnicate'")


def test_init_writes_private_keys_and_a_working_database(node):
    result = node.accord(
        "init", "--node-id", "cn.cli", "--party", "China", "--agency", "Ministry of Public Security"
    )
    assert "Fingerprint" in result.stdout
    for name in ("signing.key", "encryption.key", "secret_key", "node.json"):
        mode = stat.S_IMODE((node.data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert json.loads((node.data_dir / "node.json").read_text())["node_id"] == "cn.cli"
    assert node.accord("audit", "verify").stdout.startswith("OK: 1 events")
    assert node.accord("check").returncode == 0


def test_init_refuses_to_overwrite_a_node(node):
    node.init()
    key_before = (node.data_dir / "signing.key").read_bytes()
    again = node.accord(
        "init", "--node-id", "cn.other", "--party", "X", "--agency", "Y", check=False
    )
    assert_user_error(again, "refusing to overwrite")
    assert (node.data_dir / "signing.key").read_bytes() == key_before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--node-id", "Not Valid", "--party", "X", "--agency", "Y"], "lower-case dotted"),
        (["--node-id", "cn.mps", "--party", " ", "--agency", "Y"], "party must be"),
        (["--node-id", "cn.mps", "--agency", "Y"], "--party"),
    ],
)
def test_init_rejects_bad_input_and_creates_nothing(node, args, message):
    assert_user_error(node.accord("init", *args, check=False), message)
    assert not (node.data_dir / "node.json").exists()
    assert not (node.data_dir / "signing.key").exists()


def test_commands_on_a_missing_node_say_so(node):
    for args in (
        ["createuser", "x", "--role", "analyst", "--password-stdin"],
        ["audit", "verify"],
        ["check"],
        ["serve"],
    ):
        assert_user_error(node.accord(*args, stdin="pw\n", check=False), "run `accord init` first")


def test_createuser_reads_the_password_from_stdin(node):
    node.init()
    node.create_user("li.ming", "investigator")
    node.start()
    with node.client() as http:
        login = http.get("/login/")
        token = login.cookies["csrftoken"]
        signed_in = http.post(
            "/login/",
            data={"username": "li.ming", "password": TEST_PASSWORD, "csrfmiddlewaretoken": token},
        )
        assert signed_in.status_code == 302 and signed_in.headers["location"] == "/"
    assert "OK: 3 events" in node.accord("audit", "verify").stdout  # init, create, login


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["createuser", "bob", "--role", "analyst"], "pw\n", "--password-stdin"),
        (["createuser", "bob", "--role", "analyst", "--password-stdin"], "", "no password"),
        (["createuser", "bob", "--role", "analyst", "--password-stdin"], "short\n", "too short"),
        (["createuser", "bob", "--role", "chief", "--password-stdin"], "x\n", "invalid choice"),
    ],
)
def test_createuser_rejects_bad_input(node, args, stdin, message):
    node.init()
    assert_user_error(node.accord(*args, stdin=stdin, check=False), message)
    assert "OK: 1 events" in node.accord("audit", "verify").stdout


GROUPS = {
    "requests": "reconcile",
    "cases": "show",
    "audit": "checkpoint",
    "secondfactor": "reset",
    "dialogue": "show",
    "evidence": "verify",
    "keys": "rotate",
    "outbox": "retry",
    "peer": "remove",
    "intel": "subscribe",
    "hits": "ask",
}


@pytest.mark.parametrize(("group", "action"), sorted(GROUPS.items()))
def test_a_command_group_without_an_action_lists_its_actions(node, group, action):
    result = node.accord(group, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr and result.stderr == ""
    assert f"usage: accord {group}" in result.stdout
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")]
    assert action in listed
    if group in ("requests", "cases", "peer", "evidence", "hits", "dialogue"):
        assert "list" in listed


DJANGO_OWN = (
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--skip-checks",
    "--version",
)


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"manage"}))
def test_help_shows_accords_options_not_djangos(node, command):
    shown = node.accord(command, "--help").stdout
    assert f"usage: accord {command}" in shown
    assert not [option for option in DJANGO_OWN if option in shown], shown
    if command == "demo":
        assert "--ports" in shown and "--root" in shown


def test_worker_help_names_the_accord_command(node):
    """`accord worker` wraps django-tasks' db_worker: its help says `accord worker`."""
    shown = node.accord("worker", "--help").stdout
    assert shown.startswith("usage: accord worker ")
    assert "db_worker" not in shown
    # The operators' way in still names the Django command.
    assert "usage: accord db_worker" in node.accord("manage", "db_worker", "--help").stdout


def test_django_options_still_show_for_the_operators_manage_command(node):
    shown = node.accord("manage", "check", "--help").stdout
    assert "--settings" in shown and "--traceback" in shown
