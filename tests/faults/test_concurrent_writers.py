"""Four processes send 1,000 pause, resume and run-now commands while ``schedctl run`` runs.

The writers (``tests/faults/_writer.py``) run the click commands themselves, each
opening the state file as ``schedctl`` does, and fight over two shared jobs while each
also steers one job of its own. Required, and checked:

* no "database is locked" (or any other error) reaches a user: every command exits 0
  with nothing on stderr;
* the final state of each job is the last write: for a job with one writer, its last
  command; for the shared jobs, the command of one of the writers still running at the
  end (which one committed last cannot be told from outside, but nothing older may win);
* the scheduler obeys every change within 1 s: a paused job starts no run more than 1 s
  after its pause returned, a resumed job (interval 0.1 s) runs again within 1 s, and
  every run-now starts (or is recorded as skipped) within 1 s of its request.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.cli.helpers import read_runs
from tests.faults.harness import db_next_run_times

WRITERS = 4
COMMANDS = 1000
OBEY_BOUND = 1.0
ROOT = Path(__file__).parents[2]
SEED = int(os.environ.get("SCHEDCTL_WRITERS_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)

JOBS = "state: state.db\ndefaults: {command: 'true'}\njobs:\n" + "".join(
    [f"  own-{i}: {{interval: 0.1s}}\n  now-{i}: {{cron: '0 0 1 1 *'}}\n" for i in range(WRITERS)]
    + ["  shared-0: {interval: 0.2s}\n  shared-1: {interval: 0.2s}\n"]
)


def run_writers(state: Path, env: dict[str, str]) -> list[dict]:
    env = {**env, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.faults._writer", str(state), str(i),
             str(COMMANDS // WRITERS), str(SEED)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for i in range(WRITERS)
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(proc.returncode == 0 for proc in procs)
    return [json.loads(line) for out in outputs for line in out.splitlines()]


def started_at(state: Path) -> dict[str, list[float]]:
    runs = defaultdict(list)
    for record in read_runs(state):
        if record.started_at is not None:
            runs[record.job_id].append(record.started_at.timestamp())
    return {job: sorted(times) for job, times in runs.items()}


def obey_pause_resume(commands: list[dict], runs: list[float]) -> tuple[float, float, list[str]]:
    """(pause latency, resume latency, violations) for one job steered by one writer."""
    pause_lag = resume_lag = 0.0
    violations = []
    for cmd, following in zip(commands, commands[1:] + [None]):
        until = following["t0"] if following else float("inf")
        if cmd["verb"] == "pause":
            late = [t - cmd["t1"] for t in runs if cmd["t0"] <= t < until]
            pause_lag = max([pause_lag, *late])
            if any(lag > OBEY_BOUND for lag in late):
                violations.append(f"ran {max(late):.3f}s after {cmd}")
        else:
            first = next((t for t in runs if cmd["t0"] <= t <= (following or {}).get("t1", until)), None)
            if first is not None:
                resume_lag = max(resume_lag, first - cmd["t1"])
            elif until - cmd["t1"] > OBEY_BOUND:
                violations.append(f"no run for {until - cmd['t1']:.3f}s after {cmd}")
    return pause_lag, resume_lag, violations


@pytest.mark.slow  # about 10 s: 1,000 commands against a busy scheduler
def test_four_writers_and_a_running_scheduler(jobfile, scheduler, state, cli_env):
    daemon = scheduler(jobfile(JOBS))
    commands = run_writers(state, cli_env)
    time.sleep(OBEY_BOUND + 0.2)  # let the last changes be obeyed before reading the outcome
    final = {job: next_run is None for job, next_run in db_next_run_times(state).items()}
    assert daemon.alive()
    log = daemon.log()

    assert len(commands) == COMMANDS
    failed = [c for c in commands if c["code"] != 0 or c["err"] or c["crash"]]
    assert not failed, failed[:5]
    assert "locked" not in log and "busy" not in log and "Traceback" not in log, log[-3000:]

    by_job = defaultdict(list)
    for cmd in sorted(commands, key=lambda c: c["t0"]):
        by_job[cmd["job"]].append(cmd)
    for i in range(WRITERS):  # one writer: its last command decides
        assert final[f"own-{i}"] == (by_job[f"own-{i}"][-1]["verb"] == "pause")
    for job in ("shared-0", "shared-1"):
        cmds = by_job[job]
        last_start = max(c["t0"] for c in cmds)
        candidates = {c["verb"] == "pause" for c in cmds if c["t1"] >= last_start}
        assert final[job] in candidates, (job, final[job], cmds[-4:])

    runs = started_at(state)
    pause_lag = resume_lag = 0.0
    for i in range(WRITERS):
        p, r, violations = obey_pause_resume(by_job[f"own-{i}"], runs.get(f"own-{i}", []))
        assert not violations, violations
        pause_lag, resume_lag = max(pause_lag, p), max(resume_lag, r)
    run_now_lag = []
    for record in read_runs(state):
        if record.job_id.startswith("now-"):
            began = record.started_at or record.finished_at
            run_now_lag.append((began - record.scheduled_for).total_seconds())
    requests = sum(c["verb"] == "run-now" for c in commands)
    assert len(run_now_lag) == requests  # every request started, or was recorded as skipped
    assert max(run_now_lag) <= OBEY_BOUND

    span = max(c["t1"] for c in commands) - min(c["t0"] for c in commands)
    print(f"\nconcurrent writers (seed {SEED}): {COMMANDS} commands in {span:.2f}s "
          f"({COMMANDS / span:.0f}/s), errors 0; obey latency: pause {pause_lag:.3f}s, "
          f"resume {resume_lag:.3f}s, run-now {max(run_now_lag):.3f}s over {requests} requests")
