"""Jitter delays each run from its grid slot and never moves the grid (fake clock).

An interval's next slot follows the previous slot, not the previous run's delayed
time: otherwise each run inherits the delays of all those before it, and a 6-hourly
job with 10 minutes of jitter drifts by about 5 minutes a run.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta

import pytest

from schedctl.clock import FakeClock
from schedctl.executors.base import current_run
from schedctl.executors.debug import DebugExecutor
from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from schedctl.triggers.base import trigger_from_json, trigger_to_json
from schedctl.triggers.interval import IntervalTrigger
from tests.conftest import START, TickOnlyScheduler

SIX_HOURS = timedelta(hours=6)
JITTER = 600.0
RUNS: list[datetime] = []


def note_run() -> None:
    run = current_run()
    assert run is not None
    RUNS.append(run.scheduled_run_time)


def drive(scheduler: TickOnlyScheduler, clock: FakeClock, until: datetime) -> None:
    """The loop of a BlockingScheduler with the sleeps skipped."""
    while clock.now() < until:
        deadline = scheduler.tick(clock.now())
        target = until if deadline is None else min(deadline, until)
        clock.set(max(target, clock.now() + timedelta(milliseconds=1)))
    scheduler.tick(until)


def delays(runs: list[datetime], first_slot: datetime) -> list[float]:
    """Each run's delay from its own slot ``first_slot + k * 6h``."""
    return [(run - (first_slot + k * SIX_HOURS)).total_seconds() for k, run in enumerate(runs)]


@pytest.fixture
def scheduler(tmp_path):
    RUNS.clear()
    clock = FakeClock(START)
    store = SQLiteJobStore(path=tmp_path / "state.db")
    scheduler = TickOnlyScheduler(clock=clock, timezone="UTC", jobstores={"default": store},
                                  executors={"default": DebugExecutor()})
    yield scheduler, clock
    scheduler.shutdown(wait=False)


@pytest.mark.parametrize("start_date", [None, START + timedelta(minutes=7)],
                         ids=["pinned-at-first-use", "start-date"])
def test_interval_jitter_never_accumulates_over_many_runs(scheduler, start_date):
    scheduler, clock = scheduler
    scheduler.add_job(note_run, "interval", hours=6, jitter=JITTER, start_date=start_date,
                      id="spread", misfire_grace_time=None)
    scheduler.start()
    drive(scheduler, clock, START + 200 * SIX_HOURS + timedelta(minutes=30))

    first_slot = start_date or START + SIX_HOURS
    assert len(RUNS) == (200 if start_date is None else 201)
    shown = delays(RUNS, first_slot)
    assert all(0 <= delay <= JITTER for delay in shown), shown
    assert max(shown) > 0  # jitter was applied at all


def test_a_jittered_grid_survives_the_store_and_a_jobfile_edit(tmp_path):
    """The pin is stored with the trigger, and an edit that leaves the schedule alone keeps it."""
    jobfile = tmp_path / "jobs.yaml"
    text = """\
        jobs:
          spread:
            command: 'true'
            description: {description}
            interval: 6h
            jitter: 10m
            timezone: UTC
    """
    jobfile.write_text(textwrap.dedent(text.format(description="first")))
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(load_jobfile(jobfile), store, START)
    placed = store.lookup_job("spread")
    assert START + SIX_HOURS <= placed.next_run_time <= START + SIX_HOURS + timedelta(seconds=JITTER)

    jobfile.write_text(textwrap.dedent(text.format(description="second")))
    report = sync_jobs(load_jobfile(jobfile), store, START + timedelta(hours=1))
    assert report.updated == ["spread"] and report.rescheduled == []
    job = store.lookup_job("spread")
    assert job.meta["description"] == "second"
    following = job.trigger.get_next_fire_time(job.next_run_time, job.next_run_time)
    assert 0 <= (following - (START + 2 * SIX_HOURS)).total_seconds() <= JITTER
    store.shutdown()


def test_a_pinned_grid_round_trips_and_resumes_on_its_slots():
    trigger = IntervalTrigger(hours=6, jitter=JITTER, timezone="UTC")
    trigger.get_next_fire_time(None, START)
    rebuilt = trigger_from_json(trigger_to_json(trigger))
    assert rebuilt == trigger
    # Resumed later, as APScheduler does: the first slot at or after now, delayed by jitter.
    resumed = rebuilt.get_next_fire_time(None, START + timedelta(hours=13))
    assert 0 <= (resumed - (START + 3 * SIX_HOURS)).total_seconds() <= JITTER


def test_an_unjittered_interval_keeps_its_apscheduler_arithmetic():
    trigger = IntervalTrigger(minutes=5, timezone="UTC")
    previous = START + timedelta(seconds=1)
    assert trigger.get_next_fire_time(previous, START) == previous + timedelta(minutes=5)
    assert "pinned" not in trigger_to_json(trigger)
