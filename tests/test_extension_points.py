"""Extension points as APScheduler 3 users write them: a job store with only APScheduler's
eight methods, a trigger with only get_next_fire_time, and export_jobs/import_jobs.
The scheduler is driven by the fake clock through tick()."""

from __future__ import annotations

import io
import json
import pickle
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schedctl.errors import ConflictingIdError, JobLookupError, SchedulerNotRunningError
from schedctl.events import EVENT_JOB_ADDED
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore
from schedctl.jobstores.memory import MemoryJobStore
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.triggers.base import BaseTrigger
from tests import conftest
from tests.conftest import START, TickOnlyScheduler

BERLIN = ZoneInfo("Europe/Berlin")


STARTED: list[TickOnlyScheduler] = []


@pytest.fixture(autouse=True)
def _clean_up():
    """Clear the calls; shut down every scheduler made here (a SQLite store's wake thread)."""
    conftest.CALLS.clear()
    yield
    while STARTED:
        scheduler = STARTED.pop()
        if scheduler.running:
            scheduler.shutdown(wait=False)


class DictJobStore(BaseJobStore):
    """Written as for APScheduler 3 (its MemoryJobStore's shape): the eight abstract
    methods, job objects kept as they are, and no call to the base ``__init__``."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def lookup_job(self, job_id):
        return self.jobs.get(job_id)

    def get_due_jobs(self, now):
        due = [j for j in self.jobs.values() if j.next_run_time and j.next_run_time <= now]
        return sorted(due, key=lambda j: j.next_run_time)

    def get_next_run_time(self):
        times = [j.next_run_time for j in self.jobs.values() if j.next_run_time]
        return min(times, default=None)

    def get_all_jobs(self):
        # Paused first, as an SQL ORDER BY with NULLs first would give them; then fixed.
        jobs = sorted(self.jobs.values(),
                      key=lambda j: j.next_run_time.timestamp() if j.next_run_time else 0)
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def add_job(self, job):
        if job.id in self.jobs:
            raise ConflictingIdError(job.id)
        self.jobs[job.id] = job

    def update_job(self, job):
        if job.id not in self.jobs:
            raise JobLookupError(job.id)
        self.jobs[job.id] = job

    def remove_job(self, job_id):
        if self.jobs.pop(job_id, None) is None:
            raise JobLookupError(job_id)

    def remove_all_jobs(self):
        self.jobs.clear()


class PickleJobStore(DictJobStore):
    """Written as APScheduler 3's persistent stores are: pickled ``job.__getstate__()``,
    rebuilt with ``Job.__new__`` and ``__setstate__``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, bytes] = {}

    def _load(self, row: bytes) -> Job:
        job = Job.__new__(Job)
        job.__setstate__(pickle.loads(row))
        job._scheduler, job._jobstore_alias = self._scheduler, self._alias
        return job

    def lookup_job(self, job_id):
        return self._load(self.rows[job_id]) if job_id in self.rows else None

    @property  # the base class's queries read self.jobs
    def jobs(self):
        return {job_id: self._load(row) for job_id, row in self.rows.items()}

    @jobs.setter
    def jobs(self, value):
        pass

    def add_job(self, job):
        if job.id in self.rows:
            raise ConflictingIdError(job.id)
        self.rows[job.id] = pickle.dumps(job.__getstate__())

    def update_job(self, job):
        if job.id not in self.rows:
            raise JobLookupError(job.id)
        self.rows[job.id] = pickle.dumps(job.__getstate__())

    def remove_job(self, job_id):
        if self.rows.pop(job_id, None) is None:
            raise JobLookupError(job_id)

    def remove_all_jobs(self):
        self.rows.clear()


def scheduler_with(fake_clock, store: BaseJobStore, timezone: str = "UTC") -> TickOnlyScheduler:
    scheduler = TickOnlyScheduler(clock=fake_clock, timezone=timezone,
                                  jobstores={"default": store},
                                  executors={"default": {"type": "debug"}})
    STARTED.append(scheduler)
    return scheduler


def run_until(scheduler, clock, end: datetime) -> None:
    """Drive the loop as BlockingScheduler does, with the fake clock."""
    while True:
        deadline = scheduler.tick(clock.now())
        if deadline is None or deadline > end:
            clock.set(end)
            scheduler.tick(end)
            return
        clock.set(max(deadline, clock.now()))


# -- a job store written for APScheduler 3 -----------------------------------------------------


