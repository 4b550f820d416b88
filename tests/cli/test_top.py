"""``schedctl top`` in a real terminal: tmux runs it at 80 columns beside a real
``schedctl run``; the test reads the pane, sends a key, and sees it quit. Piped, it prints
one frame and exits."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len

from schedctl.clock import SystemClock
from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.live import live_runs
from schedctl.state.sync import sync_jobs
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import read_runs, wait_until
from tests.prerequisites import need

JOBS = """
    state: state.db
    timezone: UTC
    jobs:
      long-job:
        command: 'echo "first line"; echo "second line"; echo "third line"; sleep 60'
        interval: 1h
        retries: 1
      quick:
        command: echo quick
        interval: 1h
"""


class Pane:
    """One tmux session on a server of its own (its socket under tmp_path)."""

    def __init__(self, socket: Path, env: dict[str, str]) -> None:
        self.socket, self.env = socket, env

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], env=self.env,
                              capture_output=True, text=True, timeout=10, check=True).stdout

    def start(self, command: str, width: int = 80, height: int = 24) -> None:
        self.tmux("new-session", "-d", "-s", "top", "-x", str(width), "-y", str(height), command)

    def screen(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "top").rstrip("\n").split("\n")

    def wait_for(self, test: Callable[[list[str]], bool], what: str) -> list[str]:
        """The screen, once ``test`` holds for it."""
        def shown() -> list[str] | None:
            screen = self.screen()
            return screen if test(screen) else None

        found: list[str] = wait_until(shown, what=what, context=lambda: "\n".join(self.screen()))
        return found


@pytest.fixture
def pane(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[Pane]:
    need("tmux")
    env = {**cli_env, "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    pane = Pane(tmp_path / "tmux.sock", env)
    yield pane
    subprocess.run(["tmux", "-S", str(pane.socket), "kill-server"], env=env, capture_output=True,
                   timeout=10, check=False)


def _published(state: Path) -> int | None:
    """The long job's pid, once the scheduler has published its output."""
    store = SQLiteJobStore(path=state)
    try:
        runs = [run for run in live_runs(store) if "third line" in run.output]
    finally:
        store.shutdown()
    return runs[0].pid if runs else None


@pytest.fixture
def busy(schedctl, jobfile, scheduler, state) -> Iterator[tuple[Path, int]]:
    """A running scheduler: quick has run, long-job runs now and has printed its lines.
    Stopped with SIGTERM at the end, which ends long-job's process group too."""
    path = jobfile(JOBS)
    daemon = scheduler(path, "--shutdown-timeout", "0.1s")
    assert schedctl("run-now", "-f", path, "quick").returncode == 0
    wait_until(lambda: any(r.state == "success" for r in read_runs(state, "quick")),
               what="quick to succeed")
    assert schedctl("run-now", "-f", path, "long-job").returncode == 0
    pid = wait_until(lambda: _published(state), what="long-job's output published")
    yield path, pid
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0


@pytest.mark.parametrize("key", ["q", "C-c"], ids=["q", "ctrl-c"])
def test_top_in_a_terminal_shows_what_runs_and_quits_on_a_key(pane, busy, key):
    path, pid = busy
    pane.start(f"{SCHEDCTL} top -f {path}; echo EXIT=$?; sleep 60")
    lines = pane.wait_for(lambda screen: any("third line" in line for line in screen)
                          and any(line.startswith("quick ") for line in screen),
                          "top to show the running job and the latest run")

    assert max(cell_len(line) for line in lines) <= 80
    assert lines[0].startswith("schedctl top  running  2 jobs")
    running = lines[lines.index("RUNNING (1)"):lines.index("NEXT")]
    [row] = [line for line in running if line.startswith("long-job ")]
    assert row.split()[1:4:2] == ["1/2", str(pid)]  # attempt 1 of 2; ELAPSED in between
    assert row.endswith("first line")
    assert any(line.strip() == "third line" for line in running)
    titles = [line for line in lines if line in ("RUNNING (1)", "NEXT", "LATEST")]
    assert titles == ["RUNNING (1)", "NEXT", "LATEST"]
    assert any(re.match(r"quick\s+\S+ ago\s+✔ success \(\S+\)", line) for line in lines)

    pane.tmux("send-keys", "-t", "top", key)
    after = pane.wait_for(lambda screen: any(line.startswith("EXIT=") for line in screen),
                          f"top to quit on {key}")
    assert "EXIT=0" in after and not any("Traceback" in line for line in after)
    assert not any(line.startswith("RUNNING") for line in after)  # the screen was given back


def test_top_without_a_terminal_prints_one_frame(schedctl, jobfile, state):
    path = jobfile(JOBS)
    store = SQLiteJobStore(path=state)  # a state file no scheduler runs
    sync_jobs(load_jobfile(path), store, SystemClock().now())
    store.shutdown()

    result = schedctl("top", "-f", path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("schedctl top  no scheduler running  2 jobs")
    assert lines[1:3] == ["RUNNING (0)", "  nothing"]
    assert [line for line in lines if line in ("NEXT", "LATEST")] == ["NEXT", "LATEST"]
    assert sum(1 for line in lines if re.match(r"(long-job|quick)\s+\d\d-\d\d ", line)) == 2


