"""The order in which `pytest -n 2 --dist loadfile` hands test files to its
workers (tests/conftest.py installs it).

xdist's own order puts the files with the most tests first, so the last work
of a run is the files with one or two tests: often the slowest of all (a
file that starts its own nodes, the demo). One worker then runs such a file
alone for minutes while the other has finished. Here the files that start
live nodes go first, then the in-process files, each part most tests first: a
run ends with short files and the workers finish close together.

Files that use one of the session's shared node sets (`two_live_nodes`,
`three_agencies`, tests/conftest.py) also form one unit of work per set, so
one worker starts those nodes instead of both (three peered nodes cost a
worker over a minute). Each set's files together take a few minutes, far
less than half a run, so the workers stay balanced."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from xdist.scheduler import LoadFileScheduling

# A file that mentions one of these starts (or shares) real node servers.
LIVE = re.compile(
    r"\b(two_live_nodes|three_agencies|make_node|peered_pair|start_demo|taxii|pytest\.mark\.live)\b"
)
SHARED_SETS = ("three_agencies", "two_live_nodes")
# Any file with live nodes goes before every in-process file: even with one
# test it may take minutes (the demo), while in-process files, however many
# tests they hold, are what the end of a run can balance with.
LIVE_FIRST = 1_000_000


@cache
def _source(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def shared_set(path: str) -> str | None:
    """The shared node set a test file uses, if any (the first of SHARED_SETS)."""
    source = _source(path)
    return next((name for name in SHARED_SETS if re.search(rf"\b{name}\b", source)), None)


class LongestFirst(LoadFileScheduling):
    """--dist loadfile, files with live nodes first and each shared node set's
    files one unit (see the module's doc)."""

    _ordered = False

    def _path(self, nodeid: str) -> str:
        return str(self.config.rootpath / nodeid.split("::", 1)[0])

    def _split_scope(self, nodeid: str) -> str:
        name = shared_set(self._path(nodeid))
        return f"shared node set {name}" if name else super()._split_scope(nodeid)

    def _cost(self, scope: str, nodeids: dict[str, bool]) -> int:
        paths = {self._path(nodeid) for nodeid in nodeids}
        live = scope.startswith("shared node set") or any(LIVE.search(_source(p)) for p in paths)
        return len(nodeids) + (LIVE_FIRST if live else 0)

    def _assign_work_unit(self, node) -> None:
        if not self._ordered:
            # The first assignment: the queue is complete, nothing is sent yet.
            units = sorted(self.workqueue.items(), key=lambda unit: -self._cost(*unit))
            self.workqueue.clear()
            self.workqueue.update(units)
            self._ordered = True
        super()._assign_work_unit(node)
