"""The engine with real threads, real processes and a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedctl import BackgroundScheduler, BlockingScheduler
from schedctl.clock import FakeClock, SystemClock
from schedctl.events import (
    EVENT_ALL,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_SHUTDOWN,
)
from schedctl.executors.debug import DebugExecutor
from schedctl.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from schedctl.jobstores.memory import MemoryJobStore
from schedctl.jobstores.sqlite import SQLiteJobStore
from tests import conftest
from tests.conftest import START, EventLog, TickOnlyScheduler

UTC = UTC
ROOT = Path(__file__).resolve().parent.parent


def square(x: int) -> int:
    return x * x


def pid_of_worker() -> int:
    return os.getpid()


# -- events -------------------------------------------------------------------------------------

APSCHEDULER_3_EVENT_VALUES = {  # the published constants of apscheduler.events 3.x
    "EVENT_SCHEDULER_STARTED": 1, "EVENT_SCHEDULER_START": 1, "EVENT_SCHEDULER_SHUTDOWN": 2,
    "EVENT_SCHEDULER_PAUSED": 4, "EVENT_SCHEDULER_RESUMED": 8, "EVENT_EXECUTOR_ADDED": 16,
    "EVENT_EXECUTOR_REMOVED": 32, "EVENT_JOBSTORE_ADDED": 64, "EVENT_JOBSTORE_REMOVED": 128,
    "EVENT_ALL_JOBS_REMOVED": 256, "EVENT_JOB_ADDED": 512, "EVENT_JOB_REMOVED": 1024,
    "EVENT_JOB_MODIFIED": 2048, "EVENT_JOB_EXECUTED": 4096, "EVENT_JOB_ERROR": 8192,
    "EVENT_JOB_MISSED": 16384, "EVENT_JOB_SUBMITTED": 32768, "EVENT_JOB_MAX_INSTANCES": 65536,
    "EVENT_ALL": 131071,
}


@pytest.mark.parametrize("name", sorted(APSCHEDULER_3_EVENT_VALUES))
def test_event_constants_match_apscheduler(name: str) -> None:
    from schedctl import events

    assert getattr(events, name) == APSCHEDULER_3_EVENT_VALUES[name]


# -- configuration ------------------------------------------------------------------------------


def test_configuration_from_a_prefixed_dict_of_strings(tmp_path: Path) -> None:
    config = {
        "schedctl.timezone": "Europe/Berlin",
        "schedctl.job_defaults.coalesce": "false",
        "schedctl.job_defaults.max_instances": "3",
        "schedctl.job_defaults.misfire_grace_time": "30",
        "schedctl.executors.default": {"class": "schedctl.executors.pool:ThreadPoolExecutor",
                                       "max_workers": "20"},
        "schedctl.executors.cpu": {"type": "processpool", "max_workers": "2"},
        "schedctl.jobstores.default": {"type": "sqlite", "url": f"sqlite:///{tmp_path}/jobs.db"},
        "unrelated.key": "ignored",
    }
    original = dict(config)
    scheduler = BackgroundScheduler(config)
    assert config == original  # the caller's dict is never changed
    assert str(scheduler.timezone) == "Europe/Berlin"
    job = scheduler.add_job(conftest.record, "interval", minutes=1)
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (False, 3, 30.0)
    assert isinstance(scheduler._executors["default"], ThreadPoolExecutor)
    assert isinstance(scheduler._executors["cpu"], ProcessPoolExecutor)
    assert isinstance(scheduler._jobstores["default"], SQLiteJobStore)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"schedctl.executors.x": {"type": "gpu"}}, ["executors.x.type", "'gpu'"]),
        ({"schedctl.jobstores.x": {"max_workers": 1}}, ["jobstores.x", "type", "class"]),
        ({"schedctl.job_defaults.coalesce": "maybe"}, ["coalesce", "'maybe'"]),
        ({"schedctl.job_defaults.max_instances": "many"}, ["max_instances", "'many'"]),
        ({"schedctl.timezone": "Mars/Olympus"}, ["timezone", "Mars/Olympus"]),
        ({"schedctl.executors.x": {"type": "threadpool", "max_workers": "zero"}}, ["max_workers"]),
    ],
    ids=["executor-type", "no-type", "bool-text", "int-text", "zone", "max-workers"],
)
def test_bad_configuration_names_the_key(config: dict, words: list[str]) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        BackgroundScheduler(config)
    for word in words:
        assert word in str(info.value)


def test_configure_after_start_is_refused(fake_clock: FakeClock) -> None:
    scheduler = TickOnlyScheduler(clock=fake_clock)
    scheduler.start()
    with pytest.raises(Exception, match="already running"):
        scheduler.configure(timezone="UTC")
    scheduler.shutdown()


# -- SQLite store under a scheduler -------------------------------------------------------------


def test_jobs_next_run_times_and_pauses_survive_a_restart(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = tmp_path / "jobs.db"

    def scheduler() -> TickOnlyScheduler:
        return TickOnlyScheduler(clock=fake_clock, timezone="UTC", executors={"default": DebugExecutor()},
                                 jobstores={"default": SQLiteJobStore(path=path)})

    first = scheduler()
    first.add_job("tests.conftest:record", "interval", minutes=10, start_date=START, id="a", args=[1])
    first.add_job(conftest.record, "cron", hour=3, id="b")
    first.start()
    first.tick(START)
    first.pause_job("b")
    first.shutdown()

    second = scheduler()
    second.start()
    jobs = {job.id: job for job in second.get_jobs()}
    assert jobs["a"].next_run_time == START + timedelta(minutes=10)
    assert jobs["a"].args == (1,)
    assert jobs["b"].next_run_time is None
    second.shutdown()


def test_unstorable_job_is_refused_at_add_job(tmp_path: Path) -> None:
    scheduler = BackgroundScheduler(jobstores={"default": SQLiteJobStore(path=tmp_path / "j.db")})
    with pytest.raises(ValueError, match="cannot be stored"):
        scheduler.add_job(lambda: None, "interval", minutes=1)
    with pytest.raises(ValueError, match="JSON"):
        scheduler.add_job(conftest.record, "interval", minutes=1, args=[object()])


CHANGE_SCRIPT = """
import sys
from schedctl.jobstores.sqlite import SQLiteJobStore
store = SQLiteJobStore(path=sys.argv[1])
job = store.lookup_job("far")
job.next_run_time = None
store.update_job(job)
"""


def test_running_scheduler_notices_another_process_change(tmp_path: Path) -> None:
    """Another process pauses a job: the running scheduler is woken through the socket."""
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path=path)
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone="UTC")
    scheduler.add_job(conftest.record, "interval", hours=1, id="far")
    woken = threading.Event()
    original = scheduler.wakeup

    def wakeup() -> None:
        woken.set()
        original()

    scheduler.wakeup = wakeup  # type: ignore[method-assign]
    scheduler.start()
    try:
        woken.clear()
        subprocess.run([sys.executable, "-c", CHANGE_SCRIPT, str(path)], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert woken.wait(5), "the scheduler was not woken by the other process's change"
        assert scheduler.get_job("far").next_run_time is None
    finally:
        scheduler.shutdown()


# -- real threads and processes ------------------------------------------------------------------


def test_background_scheduler_runs_jobs_in_real_time(event_log: EventLog) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_listener(event_log)
    scheduler.start()
    try:
        scheduler.add_job(square, args=[7], id="now")
        (event,) = event_log.wait_for(EVENT_JOB_EXECUTED)
        assert event.retval == 49
    finally:
        scheduler.shutdown()


def test_process_pool_runs_jobs_in_another_process(event_log: EventLog) -> None:
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ProcessPoolExecutor(1)})
    scheduler.add_listener(event_log)
    scheduler.start()
    try:
        scheduler.add_job(pid_of_worker, id="where")
        scheduler.add_job("tests.test_engine_integration:square", args=[12], id="sq")
        events = event_log.wait_for(EVENT_JOB_EXECUTED, count=2, timeout=30)
        results = {event.job_id: event.retval for event in events}
        assert results["sq"] == 144
        assert results["where"] != os.getpid()
    finally:
        scheduler.shutdown()


@pytest.mark.parametrize("wait", [True, False], ids=["wait", "no-wait"])
def test_shutdown_from_inside_a_job_returns_cleanly(wait: bool, event_log: EventLog) -> None:
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_listener(event_log)
    errors: list[BaseException] = []

    def stop() -> None:
        try:
            scheduler.shutdown(wait=wait)
        except BaseException as exc:  # noqa: BLE001 - the assertion is that nothing is raised
            errors.append(exc)

    scheduler.add_job(stop, id="stopper")
    runner = threading.Thread(target=scheduler.start)
    runner.start()
    runner.join(10)
    assert not runner.is_alive(), "start() did not return after shutdown from a job"
    assert errors == []
    assert event_log.of(EVENT_SCHEDULER_SHUTDOWN)
    assert not event_log.of(EVENT_JOB_ERROR)


def test_blocking_scheduler_with_fake_clock_simulates_a_day(event_log: EventLog) -> None:
    clock = FakeClock(START)
    scheduler = BlockingScheduler(clock=clock, timezone="UTC", executors={"default": DebugExecutor()})
    scheduler.add_listener(event_log, EVENT_ALL)
    runs: list[datetime] = []

    def work() -> None:
        runs.append(clock.now())
        if clock.now() >= START + timedelta(days=1):
            scheduler.shutdown(wait=False)

    scheduler.add_job(work, "cron", minute=0, id="hourly")
    scheduler.start()
    assert runs == [START + timedelta(hours=h) for h in range(1, 25)]
    assert not event_log.of(EVENT_JOB_MISSED)


def test_memory_store_is_the_default(fake_clock: FakeClock) -> None:
    scheduler = TickOnlyScheduler(clock=fake_clock)
    scheduler.start()
    assert isinstance(scheduler._jobstores["default"], MemoryJobStore)
    scheduler.shutdown()


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


class HeldClock(SystemClock):
    """The real time, but the loop's sleep lasts until the test releases it, and shows
    what it was given: the deadline, and the event that wakes the loop."""

    def __init__(self) -> None:
        self.sleeping = threading.Event()
        self.release = threading.Event()
        self.deadline: datetime | None = None
        self.wake: threading.Event | None = None

    def wait(self, deadline: datetime | None, wake: threading.Event) -> bool:
        self.deadline, self.wake = deadline, wake
        self.sleeping.set()
        self.release.wait(10)
        self.release.clear()
        woken = wake.is_set()
        wake.clear()
        return woken


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_adding_a_job_wakes_the_loop_only_when_due_before_its_sleep_ends(tmp_path, store):
    clock = HeldClock()
    jobstore = MemoryJobStore() if store == "memory" else SQLiteJobStore(path=tmp_path / "s.db")
    scheduler = BackgroundScheduler(clock=clock, timezone="UTC", jobstores={"default": jobstore})
    scheduler.start()
    try:
        assert clock.sleeping.wait(10)
        clock.sleeping.clear()
        clock.release.set()  # the pass that start() asked for; the next sleep is undisturbed
        assert clock.sleeping.wait(10) and clock.deadline is not None and clock.wake is not None
        assert not clock.wake.is_set()
        later = clock.deadline + timedelta(hours=1)
        scheduler.add_job(conftest.record, "date", run_date=later, id="later")
        assert not clock.wake.is_set()  # the loop wakes before it is due anyway
        scheduler.add_job(conftest.record, "date", run_date=later, id="paused", next_run_time=None)
        assert not clock.wake.is_set()
        sooner = clock.deadline - timedelta(seconds=30)
        scheduler.add_job(conftest.record, "date", run_date=sooner, id="sooner")
        assert clock.wake.is_set()
    finally:
        clock.release.set()
        scheduler.shutdown(wait=False)
        clock.release.set()
