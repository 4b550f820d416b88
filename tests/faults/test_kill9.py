"""kill -9 of ``schedctl run`` at random moments, 50 times, while short jobs run.

Each cycle starts the real executable, waits until it is up and one of its runs is in
flight (read from the history, not guessed with a sleep), lets a random 0-300 ms pass,
and sends SIGKILL; every fifth cycle is killed at a random moment of its start-up
instead. After every restart:

* ``PRAGMA integrity_check`` says ok;
* every run that started (a line in the ledger, written by the command itself) has a
  history row, ended as success, failed or interrupted unless its scheduler still runs;
* no (job, scheduled time) appears twice in the ledger;
* every job still has a next run time, no later than one interval (plus slack) from now.

The ``probe`` job checks the ordering the rest relies on, from inside a running command:
when a command starts, its claim (the job's advanced next run time) and its history row
are already committed. So a kill can fall between claim and start (a run recorded as
interrupted that never ran) but never between start and claim (a run no one recorded).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.cli.helpers import wait_until
from tests.faults.harness import (
    db_integrity,
    db_next_run_times,
    db_readonly,
    db_runs,
    duplicates,
    read_ledger,
)

CYCLES = 50
#: SIGKILL lands this long (uniformly at random) after a run of the new process is seen.
KILL_WINDOW = 0.3
#: The longest interval among the jobs below, for "no next run time is lost".
LONGEST_INTERVAL = 1.0
SEED = int(os.environ.get("SCHEDCTL_KILL9_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)

JOBS = """
    state: state.db
    defaults:
      command: '{cmd}'
    jobs:
      fast: {{command: '{cmd}; sleep 0.05', interval: 0.1s}}
      slow: {{command: '{cmd}; sleep 0.4', interval: 0.25s}}
      failing: {{command: '{cmd}; sleep 0.1; exit 3', interval: 0.3s}}
      secondly: {{cron: "* * * * * *"}}
      probe: {{command: '{cmd}; {python} {probe} {state} {probes}', interval: 0.2s}}
"""

PROBE = '''
import os, sqlite3, sys
from datetime import datetime
from schedctl.timeutil import to_epoch_ms

state, out = sys.argv[1:3]
job = os.environ["SCHEDCTL_JOB_ID"]
when = to_epoch_ms(datetime.fromisoformat(os.environ["SCHEDCTL_SCHEDULED_FOR"]))
conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10)
(next_run,) = conn.execute("SELECT next_run_time FROM jobs WHERE id = ?", (job,)).fetchone()
row = conn.execute("SELECT state FROM runs WHERE job_id = ? AND scheduled_for = ? AND attempt = 1"
                   " AND reason = 'schedule'", (job, when)).fetchone()
with open(out, "a") as probes:
    probes.write(f"{when} {next_run} {row[0] if row else None}\\n")
'''


def owner_of(pid: int) -> str:
    return f"{socket.gethostname()}/{pid}"


def running_rows(state: Path, owner: str) -> int:
    try:
        with db_readonly(state) as conn:
            return conn.execute(
                "SELECT count(*) FROM runs WHERE state = 'running' AND owner = ?", (owner,)
            ).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def check_after_restart(state: Path, ledger: Path, live_owner: str) -> list[str]:
    """What is wrong with the state file and the ledger now (empty: nothing)."""
    problems = []
    integrity = db_integrity(state)
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    entries = read_ledger(ledger)
    if duplicates(entries):
        problems.append(f"ran twice: {duplicates(entries)}")
    rows = db_runs(state)
    for entry in entries:
        if entry not in rows:
            problems.append(f"started without a history row: {entry}")
            continue
        outcome, owner = rows[entry]
        if outcome not in ("success", "failed", "interrupted") and owner != live_owner:
            problems.append(f"run of a dead scheduler left as {outcome!r}: {entry}")
    now_ms = time.time() * 1000
    for job_id, next_run in db_next_run_times(state).items():
        if next_run is None or next_run > now_ms + (LONGEST_INTERVAL + 1.0) * 1000:
            problems.append(f"next run time of {job_id} lost: {next_run}")
    return problems


@pytest.mark.slow  # about 40 s: 50 starts of the real executable
def test_kill_9_at_random_moments(tmp_path, jobfile, scheduler, state, ledger, ledger_command):
    rng = random.Random(SEED)
    probe, probes = tmp_path / "probe.py", tmp_path / "probes.txt"
    probe.write_text(PROBE)
    path = jobfile(JOBS.format(cmd=ledger_command, python=sys.executable, probe=probe,
                               state=state, probes=probes))
    integrity_ok, integrity_after_kill, startup_kills = 0, 0, 0
    for cycle in range(CYCLES):
        daemon = scheduler(path, ready=False)
        context = f"(seed {SEED}, cycle {cycle})"
        if cycle % 5 == 4:  # killed somewhere in its start-up: sync, migration, interrupting
            time.sleep(rng.uniform(0, 0.4))
            startup_kills += 1
        else:
            daemon.wait_ready()
            owner = owner_of(daemon.pid)
            problems = check_after_restart(state, ledger, owner)
            assert not problems, f"{context}: {problems}"
            integrity_ok += 1
            wait_until(lambda d=daemon, o=owner: running_rows(state, o) or not d.alive(), timeout=5,
                       what=f"a run in flight {context}", context=daemon.log)
            time.sleep(rng.uniform(0, KILL_WINDOW))
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.proc.wait(5)
        assert "Traceback" not in daemon.log(), f"{context}:\n{daemon.log()}"
        if state.exists():  # a start-up kill may come before the file exists
            assert db_integrity(state) == "ok", context
            integrity_after_kill += 1

    final = scheduler(path)  # one clean start and stop after the last kill
    assert not check_after_restart(state, ledger, owner_of(final.pid))
    final.signal(signal.SIGTERM)
    assert final.wait_exit() == 0
    assert db_integrity(state) == "ok"

    entries = read_ledger(ledger)
    rows = db_runs(state)
    assert not duplicates(entries) and all(entry in rows for entry in entries)
    outcomes = Counter(rows[entry][0] for entry in entries)
    assert set(outcomes) <= {"success", "failed", "interrupted"}, outcomes
    never_ran = sum(1 for key, (st, _) in rows.items() if st == "interrupted" and key not in set(entries))

    probe_lines = [line.split() for line in probes.read_text().splitlines()]
    assert probe_lines
    for when, next_run, recorded in probe_lines:
        assert next_run != "None" and int(next_run) > int(when), "claim not committed at start"
        assert recorded == "running", "history row not committed at start"

    figures = {"seed": SEED, "cycles": CYCLES, "startup kills": startup_kills,
               "integrity ok after kill": integrity_after_kill,
               "full checks after restart": integrity_ok + 1, "runs started": len(entries),
               "duplicates": 0, **dict(outcomes), "interrupted before starting": never_ran,
               "probes": len(probe_lines)}
    print(f"\nkill -9 figures: {figures}")
    assert outcomes["interrupted"] >= CYCLES // 4  # the kills did land mid-run