@pytest.mark.parametrize("store_class", [DictJobStore, PickleJobStore], ids=["dict", "pickle"])
def test_a_job_store_with_only_apscheduler_methods_runs_jobs(fake_clock, store_class):
    store = store_class()  # abstract methods beyond APScheduler's would refuse this
    scheduler = scheduler_with(fake_clock, store)
    scheduler.add_job(conftest.record, "interval", hours=1, start_date=START, id="hourly")
    scheduler.add_job(conftest.record, "date", run_date=START + timedelta(minutes=30),
                      args=["once"], id="once")
    scheduler.start()
    run_until(scheduler, fake_clock, START + timedelta(days=1))
    assert len(conftest.CALLS) == 24 + 1 + 1
    assert scheduler.get_job("once") is None  # exhausted: removed through remove_job
    assert scheduler.get_job("hourly").next_run_time == START + timedelta(days=1, hours=1)
    scheduler.pause_job("hourly")
    run_until(scheduler, fake_clock, START + timedelta(days=2))
    assert len(conftest.CALLS) == 26
    scheduler.run_job_now("hourly")  # run requests kept by the base class
    scheduler.tick(fake_clock.now())
    assert len(conftest.CALLS) == 27 and scheduler.get_job("hourly").next_run_time is None
    scheduler.resume_job("hourly")
    assert [job.id for job in scheduler.get_jobs()] == ["hourly"]
    with pytest.raises(JobLookupError):
        scheduler.run_job_now("ghost")


def test_the_default_claim_skips_a_job_removed_meanwhile(fake_clock):
    class Vanishing(DictJobStore):
        def update_job(self, job):
            raise JobLookupError(job.id)

    store = Vanishing()
    scheduler = scheduler_with(fake_clock, store)
    scheduler.add_job(conftest.record, "interval", minutes=1, start_date=START, id="j")
    scheduler.start()
    scheduler.tick(START)
    assert conftest.CALLS == []


def test_a_pickling_store_refuses_a_job_it_cannot_keep(fake_clock):
    scheduler = scheduler_with(fake_clock, PickleJobStore())
    scheduler.start()
    with pytest.raises(ValueError, match="cannot be stored"):
        scheduler.add_job(lambda: None, "interval", minutes=1)


# -- a trigger with only get_next_fire_time ------------------------------------------------------


class EveryOtherMinuteTrigger(BaseTrigger):
    """Written as for APScheduler 3: no alias, no to_state/from_state, no __str__."""

    def __init__(self, jitter: float | None = None) -> None:
        self.jitter = jitter

    def get_next_fire_time(self, previous_fire_time, now):
        base = previous_fire_time or now.replace(second=0, microsecond=0)
        return self._apply_jitter(base + timedelta(minutes=2), self.jitter, now)


def test_a_trigger_with_only_get_next_fire_time_runs_in_the_memory_store(fake_clock):
    scheduler = scheduler_with(fake_clock, MemoryJobStore())
    trigger = EveryOtherMinuteTrigger()
    job = scheduler.add_job(conftest.record, trigger, id="j", name="j")
    assert str(job) == "j (trigger: EveryOtherMinuteTrigger, pending)"
    assert repr(trigger) == "<EveryOtherMinuteTrigger (EveryOtherMinuteTrigger)>"
    assert trigger.__eq__(job.trigger) is True and trigger != EveryOtherMinuteTrigger()
    scheduler.start()
    run_until(scheduler, fake_clock, START + timedelta(minutes=10))
    assert len(conftest.CALLS) == 5


def test_a_trigger_without_to_state_is_refused_clearly_by_a_persistent_store(fake_clock, tmp_path):
    scheduler = scheduler_with(fake_clock, SQLiteJobStore(path=tmp_path / "jobs.db"))
    for started in (False, True):
        if started:
            scheduler.start()
        with pytest.raises(ValueError, match="EveryOtherMinuteTrigger has no alias and cannot be "
                                             "stored; keep its jobs in the memory store"):
            scheduler.add_job(conftest.record, EveryOtherMinuteTrigger(jitter=1))
    assert scheduler.get_jobs() == []


# -- export_jobs / import_jobs ----------------------------------------------------------------


@pytest.fixture
def source(fake_clock):
    scheduler = scheduler_with(fake_clock, MemoryJobStore(), timezone="Europe/Berlin")
    scheduler.add_jobstore(MemoryJobStore(), "other")
    scheduler.add_job(conftest.record, "cron", hour=4, minute=30, id="cron", args=[1, "two"],
                      kwargs={"k": [3]})
    scheduler.add_job("tests.conftest:record", "interval", minutes=90, start_date=START,
                      id="interval", misfire_grace_time=None, coalesce=False, max_instances=3)
    scheduler.add_job(conftest.record, "date", run_date="2026-03-05 08:00:00", id="date")
    scheduler.add_job(conftest.record, "interval", hours=1, id="paused", next_run_time=None)
    scheduler.add_job(conftest.record, "interval", hours=1, id="elsewhere", jobstore="other")
    scheduler.start()
    return scheduler


