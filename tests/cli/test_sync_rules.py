"""End to end: how ``schedctl run`` brings the state file in line with an edited jobfile.

New jobs are added, removed ones dropped (their history kept), changed ones
updated and rescheduled only when their trigger changed, and a pause or resume
given on the command line survives reloads, restarts and edits.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta

from tests.cli.helpers import as_json, read_runs, wait_until

BEFORE = """
    state: state.db
    jobs:
      keep: {command: echo keep, interval: 1h}
      moved: {command: echo moved, interval: 1h}
      gone: {command: echo gone, interval: 0.2s}
      held: {command: echo held, interval: 1h}
      dormant: {command: echo dormant, interval: 1h, paused: true}
"""

AFTER = """
    state: state.db
    jobs:
      keep: {command: echo keep v2, interval: 1h}
      moved: {command: echo moved, interval: 2h}
      held: {command: echo held v2, interval: 1h}
      dormant: {command: echo dormant v2, interval: 1h, paused: true}
      fresh: {command: echo fresh, interval: 1h}
"""


def jobs_of(schedctl, state) -> dict[str, dict]:
    return {job["id"]: job for job in as_json(schedctl("list", "--state", state, "--json"))}


def when(job: dict) -> datetime | None:
    value = job["next_run_time"]
    return None if value is None else datetime.fromisoformat(value)


def test_reload_and_restart_follow_the_sync_rules(schedctl, jobfile, scheduler, state):
    path = jobfile(BEFORE)
    daemon = scheduler(path)
    wait_until(lambda: read_runs(state, "gone"), what="a run of gone", context=daemon.log)
    assert schedctl("pause", "--state", state, "held").returncode == 0
    assert schedctl("resume", "--state", state, "dormant").returncode == 0
    before = jobs_of(schedctl, state)

    jobfile(AFTER)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("Reloaded")
    after = jobs_of(schedctl, state)

    assert sorted(after) == ["dormant", "fresh", "held", "keep", "moved"]
    assert after["fresh"]["state"] == "scheduled"
    assert (after["keep"]["action"], when(after["keep"])) == ("echo keep v2", when(before["keep"]))
    moved_by = datetime.fromisoformat(after["moved"]["next_run_time"]) - datetime.fromisoformat(
        before["moved"]["next_run_time"])
    assert moved_by > timedelta(minutes=59)  # now + 2h instead of then + 1h
    assert (after["held"]["action"], after["held"]["state"]) == ("echo held v2", "paused")
    assert after["dormant"]["state"] == "scheduled"  # the jobfile still says paused: true
    gone = as_json(schedctl("history", "--state", state, "gone", "--json"))
    assert gone and {row["job_id"] for row in gone} == {"gone"}

    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    scheduler(path)
    restarted = jobs_of(schedctl, state)
    assert restarted["held"]["state"] == "paused"
    assert restarted["dormant"]["state"] == "scheduled"
    assert {job: when(restarted[job]) for job in ("keep", "moved", "fresh")} == {
        job: when(after[job]) for job in ("keep", "moved", "fresh")
    }

