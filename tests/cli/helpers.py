"""Waiting on conditions and watching a running ``schedctl run`` from a test.

Nothing here sleeps for logic: ``wait_until`` polls a predicate every 50 ms up
to a deadline and fails with a message that says what never became true.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.history import RunHistory, RunRecord
from schedctl.state.sync import sync_jobs

T = TypeVar("T")

POLL_SECONDS = 0.05

#: How long to wait for something that is bound to happen (a log line, a run, an exit)
#: before failing. An upper bound, not a timing: on a loaded machine a process can take
#: seconds to start, and a passing test never waits it out.
PATIENCE = 20.0


def wait_until(
    predicate: Callable[[], T], timeout: float = PATIENCE, *, what: str = "",
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy (and return that), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n--- context ---\n{context()}" if context else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate!r}{extra}")
        time.sleep(POLL_SECONDS)


def sample_jobfile(backup: str = "backup", description: str = "") -> str:
    """The jobs the read commands are shown on: ``backup`` (named by the caller) every night,
    ``report`` every hour and ``cleanup`` weekly but paused; their state is ``state.db``."""
    described = f"\n    description: {description}" if description else ""
    return f"""\
state: state.db
timezone: UTC
jobs:
  {backup}:{described}
    command: /usr/local/bin/backup --all
    cron: "30 2 * * *"
  report:
    command: echo report
    interval: 1h
  cleanup:
    command: echo cleanup
    cron: "0 4 * * 0"
    paused: true
"""


@contextmanager
def seeding(where: Path, jobs: str, synced_at: datetime) -> Iterator[RunHistory]:
    """Writes ``jobs`` as ``where/jobs.yaml``, syncs it into ``where/state.db`` as ``schedctl
    run`` would at ``synced_at``, and gives the history to seed; the store is closed after."""
    (where / "jobs.yaml").write_text(jobs)
    store = SQLiteJobStore(path=where / "state.db")
    try:
        sync_jobs(load_jobfile(where / "jobs.yaml"), store, synced_at)
        yield RunHistory(store)
    finally:
        store.shutdown()


def read_runs(state: Path, job_id: str | None = None) -> list[RunRecord]:
    """Every history row of ``state`` (newest first), read the way the CLI reads them."""
    if not state.exists():
        return []
    store = SQLiteJobStore(path=state)
    try:
        return RunHistory(store).runs(job_id, limit=100_000)
    finally:
        store.shutdown()


def file_bytes(state: Path) -> dict[str, bytes]:
    """The state file and its WAL/lock companions, byte for byte."""
    return {
        path.name: path.read_bytes()
        for path in sorted(state.parent.glob(state.name + "*"))
        if path.is_file() and not path.name.endswith(".wake")
    }


class RunWatcher:
    """Notes, by ``time.monotonic``, when each history row was first seen."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.seen: dict[int, tuple[str, float]] = {}

    def poll(self) -> RunWatcher:
        now = time.monotonic()
        for record in read_runs(self.state):
            self.seen.setdefault(record.run_id, (record.job_id, now))
        return self

    def times(self, job_id: str, after: float = float("-inf")) -> list[float]:
        return sorted(t for job, t in self.seen.values() if job == job_id and t > after)

    def count(self, job_id: str, after: float = float("-inf")) -> int:
        return len(self.times(job_id, after))


class Daemon:
    """A ``schedctl run`` subprocess in its own process group, its stderr in a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_log(self, text: str, timeout: float = PATIENCE, *, count: int = 1) -> None:
        wait_until(lambda: self.log().count(text) >= count or not self.alive(), timeout,
                   what=f"{text!r} in the log of schedctl run", context=self.log)
        assert self.log().count(text) >= count, f"schedctl run exited early:\n{self.log()}"

    def wait_ready(self, timeout: float = 2 * PATIENCE) -> Daemon:
        self.wait_for_log("schedctl started", timeout)
        return self

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"schedctl run did not exit within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """Teardown: SIGKILL the whole group (the scheduler and any job it started)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout)


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
