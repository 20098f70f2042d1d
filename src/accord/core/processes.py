"""Stopping the child processes a supervisor started (`accord serve`, the demo)."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def terminate(processes: list[subprocess.Popen], grace_seconds: float) -> None:
    """SIGTERM every process still running, give them `grace_seconds` together
    to finish cleanly, then SIGKILL what is left (with its process group, when
    it leads one, so no grandchild outlives it)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.wait()
