"""Commands that cannot run, or that misbehave, under a real ``schedctl run``.

Each has a defined outcome in the history, and the scheduler keeps going (a witness job
runs every 0.2 s throughout):

| command | outcome |
|---|---|
| argv whose program does not exist | ``not_started``: "command not found: '...'" |
| shell line whose program does not exist | ``failed``, exit 127, "command not found (reported by /bin/sh)" |
| a shell that does not exist | ``not_started``: "shell not found: '...'" |
| ``cwd`` that does not exist | ``not_started``: "working directory does not exist: '...'" |
| argv of a file without execute permission | ``not_started``: "permission denied: '...' is not executable" |
| shell line naming such a file | ``failed``, exit 126, "command not executable (reported by /bin/sh)" |
| closes its stdout and keeps running | the run lasts until the process exits: ``success``, output before the close kept |
| forks a daemon that keeps the output pipe, and exits | ``success`` at once (output drained for at most 1 s), a warning names the leftover; the daemon keeps running, as under cron |
| forks a daemon that closed its descriptors, and exits | ``success``, no warning; the daemon keeps running |
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import process_gone, read_runs, wait_until

NEVER = "0 0 1 1 *"  # the jobs below run only when asked (run-now), exactly once each


def jobs(tmp: Path, witness: str) -> str:
    noexec = tmp / "noexec.sh"
    noexec.write_text("#!/bin/sh\necho should not run\n")
    noexec.chmod(0o644)
    return f"""
state: state.db
defaults: {{cron: "{NEVER}"}}
jobs:
  witness: {{command: '{witness}', interval: 0.2s}}
  missing-argv: {{command: [/nonexistent/bin/tool, --flag]}}
  missing-shell-command: {{command: 'no-such-command-xyz --flag'}}
  missing-shell: {{command: 'true', shell: /nonexistent/sh}}
  bad-cwd: {{command: 'true', cwd: /nonexistent/dir}}
  noexec-argv: {{command: ['{noexec}']}}
  noexec-shell: {{command: '{noexec}'}}
  closes-stdout: {{command: 'echo before; exec >&- 2>&-; sleep 1; touch {tmp}/still-ran'}}
  forks-daemon: {{command: 'sleep 30 & echo $! > {tmp}/daemon.pid; echo started'}}
  forks-quiet-daemon: {{command: 'setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $! > {tmp}/quiet.pid'}}
"""


EXPECTED = {
    "missing-argv": ("not_started", None, "command not found: '/nonexistent/bin/tool'"),
    "missing-shell-command": ("failed", 127, "command not found (reported by /bin/sh)"),
    "missing-shell": ("not_started", None, "shell not found: '/nonexistent/sh'"),
    "bad-cwd": ("not_started", None, "working directory does not exist: '/nonexistent/dir'"),
    "noexec-argv": ("not_started", None, "noexec.sh' is not executable"),
    "noexec-shell": ("failed", 126, "command not executable (reported by /bin/sh)"),
    "closes-stdout": ("success", 0, None),
    "forks-daemon": ("success", 0, None),
    "forks-quiet-daemon": ("success", 0, None),
}


@pytest.fixture
def leftover_daemons(tmp_path: Path):
    yield
    for name in ("daemon.pid", "quiet.pid"):
        pidfile = tmp_path / name
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_bad_commands_have_defined_outcomes(tmp_path, cli_env, jobfile, scheduler, state,
                                            ledger, ledger_command, leftover_daemons):
    daemon = scheduler(jobfile(jobs(tmp_path, ledger_command)))
    asks = [subprocess.Popen([SCHEDCTL, "run-now", "--state", str(state), job_id], env=cli_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for job_id in EXPECTED]  # all at once: nine starts of Python take a while
    for ask in asks:
        assert ask.wait(30) == 0, ask.stderr.read()

    def finished() -> dict:
        rows = {r.job_id: r for r in read_runs(state) if r.job_id in EXPECTED}
        return rows if len(rows) == len(EXPECTED) and all(
            r.state != "running" for r in rows.values()) else {}

    rows = wait_until(finished, timeout=10, what="one finished run of each bad job",
                      context=daemon.log)
    for job_id, (outcome, exit_code, error) in EXPECTED.items():
        row = rows[job_id]
        assert (row.state, row.exit_code) == (outcome, exit_code), (job_id, row)
        if error:
            assert error in (row.error or ""), (job_id, row.error)

    closed = rows["closes-stdout"]
    assert closed.duration >= 1.0 and closed.output == "before\n"
    assert (tmp_path / "still-ran").exists()

    forked = rows["forks-daemon"]
    assert forked.duration < 2.0 and forked.output == "started\n"
    pid = int((tmp_path / "daemon.pid").read_text())
    assert not process_gone(pid), "the daemon a job left behind was killed"
    assert "forks-daemon: exited, but its output pipe is still held open" in daemon.log()
    quiet_pid = int((tmp_path / "quiet.pid").read_text())
    assert not process_gone(quiet_pid)
    assert "forks-quiet-daemon: exited, but" not in daemon.log()

    # The scheduler kept going: the witness ran all along, and still does.
    witness_runs = len(read_runs(state, "witness"))
    wait_until(lambda: len(read_runs(state, "witness")) >= witness_runs + 3,
               what="the witness to keep running", context=daemon.log)
    assert all(r.state in ("success", "running") for r in read_runs(state, "witness"))
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    assert "Traceback" not in daemon.log()
