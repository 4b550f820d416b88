"""Fixtures for the command-line tests: the real ``schedctl`` executable, jobfiles and
state files under ``tmp_path``, and a ``schedctl run`` that is always cleaned up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import Daemon

#: Variables that would change what the CLI does (a state file, journald, systemd).
_SCRUBBED = ("SCHEDCTL_STATE", "SCHEDCTL_JOBFILE", "SCHEDCTL_METRICS", "NOTIFY_SOCKET",
             "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID", "LISTEN_FDS",
             "LISTEN_PID")


def _executable() -> str:
    beside = Path(sys.executable).parent / "schedctl"
    found = str(beside) if beside.exists() else shutil.which("schedctl")
    if not found:
        pytest.fail("the schedctl script is not installed (pip install -e .)")
    return found


SCHEDCTL = _executable()

CLI = Callable[..., subprocess.CompletedProcess[str]]


def clean_env(root: Path) -> dict[str, str]:
    """The environment for every subprocess: no stray state, no systemd, default state under root."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env["XDG_STATE_HOME"] = str(root / "xdg-state")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.fixture
def schedctl(tmp_path: Path, cli_env: dict[str, str]) -> CLI:
    """Runs the real executable in ``tmp_path`` and returns the CompletedProcess (text)."""

    def run(*args: object, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCHEDCTL, *map(str, args)], cwd=tmp_path, env=cli_env, capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )

    return run


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """Where the jobfiles written by ``jobfile`` keep their state (``state: state.db``)."""
    return tmp_path / "state.db"


@pytest.fixture
def jobfile(tmp_path: Path) -> Callable[[str], Path]:
    """Writes ``jobs.yaml`` (dedented) in ``tmp_path``; call again to edit it."""
    path = tmp_path / "jobs.yaml"

    def write(text: str) -> Path:
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture
def scheduler(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[Callable[..., Daemon]]:
    """Starts ``schedctl run JOBFILE [ARGS]`` in its own process group; killed at teardown."""
    started: list[Daemon] = []

    def start(jobfile: Path, *args: object, ready: bool = True) -> Daemon:
        log = tmp_path / f"run-{len(started)}.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                [SCHEDCTL, "run", str(jobfile), *map(str, args)], cwd=tmp_path, env=cli_env,
                stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True,
            )
        daemon = Daemon(proc, log)
        started.append(daemon)
        return daemon.wait_ready() if ready else daemon

    yield start
    for daemon in started:
        daemon.kill()
