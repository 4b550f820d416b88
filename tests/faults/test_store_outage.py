"""A state store that fails while the scheduler runs, component level: the engine, an
SQLite store told to fail, a fake clock.

A store that keeps its schedule on error (``schedctl run``'s) is run from memory while
it fails: due jobs start on time, the failure is logged once, the store is retried every
STORE_RETRY, and once it works the next run times reached in memory are written back
before anything is claimed, so no slot runs twice and none is lost. Without the option
(the library default, APScheduler's behaviour) nothing runs until the store is back.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

import pytest

from schedctl.clock import FakeClock
from schedctl.service.daemon import ServeOptions, Service
from schedctl.errors import StoreError
from schedctl.executors.base import current_run
from schedctl.executors.debug import DebugExecutor
from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.schedulers.outage import STORE_RETRY
from schedctl.service.statewatch import StateFileWatch
from schedctl.state.history import RunHistory
from tests.conftest import TickOnlyScheduler

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
RUNS: list[tuple[str, datetime]] = []


def record_run() -> None:
    run = current_run()
    assert run is not None
    RUNS.append((run.job_id, run.scheduled_run_time))


class FlakyStore(SQLiteJobStore):
    """Fails as a full disk does (writes), or as a damaged file does (reads too), on demand."""

    writes_fail = False
    reads_fail = False

    def _fail(self, write: bool) -> None:
        if self.reads_fail or (write and self.writes_fail):
            raise StoreError(f"{self.path} cannot be written: the disk is full (test)")

    def process_due_jobs(self, *args, **kwargs):
        self._fail(write=True)
        return super().process_due_jobs(*args, **kwargs)

    def update_job(self, job):
        self._fail(write=True)
        return super().update_job(job)

    def remove_job(self, job_id):
        self._fail(write=True)
        return super().remove_job(job_id)

    def get_all_jobs(self):
        self._fail(write=False)
        return super().get_all_jobs()

    def lookup_job(self, job_id):
        self._fail(write=False)
        return super().lookup_job(job_id)

    def get_next_run_time(self):
        self._fail(write=False)
        return super().get_next_run_time()


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def drive(scheduler, clock: FakeClock, until: datetime) -> None:
    """The loop of a BlockingScheduler, with the sleeps skipped."""
    for _ in range(10_000):
        now = clock.now()
        deadline = scheduler.tick(now)
        if now >= until:
            return
        target = until if deadline is None else min(deadline, until)
        clock.set(max(target, now + timedelta(milliseconds=1)))
    raise AssertionError("the loop never reached the end")


@pytest.fixture
def outage(tmp_path, caplog):
    """A started scheduler over a FlakyStore, with three jobs, at T0."""
    RUNS.clear()
    caplog.set_level(logging.DEBUG, logger="schedctl")
    made = []

    def make(keep: bool):
        clock = FakeClock(T0)
        store = FlakyStore(path=tmp_path / "state.db", keep_schedule_on_error=keep)
        scheduler = TickOnlyScheduler(clock=clock, timezone="UTC", jobstores={"default": store},
                                      executors={"default": DebugExecutor()})
        scheduler.add_job(record_run, "interval", seconds=10, id="every-10s")
        scheduler.add_job(record_run, "interval", seconds=60, id="every-min")
        scheduler.add_job(record_run, "date", run_date=seconds(35), id="one-shot")
        scheduler.start()
        made.append((scheduler, store))
        return scheduler, store, clock

    yield make
    for scheduler, store in made:
        store.writes_fail = store.reads_fail = False
        scheduler.shutdown(wait=False)  # and with it the store's wake-up listener thread
    RUNS.clear()


def runs_of(job_id: str) -> list[float]:
    return [(when - T0).total_seconds() for job, when in RUNS if job == job_id]


def store_logs(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("schedctl.jobstores") and r.levelno == level]


@pytest.mark.parametrize("reads_fail", [False, True], ids=["disk-full", "unreadable"])
def test_jobs_run_from_memory_while_the_store_fails(outage, caplog, tmp_path, reads_fail):
    scheduler, store, clock = outage(keep=True)
    drive(scheduler, clock, seconds(25))
    if not reads_fail:  # paused by another process just before: a fresh read at the outage sees it
        other = SQLiteJobStore(path=tmp_path / "state.db")
        job = other.lookup_job("every-min")
        job.next_run_time = None
        other.update_job(job)
        other.shutdown()
    store.writes_fail, store.reads_fail = True, reads_fail
    drive(scheduler, clock, seconds(65))

    assert runs_of("every-10s") == [10, 20, 30, 40, 50, 60]  # on time, from memory
    assert runs_of("one-shot") == [35]
    assert runs_of("every-min") == ([60] if reads_fail else [])  # a stale copy cannot know
    store.writes_fail = store.reads_fail = False
    assert store.lookup_job("every-10s").next_run_time == seconds(30)  # the store was untouched

    drive(scheduler, clock, seconds(100))
    assert runs_of("every-10s") == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # none twice
    assert runs_of("one-shot") == [35]
    assert store.lookup_job("one-shot") is None  # its run from memory ended it in the store too
    assert store.lookup_job("every-10s").next_run_time == seconds(110)
    [failed] = store_logs(caplog, logging.ERROR)
    assert "Job store 'default' failed:" in failed and "disk is full (test)" in failed
    assert "from memory" in failed and ("last read" in failed) == reads_fail
    assert store_logs(caplog, logging.WARNING) == [
        "Job store 'default' works again after 45s; its schedule is read from it again"
    ]
    retries = [m for m in store_logs(caplog, logging.DEBUG) if "still fails" in m]
    assert len(retries) == (65 - 25) // STORE_RETRY.seconds  # 30, 35, ... 65: not every pass


def test_without_the_option_nothing_runs_until_the_store_is_back(outage, caplog):
    scheduler, store, clock = outage(keep=False)
    drive(scheduler, clock, seconds(25))
    store.writes_fail = True
    drive(scheduler, clock, seconds(65))
    assert runs_of("every-10s") == [10, 20]
    store.writes_fail = False
    drive(scheduler, clock, seconds(100))
    # Back at 65: the slots 30..60 are within the 60 s grace and coalesce into one run.
    assert runs_of("every-10s") == [10, 20, 60, 70, 80, 90, 100]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and all(r.exc_info is None for r in errors)  # one line each, no traceback


def test_the_heartbeat_of_schedctl_run_survives_an_unreadable_store(tmp_path, caplog):
    """The control thread beats the heartbeat between signals; a store error raised there
    would end the thread, and SIGTERM and SIGHUP would go unanswered."""
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text("jobs:\n  tick: {command: 'true', interval: 1s}\n")
    store = FlakyStore(path=tmp_path / "state.db")
    service = Service(load_jobfile(jobfile), store, FakeClock(T0), ServeOptions(str(jobfile)))
    store.reads_fail = store.writes_fail = True
    service._heartbeat()  # must not raise
    store.reads_fail = store.writes_fail = False
    store.shutdown()



def test_a_state_file_taken_back_is_used_again_at_once(outage, tmp_path):
    """A pass that failed on a truncated state file runs the jobs from memory; once the
    heartbeat has taken the file back, a pause made in it holds from the next pass, not
    only once the store's retry is due (STORE_RETRY later)."""
    scheduler, store, clock = outage(keep=True)
    scheduler.add_job(record_run, "interval", seconds=1, id="every-1s")
    drive(scheduler, clock, seconds(3))
    os.truncate(tmp_path / "state.db", 0)
    store.writes_fail = store.reads_fail = True  # as once a read reaches the emptied file
    drive(scheduler, clock, seconds(5))
    assert scheduler.failing_stores() and runs_of("every-1s") == [1, 2, 3, 4, 5]

    store.writes_fail = store.reads_fail = False
    HeartbeatWatch(store, scheduler, clock, tmp_path)._watch_state_file()
    assert store.file_change() is None
    other = SQLiteJobStore(path=tmp_path / "state.db")
    job = other.lookup_job("every-1s")  # gone if the file was made anew from the jobfile
    if job is not None:
        job.next_run_time = None
        other.update_job(job)
    other.shutdown()
    drive(scheduler, clock, seconds(12))
    assert runs_of("every-1s") == [1, 2, 3, 4, 5]
    assert scheduler.failing_stores() == {}


class HeartbeatWatch(StateFileWatch):
    """The state file check of ``schedctl run``'s heartbeat, over a test's scheduler."""

    def __init__(self, store, scheduler, clock, tmp_path) -> None:
        (tmp_path / "jobs.yaml").write_text("jobs:\n  other: {command: 'true', interval: 1h}\n")
        self.store, self.scheduler, self.clock = store, scheduler, clock
        self.jobfile = load_jobfile(tmp_path / "jobs.yaml")
        self.history = RunHistory(store)
