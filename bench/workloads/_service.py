"""Starting and stopping the real ``schedctl`` from a workload: which script to run, and a
stop that always ends with the whole process group gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

#: How long a ``schedctl run`` may take to stop on SIGTERM before its group is killed.
STOP_PATIENCE_SECONDS = 20.0


def schedctl_command() -> list[str]:
    """The installed script, as users run it (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "schedctl"
    found = str(beside) if beside.exists() else shutil.which("schedctl")
    return [found] if found else [sys.executable, "-m", "schedctl"]


def stop_service(daemon: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as systemd stops it; SIGKILL to its process group if it has not stopped in
    :data:`STOP_PATIENCE_SECONDS` (started with ``start_new_session``)."""
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(STOP_PATIENCE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(daemon.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    daemon.wait()
