"""docs/security.md names, for each thing an attacker cannot do, the test
that proves it: every test it names must exist, or the line proves nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
# `path/to/test_file.py::test_name`, or `::test_name` after a named file (the last one before it).
REFERENCE = re.compile(r"`([\w/]+\.py)?::(\w+)`|`([\w/]+\.py)`")


def named_tests() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    current = None  # the file a `::name` belongs to: the last one named before it
    for line in DOC.read_text(encoding="utf-8").splitlines():
        for match in REFERENCE.finditer(line):
            path, name, bare = match.groups()
            if bare:
                current = bare
                found.append((bare, None))
                continue
            current = path or current
            assert current, f"`::{name}` with no file before it: {line}"
            found.append((current, name))
    return found


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_test_the_threat_model_names_exists():
    named = named_tests()
    assert len(named) > 40
    missing = []
    for file, name in named:
        path = ROOT / "tests" / file.removeprefix("tests/")
        if not file.startswith("tests/") and not file.rsplit("/", 1)[-1].startswith("test"):
            path = ROOT / "src" / "accord" / file  # a module of the node
        if not path.exists():
            missing.append(file)
        elif name and name not in functions(path):
            missing.append(f"{file}::{name}")
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