def same_jobs(left: list[Job], right: list[Job]) -> None:
    def key(job: Job):
        return (job.id, job.name, job.func_ref, job.args, job.kwargs, job.trigger, job.executor,
                job.misfire_grace_time, job.coalesce, job.max_instances, job.next_run_time)

    assert sorted(map(key, left), key=str) == sorted(map(key, right), key=str)


@pytest.mark.parametrize("target", ["path", "str-path", "file"])
def test_exported_jobs_import_unchanged_into_another_store(source, fake_clock, tmp_path, target):
    path = tmp_path / "jobs.json"
    buffer = io.StringIO()
    where = {"path": path, "str-path": str(path), "file": buffer}[target]
    source.export_jobs(where, jobstore="default")
    text = buffer.getvalue() if target == "file" else path.read_text()
    document = json.loads(text)
    assert document["version"] == 1 and "scheduler_version" in document
    assert "pickle" not in text and {j["id"] for j in document["jobs"]} == {
        "cron", "interval", "date", "paused"}

    events: list = []
    target_scheduler = scheduler_with(fake_clock, SQLiteJobStore(path=tmp_path / "state.db"))
    target_scheduler.add_listener(events.append, EVENT_JOB_ADDED)
    target_scheduler.start()
    target_scheduler.import_jobs(io.StringIO(text) if target == "file" else where)
    same_jobs(target_scheduler.get_jobs(), source.get_jobs(jobstore="default"))
    assert sorted(e.job_id for e in events) == ["cron", "date", "interval", "paused"]
    run_until(target_scheduler, fake_clock, START + timedelta(hours=3))
    assert conftest.CALLS == [((), {})] * 3  # the interval job at 12:00, 13:30, 15:00


def test_export_takes_every_store_by_default_and_needs_a_started_scheduler(source, fake_clock):
    out = io.StringIO()
    source.export_jobs(out)
    assert len(json.loads(out.getvalue())["jobs"]) == 5
    stopped = scheduler_with(fake_clock, MemoryJobStore())
    with pytest.raises(SchedulerNotRunningError):
        stopped.export_jobs(io.StringIO())
    with pytest.raises(SchedulerNotRunningError):
        stopped.import_jobs(io.StringIO(out.getvalue()))


def test_a_job_that_cannot_be_written_stops_the_export_before_anything_is_written(
    source, tmp_path
):
    source.add_job(lambda: None, "interval", minutes=1, id="lambda")
    path = tmp_path / "jobs.json"
    with pytest.raises(ValueError, match="job 'lambda'"):
        source.export_jobs(path)
    assert not path.exists()


def test_import_is_all_or_nothing_on_a_conflicting_id(source, fake_clock, tmp_path):
    out = io.StringIO()
    source.export_jobs(out, jobstore="default")
    target = scheduler_with(fake_clock, SQLiteJobStore(path=tmp_path / "state.db"))
    target.start()
    target.add_job(conftest.record, "interval", hours=5, id="date")
    with pytest.raises(ConflictingIdError, match="'date'"):
        target.import_jobs(io.StringIO(out.getvalue()))
    assert [job.id for job in target.get_jobs()] == ["date"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", ["jobs.json", "not a JSON job export"]),
        ('["a list"]', ["jobs.json", "expected an object with a 'jobs' list"]),
        ('{"version": 2, "jobs": []}', ["jobs.json", "version 2 is not supported"]),
        ('{"version": 1, "jobs": [{"id": "x", "version": 1}]}',
         ["jobs.json: jobs[0] ('x')", "missing key 'name'"]),
        ('{"version": 1, "jobs": [{"id": "x", "version": 1, "next_run_time": 5}]}',
         ["jobs[0]", "next_run_time"]),
    ],
    ids=["not-json", "not-an-object", "version", "missing-key", "bad-time"],
)
def test_a_bad_import_names_the_file_and_the_job(fake_clock, tmp_path, text, words):
    path = tmp_path / "jobs.json"
    path.write_text(text)
    scheduler = scheduler_with(fake_clock, MemoryJobStore())
    scheduler.start()
    with pytest.raises(ValueError) as info:
        scheduler.import_jobs(Path(path))
    assert all(word in str(info.value) for word in words), info.value
    assert scheduler.get_jobs() == []


def test_import_reads_naive_next_run_times_in_the_scheduler_zone(source, fake_clock):
    out = io.StringIO()
    source.export_jobs(out, jobstore="other")
    document = json.loads(out.getvalue())
    document["jobs"][0]["next_run_time"] = "2030-01-01 10:00:00"
    target = scheduler_with(fake_clock, MemoryJobStore(), timezone="Europe/Berlin")
    target.start()
    target.import_jobs(io.StringIO(json.dumps(document)))
    assert target.get_job("elsewhere").next_run_time == datetime(2030, 1, 1, 10, tzinfo=BERLIN)
