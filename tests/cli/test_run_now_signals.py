"""Ctrl-C on a foreground `schedctl run-now`, with the real executable and real signals.

Ctrl-C sends SIGINT to the terminal's foreground process group, which is schedctl's; the
command runs in a session of its own and gets nothing from the terminal. schedctl
stops it (SIGTERM, then SIGKILL after its kill_grace, or at once on a second Ctrl-C) and
records the run as interrupted, with the signal, before it exits with 128 + the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import process_gone, read_runs, wait_until

JOBS = """\
state: state.db
jobs:
  slow:
    command: 'echo $$ > {pidfile}; {trap}exec sleep 30'
    interval: 1h
    kill_grace: 20s
"""


def start_run_now(tmp_path: Path, env: dict[str, str], job: str = "slow") -> subprocess.Popen[str]:
    """``schedctl run-now slow`` on a state file with no scheduler, as a shell starts a
    foreground job: in its own process group."""
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(load_jobfile(tmp_path / "jobs.yaml"), store, datetime.now(UTC))
    store.shutdown()
    return subprocess.Popen([SCHEDCTL, "run-now", "-f", "jobs.yaml", job], cwd=tmp_path,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def command_pid(pidfile: Path) -> int:
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10,
               what="the command to start")
    return int(pidfile.read_text())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "sigterm", "sighup"])
def test_a_signal_records_the_foreground_run_as_interrupted(tmp_path, cli_env, jobfile, state,
                                                            schedctl, signum):
    pidfile = tmp_path / "pid"
    jobfile(JOBS.format(pidfile=pidfile, trap=""))
    proc = start_run_now(tmp_path, cli_env)
    pid = command_pid(pidfile)

    os.killpg(proc.pid, signum)
    out, err = proc.communicate(timeout=15)

    assert proc.returncode == 128 + signum, (out, err)
    assert "Traceback" not in err, err
    assert f"slow: interrupted by {signal.Signals(signum).name} in the foreground" in out
    assert process_gone(pid), "the command was left running"
    [run] = read_runs(state, "slow")
    assert (run.state, run.signal, run.reason) == ("interrupted", signum, "run-now")
    assert run.finished_at is not None and run.duration is not None
    listed = schedctl("list", "-f", "jobs.yaml", "--json")
    assert '"state": "running"' not in listed.stdout


def test_a_second_ctrl_c_kills_a_command_that_ignores_sigterm_at_once(tmp_path, cli_env, jobfile,
                                                                      state):
    pidfile = tmp_path / "pid"
    jobfile(JOBS.format(pidfile=pidfile, trap='trap "" TERM; '))
    proc = start_run_now(tmp_path, cli_env)
    pid = command_pid(pidfile)

    os.killpg(proc.pid, signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):  # SIGTERM is ignored; kill_grace is 20 s
        proc.wait(1.0)
    assert not process_gone(pid)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=10)

    assert proc.returncode == 130, (out, err)
    assert process_gone(pid)
    [run] = read_runs(state, "slow")
    assert (run.state, run.signal) == ("interrupted", signal.SIGINT)


def test_ctrl_c_records_a_python_job_at_once(tmp_path, cli_env, jobfile, state):
    """Nothing stops a Python function from outside; the run is recorded and schedctl
    exits at once rather than wait out a kill_grace (10 s) for a command there is not."""
    jobfile("""\
        state: state.db
        jobs:
          nap: {call: 'time:sleep', args: [120], interval: 1h}
    """)
    proc = start_run_now(tmp_path, cli_env, "nap")
    wait_until(lambda: [r for r in read_runs(state, "nap") if r.state == "running"], 10,
               what="the run to start")
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=8)  # before the 10 s grace of a command ends
    assert proc.returncode == 130, (out, err)
    [run] = read_runs(state, "nap")
    assert (run.state, run.signal) == ("interrupted", signal.SIGINT)
