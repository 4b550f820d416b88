"""Broken state files and disks, through the real ``schedctl`` executable.

Before or without a scheduler, a state file that is garbage, cut short, another program's
database, read-only or on a full disk gives one line on stderr naming the file and the
trouble, exit code 1, no traceback, and the file left as it was. (A read-only state can
only be met at start-up: Linux refuses to remount a file system read-only while a
scheduler holds its state file open for writing, EBUSY.)

While ``schedctl run`` runs, a disk that fills up or a file size limit (``ulimit -f``)
makes every write fail: the scheduler logs the error once, runs its jobs on schedule from
memory, retries the store every 5 s, and once the store works again goes on from where
memory got to, with no run twice (``test_store_outage.py`` has the component-level
cases, an unreadable store among them).

Faults come from a small tmpfs (``mount -t tmpfs -o size=...``, as root) when mounting is
allowed, else from RLIMIT_FSIZE; the tmpfs cases are skipped where neither root nor
mounting is available.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from schedctl.cli import main
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import Daemon, wait_until

JOBS = """
    state: state.db
    jobs:
      tick: {command: 'true', interval: 0.2s}
      other: {command: 'true', interval: 0.5s}
"""

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_state(directory: Path) -> Path:
    """A state file with jobs and some history, written as ``schedctl run`` writes it."""
    jobfile = directory / "jobs.yaml"
    jobfile.write_text(textwrap.dedent(JOBS))
    state = directory / "state.db"
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(jobfile), store, T0)
    history = RunHistory(store)
    for n in range(200):
        when = T0 + timedelta(seconds=n)
        history.started("tick", when, at=when, owner="host/1")
        history.finished("tick", when, RunOutcome("success", when, output="x" * 200), owner="host/1")
    store.shutdown()  # checkpoints: one file, no -wal
    return state


def spoil(state: Path, how: str) -> None:
    data = state.read_bytes()
    if how == "garbage":
        state.write_bytes(os.urandom(len(data)))
    elif how == "cut-in-half":
        state.write_bytes(data[: len(data) // 2])
    elif how == "cut-in-the-header":
        state.write_bytes(data[:60])
    elif how == "another-program":
        state.unlink()
        with sqlite3.connect(state) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")


SPOILED = {
    "garbage": "is not a schedctl state file (file is not a database)",
    "cut-in-half": "is damaged (database disk image is malformed); move it aside and restore it",
    "cut-in-the-header": "is damaged (database disk image is malformed)",
    "another-program": "is not a schedctl state file (it is an SQLite database of another program)",
}

#: Run as the real executable (in parallel); the rest of the commands through click in-process.
EXECUTED = [["list"], ["status"], ["pause", "tick"], ["run-now", "tick"], ["history"]]
IN_PROCESS = [["resume", "tick"], ["next", "tick"], ["history", "tick", "--json"], ["list", "--json"]]


def run_all(commands: list[list[str]], env: dict[str, str], cwd: Path) -> list[tuple[list[str], int, str]]:
    """Start every command at once (each start of Python takes ~0.25 s), then collect them."""
    procs = [(cmd, subprocess.Popen([SCHEDCTL, *cmd], cwd=cwd, env=env, text=True,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)) for cmd in commands]
    results = []
    for cmd, proc in procs:
        _, err = proc.communicate(timeout=30)
        results.append((cmd, proc.returncode, err))
    return results


def assert_one_clear_line(cmd: list[str], code: int, err: str, expected: str) -> None:
    assert code == 1, (cmd, code, err)
    assert "Traceback" not in err, (cmd, err)
    assert len(err.splitlines()) == 1 and err.startswith("schedctl: "), (cmd, err)
    assert expected in err, (cmd, err)


@pytest.mark.parametrize("how", SPOILED, ids=SPOILED.keys())
def test_a_spoiled_state_file_is_one_clear_line_and_exit_1(tmp_path, cli_env, how):
    state = make_state(tmp_path)
    spoil(state, how)
    before = state.read_bytes()
    commands = [[*cmd, "--state", str(state)] for cmd in EXECUTED]
    commands.append(["run", "--state", str(state), str(tmp_path / "jobs.yaml")])
    for cmd, code, err in run_all(commands, cli_env, tmp_path):
        assert_one_clear_line(cmd, code, err, f"{state} {SPOILED[how]}")
    for cmd in IN_PROCESS:
        result = CliRunner().invoke(main, [*cmd, "--state", str(state)])
        assert isinstance(result.exception, SystemExit), result.exception
        assert_one_clear_line(cmd, result.exit_code, result.stderr, SPOILED[how])
    assert state.read_bytes() == before, "a spoiled state file was changed"


# -- faults of the file system ------------------------------------------------------------------


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                              str(where)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


def fill(where: Path) -> Path:
    filler = where / "filler"
    try:
        with filler.open("wb") as out:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
    except OSError:  # ENOSPC: full
        pass
    return filler


def file_size_limit(limit: int) -> Callable[[], None]:
    def limit_it() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return limit_it


@contextmanager
def read_only(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A directory holding a state file and a jobfile that cannot be written: a read-only
    tmpfs as root (to whom permissions mean nothing), else plain permissions."""
    make_state(tmp_path)
    if os.geteuid() != 0:
        place = tmp_path
        (place / "state.db").chmod(0o444)
        place.chmod(0o555)
        try:
            yield place, "this user may not write it", "Permission denied"
        finally:
            place.chmod(0o755)
        return
    with tmpfs(tmp_path / "ro", "4m") as place:
        shutil.copy(tmp_path / "state.db", place / "state.db")
        shutil.copy(tmp_path / "jobs.yaml", place / "jobs.yaml")
        remount(place, "ro")
        try:
            yield place, "its file system is read-only", "Read-only file system"
        finally:
            remount(place, "rw")


