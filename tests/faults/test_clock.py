"""The wall clock misbehaving under a running scheduler: steps forwards and backwards, a
suspended process, and downtime between two runs.

What happens, and what these tests hold the engine to:

* **Forward step** (NTP fixing a clock hours slow, a VM resumed): the next pass sees every
  job's backlog at once. Slots later than ``misfire_grace_time`` are recorded as one
  ``missed`` row per job (with the count); of the rest, a coalescing job (the default)
  runs once. No storm: a default job runs at most once per pass. ``coalesce: false``
  with no grace limit runs each slot, once, one after another (at most 100 per pass).
* **Backward step**: stored next run times never move back, so no slot runs twice; every
  job simply waits until the wall clock is back where it was (a step of 10 minutes holds
  the jobs 10 minutes). The loop never sleeps more than a minute (MAX_WAIT), so any step
  is noticed within a minute.
* **Suspend** (SIGSTOP, then SIGCONT): on resume it is the forward step above; commands
  that were running kept running (they are other processes) and are recorded normally.
* **Downtime** (``schedctl run`` stopped, then started hours later): ``catch_up: true``
  runs a job once at start-up and records the gap as missed; other jobs record their
  missed slots and wait for the next one, unless a slot is still within grace.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedctl.state.history import RunRecord
from schedctl.timeutil import to_epoch_ms
from tests.cli.helpers import read_runs, wait_until
from tests.faults.harness import (
    Step,
    SteppingClock,
    db_next_run_times,
    duplicates,
    read_ledger,
    run_service,
)

T0 = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return T0.replace(hour=hh, minute=mm, second=ss)


def ms(hh: int, mm: int, ss: int = 0) -> int:
    return to_epoch_ms(at(hh, mm, ss))


def by_job(entries: list[tuple[str, int]]) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = defaultdict(list)
    for job_id, when in entries:
        runs[job_id].append(when)
    return runs


def missed_rows(state: Path, job_id: str) -> list[RunRecord]:
    return [r for r in read_runs(state, job_id) if r.state == "missed"]


STEPPING = """
    state: state.db
    timezone: UTC
    defaults:
      command: '{cmd}'
    jobs:
      minutely: {{cron: "* * * * *"}}
      every-5m: {{interval: 5m}}
      every-20s: {{cron: "*/20 * * * * *"}}
      strict: {{cron: "*/2 * * * *", misfire_grace_time: 10s}}
      every-slot: {{cron: "*/10 * * * *", misfire_grace_time: none, coalesce: false}}
"""


def test_steps_of_the_wall_clock_while_running(
    tmp_path, jobfile, state, ledger, ledger_command, restore_signals
):
    """Forward 3 h at 12:10, back 10 min at 15:20, on a real Service (see the module doc)."""
    clock = SteppingClock(T0, until=at(15, 40), steps=(
        Step(at=at(12, 10, 10), to=at(15, 10, 30)),
        Step(at=at(15, 20, 0), to=at(15, 10, 0)),
    ))
    record = run_service(jobfile(STEPPING.format(cmd=ledger_command)), state, clock)
    assert not record.problems

    ledger_runs = read_ledger(ledger)
    assert not duplicates(ledger_runs), "a scheduled run time ran twice"
    runs = by_job(ledger_runs)
    for job_id, times in runs.items():  # in the order they started: never back in time
        assert times == sorted(times) and len(set(times)) == len(times), job_id
    history = {(r.job_id, to_epoch_ms(r.scheduled_for)): r.state for r in read_runs(state)}
    assert all(history.get(entry) == "success" for entry in ledger_runs)

    # The forward step: one pass after it sees the whole backlog.
    after_jump = [(job, times) for job, times, when in record.submissions if when == at(15, 10, 30)]
    per_job = {job: len(times) for job, times in after_jump}
    assert per_job == {"minutely": 1, "every-5m": 1, "every-20s": 1, "every-slot": 18}
    assert runs["every-slot"].count(ms(15, 10)) == 1
    assert ms(15, 10) in runs["minutely"] and ms(15, 10, 20) in runs["every-20s"]
    # One 'missed' row per job for the whole backlog (its count is exact up to 16 slots,
    # "an unknown number" beyond: planning skips long backlogs with trigger arithmetic).
    [missed] = missed_rows(state, "minutely")
    assert missed.scheduled_for == at(12, 11) and (missed.error or "").startswith("missed ")
    [strict_missed] = missed_rows(state, "strict")  # 15:10 was 30 s late, more than its 10 s
    assert strict_missed.scheduled_for == at(12, 12)
    assert not [t for t in runs["strict"] if ms(12, 11) <= t <= ms(15, 10)]
    assert not missed_rows(state, "every-slot")

    # The backward step at 15:20 back to 15:10: nothing until the clock is back at 15:20,
    # then every job runs on as before.
    for job_id in ("minutely", "every-5m", "every-20s", "strict", "every-slot"):
        later = [t for t in runs[job_id] if t > ms(15, 20)]
        assert later, f"{job_id} never ran again after the backward step"
    assert ms(15, 30) in runs["minutely"] and ms(15, 39) in runs["minutely"]
    assert runs["minutely"].count(ms(15, 15)) == 1
    assert record.longest_sleep <= timedelta(seconds=60)


CATCH_UP = """
    state: state.db
    timezone: UTC
    defaults:
      command: '{cmd}'
    jobs:
      hourly-catch-up: {{cron: "0 * * * *", catch_up: true}}
      hourly: {{cron: "0 * * * *"}}
      minutely: {{cron: "* * * * *"}}
