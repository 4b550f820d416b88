"""The state file removed, replaced by a rename or truncated while `schedctl run` runs,
with the real executable.

The scheduler notices at its next heartbeat (every 10 s, or half of WATCHDOG_USEC under
systemd; these tests set WATCHDOG_USEC so that it beats twice a second), says so as an
error, and takes the file back. Until then a command refuses to work on a file the
scheduler does not use, rather than answer 'paused' for a job that keeps running.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.history import RunHistory
from schedctl.errors import StoreError
from schedctl.state.runlock import RunLock, held_lock
from schedctl.state.sync import sync_jobs
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import Daemon, as_json, read_runs, wait_until
from tests.faults.harness import read_ledger
from tests.faults.test_broken_state import fill, tmpfs

JOBS = """\
state: state.db
jobs:
  tick: {{command: 'echo "$SCHEDCTL_JOB_ID $SCHEDCTL_SCHEDULED_FOR" >> {ledger}', interval: 0.3s}}
  held: {{command: 'true', interval: 1h}}
"""

CHANGES = ["removed", "replaced", "truncated"]
NOBODY = 65534  # a real user that is neither root nor us


@pytest.fixture
def running(tmp_path: Path, cli_env: dict[str, str]):
    """A scheduler with a fast heartbeat, 'held' paused from the command line, 'tick' run."""
    (tmp_path / "jobs.yaml").write_text(JOBS.format(ledger=tmp_path / "ledger.txt"))
    env = {**cli_env, "WATCHDOG_USEC": "1000000"}  # a heartbeat every 0.5 s
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([SCHEDCTL, "run", "jobs.yaml"], cwd=tmp_path, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    daemon = Daemon(proc, log).wait_ready()
    try:
        assert cli(tmp_path, cli_env, "pause", "held").returncode == 0
        wait_until(lambda: len(read_ledger(tmp_path / "ledger.txt")) >= 2, what="tick to run",
                   context=daemon.log)
        yield daemon
    finally:
        daemon.kill()


def cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCHEDCTL, *args, "-f", "jobs.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30, check=False)


def change_file(state: Path, change: str) -> None:
    if change == "removed":
        state.unlink()
    elif change == "replaced":  # a copy put back, as a restore from a backup does
        copy = state.with_name("copy.db")
        with sqlite3.connect(state) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        os.replace(copy, state)
    else:
        os.truncate(state, 0)


@pytest.mark.parametrize("change", CHANGES)
def test_commands_refuse_a_file_the_scheduler_does_not_use(tmp_path, cli_env, change):
    """A scheduler holds the lock (here this process, as schedctl run does), and the file at
    the path is no longer the one it uses: no command works on it, and it stays as it is."""
    (tmp_path / "jobs.yaml").write_text(JOBS.format(ledger=tmp_path / "ledger.txt"))
    state = tmp_path / "state.db"
    with RunLock(str(state)):
        store = SQLiteJobStore(path=state)
        sync_jobs(load_jobfile(tmp_path / "jobs.yaml"), store, datetime.now(UTC))
        store.shutdown()
        change_file(state, change)
        before = state.read_bytes() if state.exists() else None
        for command in (["pause", "tick"], ["list"], ["history"], ["run-now", "tick"]):
            result = cli(tmp_path, cli_env, *command)
            assert result.returncode == 1, (command, result.stdout)
            assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
            how = {"removed": "was removed", "replaced": "was replaced by another file",
                   "truncated": "was emptied (truncated)"}[change]
            assert f"state.db {how} while the running scheduler (pid {os.getpid()})" \
                in result.stderr, result.stderr
            assert "nothing was changed" in result.stderr
        assert (state.read_bytes() if state.exists() else None) == before


@pytest.mark.parametrize("change", CHANGES)
def test_run_takes_the_state_file_back_within_a_heartbeat(tmp_path, cli_env, running, change):
    state = tmp_path / "state.db"
    runs_before = len(read_runs(state, "tick"))
    change_file(state, change)
    running.wait_for_log("The state file", count=2, timeout=10)
    said = {"removed": "was removed", "replaced": "was replaced by another file (renamed over it)",
            "truncated": "was truncated"}[change]
    assert f"ERROR   The state file {state} {said} while schedctl was running on it" \
        in running.log()

    paused = cli(tmp_path, cli_env, "pause", "tick")
    assert paused.returncode == 0 and "tick: paused" in paused.stdout, paused.stderr
    paused_at = time.time()
    assert_obeyed(tmp_path, cli_env, state, paused_at)

    jobs = {job["id"]: job for job in as_json(cli(tmp_path, cli_env, "list", "--json"))}
    # Kept in the scheduler's copy or in the copy put back. A truncated file is written anew
    # from the scheduler's copy when that reads whole (a small file does, from its cache),
    # else made anew from the jobfile, and its pauses went with it.
    kept = "written anew from the scheduler's copy" in running.log()
    assert kept or change != "removed"
    assert (jobs["held"]["next_run_time"] is None) == (change == "replaced" or kept)
    if change == "removed":
        assert len(read_runs(state, "tick")) >= runs_before  # the history came back too

    running.signal(signal.SIGTERM)
    assert running.wait_exit() == 0
    assert "Traceback" not in running.log()


def test_a_file_of_another_user_renamed_there_is_not_used(tmp_path, cli_env, running):
    """A state file decides what runs: one another user owns is written over with the
    scheduler's copy, not used."""
    state = tmp_path / "state.db"
    change_file(state, "replaced")
    os.chown(state, NOBODY, NOBODY)
    running.wait_for_log("The state file", count=2, timeout=10)
    assert "fails the trust rule" in running.log()
    assert "is written anew from the scheduler's copy" in running.log()
    assert state.stat().st_uid == os.geteuid()
    jobs = {job["id"]: job for job in as_json(cli(tmp_path, cli_env, "list", "--json"))}
    assert jobs["held"]["next_run_time"] is None  # the scheduler's own pause