def test_a_read_only_state_file_is_one_clear_line_and_exit_1(tmp_path, cli_env):
    with read_only(tmp_path) as (place, why, lock_why):
        state = place / "state.db"
        commands = [[*cmd, "--state", str(state)] for cmd in EXECUTED]
        for cmd, code, err in run_all(commands, cli_env, tmp_path):
            assert_one_clear_line(cmd, code, err, f"{state} cannot be opened: {why}")
        [(cmd, code, err)] = run_all([["run", str(place / "jobs.yaml")]], cli_env, tmp_path)
        assert_one_clear_line(cmd, code, err, f"cannot create the lock file ({lock_why})")


@pytest.mark.parametrize("fault", ["tmpfs", "ulimit"])
def test_a_full_disk_at_start_is_one_clear_line_and_exit_1(tmp_path, cli_env, fault):
    """Neither a new state file nor an existing one can be used: even reading needs room for
    SQLite's 32 KiB shared-memory file (``state.db-shm``) when no scheduler has it open."""
    existing = make_state(tmp_path)
    if fault == "tmpfs":
        context = tmpfs(tmp_path / "full", "256k")
        limit, expected = None, "the disk is full"
    else:
        context = nullcontext(tmp_path)
        limit = file_size_limit(16 * 1024)
        expected = "this process may not write files over 16,384 bytes (ulimit -f)"
    with context as place:
        if fault == "tmpfs":
            shutil.copy(tmp_path / "jobs.yaml", place / "jobs.yaml")
            existing = Path(shutil.copy(existing, place / "existing.db"))
            fill(place)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([SCHEDCTL, *args], cwd=place, env=cli_env, capture_output=True,
                                  text=True, timeout=30, preexec_fn=limit, check=False)

        started = run("run", "--state", str(place / "new.db"), str(place / "jobs.yaml"))
        assert_one_clear_line(["run"], started.returncode, started.stderr,
                              "No space left on device" if fault == "tmpfs" else expected)
        paused = run("pause", "--state", str(existing), "tick")
        assert_one_clear_line(["pause"], paused.returncode, paused.stderr, expected)
        listed = run("list", "--state", str(existing))  # even reading: SQLite's WAL needs its
        assert_one_clear_line(["list"], listed.returncode, listed.stderr, expected)  # -shm file


# -- while running ------------------------------------------------------------------------------


class PipedDaemon(Daemon):
    """``schedctl run`` whose stderr goes through a pipe (``cat`` writes the log file), so a
    file size limit on the scheduler does not silence its log."""

    @classmethod
    def start(cls, jobfile: Path, log: Path, env: dict[str, str], *args: str) -> PipedDaemon:
        proc = subprocess.Popen([SCHEDCTL, "run", "--log-format", "json", *args, str(jobfile)],
                                cwd=jobfile.parent, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        with log.open("wb") as out:
            cls.cat = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=out)
        proc.stderr.close()
        return cls(proc, log).wait_ready()

    def events(self) -> list[dict]:
        lines = [line for line in self.log().splitlines() if line.startswith("{")]
        return [json.loads(line) for line in lines]