"""


def test_downtime_between_two_runs_follows_catch_up_and_grace(
    jobfile, state, ledger, ledger_command, restore_signals
):
    path = jobfile(CATCH_UP.format(cmd=ledger_command))
    assert not run_service(path, state, SteppingClock(T0, until=at(12, 5))).problems
    before = len(read_ledger(ledger))
    assert before == 4  # minutely at 12:01..12:04

    restart = at(17, 5)  # five hours of downtime, five hourly slots missed
    record = run_service(path, state, SteppingClock(restart, until=at(17, 30)))
    assert not record.problems
    runs = by_job(read_ledger(ledger)[before:])
    assert runs["hourly-catch-up"] == [to_epoch_ms(restart)]  # once, at start-up, not five times
    [gap] = missed_rows(state, "hourly-catch-up")
    assert gap.scheduled_for == at(13, 0) and "caught up at start-up" in (gap.error or "")
    assert runs["hourly"] == []  # 17:00 was 5 min late: beyond the 60 s grace
    [hourly_gap] = missed_rows(state, "hourly")
    assert "missed 5 run(s)" in (hourly_gap.error or "")
    assert runs["minutely"][0] == ms(17, 5) and len(runs["minutely"]) == 25  # 17:05..17:29
    assert db_next_run_times(state)["hourly-catch-up"] == ms(18, 0)


SUSPENDED = """
    state: state.db
    defaults:
      command: '{cmd}'
      interval: 1s
    jobs:
      tight: {{misfire_grace_time: 1s}}
      loose: {{misfire_grace_time: 30s}}
      each: {{misfire_grace_time: 30s, coalesce: false}}
      long: {{command: '{cmd}; sleep 2.5'}}
"""

#: Scaled down from "SIGSTOP for 2 minutes" with the 60 s default grace: a 3 s stop against
#: 1 s jobs, one with a grace shorter than the stop (tight) and two longer (loose, each).
STOP_SECONDS = 3.0


@pytest.mark.slow  # about 7 s: the stop itself, and runs on both sides of it
def test_sigstop_then_sigcont_catches_up_without_a_storm(
    jobfile, scheduler, state, ledger, ledger_command
):
    """``schedctl run`` is suspended for 3 s while 1 s jobs are due and one command runs.

    tight (grace 1 s < stop): the slots of the stop are one ``missed`` row, and at most one
    run catches up. loose (grace 30 s, coalesce): one run for the whole stop. each
    (coalesce false): each slot of the stop runs once, back to back. long: its command,
    running when the stop came, ends normally. Afterwards all run every second again.
    """
    daemon = scheduler(jobfile(SUSPENDED.format(cmd=ledger_command)), "--shutdown-timeout", "0.2s")
    wait_until(lambda: any(r.state == "running" for r in read_runs(state, "long"))
               and len(read_ledger(ledger)) >= 6, what="the long job running, and a few 1 s runs")
    os.kill(daemon.pid, signal.SIGSTOP)
    stopped_at = time.time()
    try:
        time.sleep(STOP_SECONDS)  # the fault itself: the scheduler is frozen this long
    finally:
        resumed_at = time.time()
        os.kill(daemon.pid, signal.SIGCONT)
    wait_until(lambda: all(r.finished_at and r.finished_at.timestamp() > resumed_at + 2
                           for r in [latest(state, job) for job in ("tight", "loose", "each")]),
               timeout=10, what="every 1 s job to run 2 s after SIGCONT", context=daemon.log)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0

    entries = read_ledger(ledger)
    assert not duplicates(entries)
    started = started_times(state)
    # The same 0.1 s margin as the frozen check below: the scheduler's clock and this
    # process's time.time() may differ by a millisecond, and times are stored in ms.
    burst = {job: sum(1 for t in started[job] if resumed_at - 0.1 <= t < resumed_at + 0.9)
             for job in ("tight", "loose", "each")}
    shown = f"{burst}, resumed at {resumed_at:.3f}, runs: {dict(started)}"
    assert burst["tight"] <= 2 and burst["loose"] <= 2, shown
    assert STOP_SECONDS - 1 <= burst["each"] <= STOP_SECONDS + 2, shown
    tight_missed = [r for r in missed_rows(state, "tight") if r.finished_at.timestamp() >= resumed_at]
    assert len(tight_missed) == 1, tight_missed
    assert not missed_rows(state, "loose") and not missed_rows(state, "each")
    for job in ("tight", "loose", "each"):
        frozen = [t for t in started[job] if stopped_at + 0.1 < t < resumed_at - 0.1]
        assert not frozen, f"{job} started while the scheduler was stopped"
    [spanning] = [r for r in read_runs(state, "long") if r.started_at and r.finished_at
                  and r.started_at.timestamp() < stopped_at < r.finished_at.timestamp()]
    assert spanning.state == "success" and spanning.duration >= 2.5, spanning
    assert "Traceback" not in daemon.log()


def latest(state: Path, job_id: str) -> RunRecord:
    done = [r for r in read_runs(state, job_id) if r.state == "success"]
    return done[0] if done else RunRecord(0, job_id, T0, 1, "none", "", None, None, None, None,
                                          None, None, None, None)


def started_times(state: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for record in read_runs(state):
        if record.started_at is not None:
            times[record.job_id].append(record.started_at.timestamp())
    return times