def assert_obeyed(tmp_path: Path, env: dict[str, str], state: Path, paused_at: float) -> None:
    """No run of tick was scheduled after its pause, once the scheduler has made a pass
    after tick's next slot (a run asked of another job shows that it has)."""
    wait_until(lambda: time.time() > paused_at + 0.7, what="tick's next slot to pass")
    assert cli(tmp_path, env, "run-now", "held").returncode == 0
    wait_until(lambda: read_runs(state, "held"), 10, what="the run of held",
               context=lambda: (tmp_path / "run.log").read_text())
    late = [when for job, when in read_ledger(tmp_path / "ledger.txt")
            if job == "tick" and when / 1000 > paused_at + 0.05]
    assert late == [], "tick ran after it was paused"


def test_a_removed_lock_file_is_taken_again(tmp_path, cli_env, running):
    lock = tmp_path / "state.db.lock"
    lock.unlink()
    running.wait_for_log("The lock file of", timeout=10)
    assert lock.exists()
    second = subprocess.run([SCHEDCTL, "run", "jobs.yaml"], cwd=tmp_path, env=cli_env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert second.returncode == 1 and "already running" in second.stderr


def test_a_lock_that_cannot_be_taken_again_on_a_full_disk_stays_known_as_held(tmp_path):
    """A retake that fails (no space for the pid) leaves the old lock held and this process
    still its holder, so the next heartbeat tries again; forgotten, none ever would."""
    with tmpfs(tmp_path / "disk", "256k") as disk:
        state = str(disk / "state.db")
        lock = RunLock(state).acquire()
        try:
            os.unlink(state + ".lock")
            fill(disk)
            assert lock.lost()
            with pytest.raises(StoreError, match="cannot write the lock file"):
                lock.retake(None)
            assert held_lock(state) is lock
        finally:
            lock.release()


def test_take_back_keeps_what_a_removed_file_held(tmp_path):
    """The store level: the connection still reads the removed file; it is written anew."""
    path = tmp_path / "state.db"
    store = SQLiteJobStore(path=path)
    assert RunHistory(store).claim_boot_run("probe", "boot-1")
    opened = store.opened
    path.unlink()
    assert store.file_change() == "removed"
    assert store.take_back("removed") is True
    assert store.file_change() is None and store.opened != opened
    assert not RunHistory(store).claim_boot_run("probe", "boot-1")  # remembered: kept
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    store.shutdown()


@pytest.mark.parametrize("size", [0, 1000], ids=["emptied", "cut"])
def test_a_truncated_file_is_made_anew(tmp_path, size):
    path = tmp_path / "state.db"
    store = SQLiteJobStore(path=path)
    RunHistory(store).claim_boot_run("probe", "boot-1")
    os.truncate(path, size)
    assert store.file_change() == "truncated"
    store.take_back("truncated")
    assert store.file_change() is None
    with store._reading() as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store.shutdown()
