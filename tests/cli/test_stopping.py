"""Stopping the real ``schedctl run`` with Ctrl-C while jobs run: it says what it waits
for, and a second Ctrl-C ends the wait at once."""

from __future__ import annotations

import re
import signal

from tests.cli.helpers import read_runs, wait_until


def test_ctrl_c_says_what_it_waits_for_and_a_second_one_stops_the_jobs_at_once(
        tmp_path, schedctl, jobfile, scheduler, state):
    ready = tmp_path / "ready"
    daemon = scheduler(jobfile(f"""
        state: state.db
        jobs:
          patient:
            command: echo patient >> {ready}; exec sleep 300
            interval: 1h
          stubborn:   # ignores SIGTERM, so only the SIGKILL after its kill_grace ends it
            command: trap '' TERM; echo stubborn >> {ready}; sleep 300
            interval: 1h
            kill_grace: 0.5s
    """), "--shutdown-timeout", "10m")
    for job_id in ("patient", "stubborn"):
        assert schedctl("run-now", "--state", state, job_id).returncode == 0
    wait_until(lambda: ready.exists() and len(ready.read_text().split()) == 2,
               what="both jobs to start", context=daemon.log)

    daemon.signal(signal.SIGINT)
    daemon.wait_for_log("Ctrl-C again")
    daemon.signal(signal.SIGINT)
    # Without the second Ctrl-C the stop would wait the whole ten minutes.
    assert daemon.wait_exit(timeout=60) == 0

    log = daemon.log()
    [waiting] = [line for line in log.splitlines() if "Waiting up to" in line]
    assert re.search(r"Waiting up to 10m00s for patient \(running for [\d.]+m?s\), "
                     r"stubborn \(running for [\d.]+m?s\) to finish", waiting), waiting
    assert "SIGKILL after each job's kill_grace" in waiting
    assert "Received SIGINT again: stopping the running jobs now" in log
    rows = {row.job_id: row for row in read_runs(state)}
    assert (rows["patient"].state, rows["patient"].signal) == ("interrupted", signal.SIGTERM)
    assert (rows["stubborn"].state, rows["stubborn"].signal) == ("interrupted", signal.SIGKILL)
    assert "sent SIGTERM, then SIGKILL after 500ms" in (rows["stubborn"].error or "")


def test_a_stop_with_nothing_running_waits_for_nothing(jobfile, scheduler):
    daemon = scheduler(jobfile("""
        state: state.db
        jobs:
          later: {command: "true", interval: 1h}
    """), "--shutdown-timeout", "10m")

    daemon.signal(signal.SIGINT)

    assert daemon.wait_exit() == 0
    assert "Waiting up to" not in daemon.log() and "schedctl stopped" in daemon.log()