def started(events: list[dict], job_id: str, after: float = 0.0) -> list[str]:
    return [e["scheduled_for"] for e in events if e.get("job_id") == job_id
            and e.get("event") == "started" and _time(e) >= after]


def _time(event: dict) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


@pytest.mark.slow  # about 8 s each: the store is retried every 5 s
@pytest.mark.parametrize("fault", ["disk-full", "file-size-limit"])
def test_the_state_fails_while_running_and_the_jobs_go_on(tmp_path, cli_env, fault):
    if fault == "disk-full":
        context = tmpfs(tmp_path / "disk", "2m")
    else:
        context = nullcontext(tmp_path)
    with context as place:
        jobfile = place / "jobs.yaml"
        jobfile.write_text(textwrap.dedent(JOBS))
        daemon = PipedDaemon.start(jobfile, tmp_path / "run.log", cli_env)
        try:
            wait_until(lambda: len(started(daemon.events(), "tick")) >= 3, what="tick to run")
            began = time.time()
            if fault == "disk-full":
                filler = fill(place)
            else:
                resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
            failure = "the disk is full" if fault == "disk-full" else "(ulimit -f)"
            wait_until(lambda: any(failure in e["message"] and e["level"] == "error"
                                   for e in daemon.events()),
                       timeout=10, what="the store error in the log", context=daemon.log)
            wait_until(lambda: len(started(daemon.events(), "tick", after=began + 0.3)) >= 5,
                       what="tick to go on running from memory", context=daemon.log)
            ended = time.time()
            if fault == "disk-full":
                filler.unlink()
            else:
                resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE,
                                 (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            wait_until(lambda: any(e["message"].startswith("Job store 'default' works again")
                                   for e in daemon.events()),
                       timeout=10, what="the store to be retried and work", context=daemon.log)
            recovered = time.time()
            wait_until(lambda: len(started(daemon.events(), "tick", after=recovered)) >= 3,
                       what="tick to run after the recovery", context=daemon.log)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait_exit() == 0
        finally:
            daemon.kill()
            daemon.cat.wait(5)

        events = daemon.events()
        errors = [e for e in events if e["level"] == "error"]
        assert len(errors) == 1 and "Job store 'default' failed" in errors[0]["message"], errors
        assert not [e for e in events if "traceback" in e]
        ticks = started(events, "tick")
        assert len(ticks) == len(set(ticks)), "a slot ran twice"
        during = started(events, "tick", after=began + 0.3)
        during = [t for t in during if t not in started(events, "tick", after=ended)]
        assert len(during) >= 0.5 * (ended - began - 0.3) / 0.2, during  # on schedule
        store = SQLiteJobStore(path=place / "state.db")
        history = RunHistory(store).runs("tick", limit=10_000)
        assert [r.state for r in history if r.state not in ("success", "running")] == []
        recorded = [r.scheduled_for.isoformat() for r in history]
        assert len(recorded) == len(set(recorded))
        assert store.lookup_job("tick").next_run_time > datetime.fromisoformat(ticks[-1])
        store.shutdown()


def test_sighup_and_sigterm_during_an_outage(tmp_path, cli_env):
    """A reload cannot sync a state file that cannot be written: it is refused and the jobs
    go on. A stop is still a clean stop (exit 0), its note in the state file left out."""
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text(textwrap.dedent(JOBS))
    daemon = PipedDaemon.start(jobfile, tmp_path / "run.log", cli_env)
    try:
        resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
        wait_until(lambda: any(e["level"] == "error" for e in daemon.events()),
                   what="the store error in the log", context=daemon.log)
        jobfile.write_text(textwrap.dedent(JOBS) + "  new: {command: 'true', interval: 1s}\n")
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: any(e["message"].startswith("Reload failed")
                                   and "still running the previous jobs: " in e["message"]
                                   for e in daemon.events()),
                   what="the reload to be refused", context=daemon.log)
        before = len(started(daemon.events(), "tick"))
        wait_until(lambda: len(started(daemon.events(), "tick")) >= before + 3,
                   what="tick to go on", context=daemon.log)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait_exit() == 0
    finally:
        daemon.kill()
        daemon.cat.wait(5)
    messages = [e["message"] for e in daemon.events()]
    assert messages[-1] == "schedctl stopped"
    assert messages[-2].startswith("Could not note the stop in the state file: ")
