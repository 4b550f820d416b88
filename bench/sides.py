"""The two engines under test behind one small interface, so every workload gives both
the same setup: the same executor size, job defaults, time zone, triggers and jobs.

Only public APIs are called, apart from the loop hooks the probes need (``tick`` on
schedctl, ``_process_jobs`` on APScheduler) and, to *prepare* large APScheduler
stores quickly, its SQLAlchemy table and pickle protocol (the preparation is never
timed; adding jobs one by one through the API is measured separately).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import pickle
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LIBS = ("schedctl", "apscheduler")
STORES = ("memory", "sqlite")
WORKERS = 20

#: Both engines run every job late or not (no misfire drops that would hide lateness),
#: coalesce backlogs and never overlap a job with itself.
JOB_DEFAULTS: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


def aps_installed() -> bool:
    return (
        importlib.util.find_spec("apscheduler") is not None
        and importlib.util.find_spec("sqlalchemy") is not None
    )


def _aps(module: str, name: str) -> Any:
    """An APScheduler object, imported only when APScheduler is measured (untyped, optional)."""
    return getattr(importlib.import_module(f"apscheduler.{module}"), name)


def warm_up(lib: str) -> None:
    """Import everything ``lib`` will use, so no timing includes first-use imports
    (SQLAlchemy alone takes a tenth of a second): both sides start warm."""
    if lib == "schedctl":
        for module in (
            "executors.pool",
            "jobstores.memory",
            "jobstores.sqlite",
            "job",
            "triggers.date",
            "triggers.interval",
        ):
            importlib.import_module(f"schedctl.{module}")
        _schedctl_class()
        return
    for module in (
        "executors.pool",
        "jobstores.memory",
        "jobstores.sqlalchemy",
        "job",
        "triggers.date",
        "triggers.interval",
        "util",
    ):
        importlib.import_module(f"apscheduler.{module}")
    _aps_class()


def quiet_logging() -> None:
    """Both engines log every run at INFO and skips at WARNING; with no handler configured,
    warnings would go to stderr through logging's last-resort handler. Measure the engines,
    not the terminal."""
    logging.disable(logging.CRITICAL)


def store_label(store: str) -> str:
    """For tables; on APScheduler's side "SQLite" is its SQLAlchemyJobStore on an SQLite file."""
    return "memory store" if store == "memory" else "SQLite store"


# -- jobs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """One job, independent of the engine: ``trigger`` is 'date' or 'interval'."""

    id: str
    trigger: str
    trigger_args: dict[str, Any]
    next_run_time: datetime | None = None
    func: str = "bench.probes:noop"
    args: tuple[Any, ...] = field(default_factory=tuple)


def add_job(scheduler: Any, spec: JobSpec) -> None:
    """Add ``spec`` through the scheduler's public ``add_job`` (same call on both engines)."""
    extra = {} if spec.next_run_time is None else {"next_run_time": spec.next_run_time}
    scheduler.add_job(
        spec.func, spec.trigger, args=list(spec.args), id=spec.id, **extra, **spec.trigger_args
    )


def make_trigger(lib: str, spec: JobSpec) -> Any:
    if lib == "schedctl":
        from schedctl.triggers.base import trigger_class

        cls: Any = trigger_class(spec.trigger)
    else:
        names = {"date": "DateTrigger", "interval": "IntervalTrigger"}
        cls = _aps(f"triggers.{spec.trigger}", names[spec.trigger])
    return cls(timezone=UTC, **spec.trigger_args)


def make_job(lib: str, spec: JobSpec, scheduler: Any = None) -> Any:
    """A job object of ``lib`` (APScheduler's Job needs a scheduler for its time zone)."""
    options = dict(
        JOB_DEFAULTS,
        id=spec.id,
        func=spec.func,
        args=spec.args,
        kwargs={},
        trigger=make_trigger(lib, spec),
        next_run_time=spec.next_run_time,
    )
    if lib == "schedctl":
        from schedctl.job import Job

        return Job(None, **options)
    return _aps("job", "Job")(scheduler, executor="default", name=spec.id, **options)


# -- stores and schedulers -------------------------------------------------------------------


def make_store(lib: str, store: str, path: str | None = None) -> Any:
    if lib == "schedctl":
        if store == "memory":
            from schedctl.jobstores.memory import MemoryJobStore

            return MemoryJobStore()
        from schedctl.jobstores.sqlite import SQLiteJobStore

        return SQLiteJobStore(path=path)
    if store == "memory":
        return _aps("jobstores.memory", "MemoryJobStore")()
    return _aps("jobstores.sqlalchemy", "SQLAlchemyJobStore")(url=f"sqlite:///{path}")


class LoopProbe:
    """Counts the scheduler loop's passes (schedctl ``tick``, APScheduler ``_process_jobs``)."""

    def __init__(self) -> None:
        self.passes = 0
        self.first_pass = threading.Event()

    def after_pass(self) -> None:
        self.passes += 1
        self.first_pass.set()


def make_scheduler(lib: str, jobstore: Any, *, workers: int = WORKERS) -> Any:
    """A background scheduler over ``jobstore`` with a ``probe`` attribute (a LoopProbe)."""
    cls = _schedctl_class() if lib == "schedctl" else _aps_class()
    if lib == "schedctl":
        from schedctl.executors.pool import ThreadPoolExecutor

        executor: Any = ThreadPoolExecutor(workers)
    else:
        executor = _aps("executors.pool", "ThreadPoolExecutor")(workers)
    scheduler = cls(
        jobstores={"default": jobstore},
        executors={"default": executor},
        job_defaults=dict(JOB_DEFAULTS),
        timezone=UTC,
    )
    scheduler.probe = LoopProbe()
    return scheduler


_classes: dict[str, type] = {}


def _schedctl_class() -> type:
    if "schedctl" not in _classes:
        from schedctl.schedulers.background import BackgroundScheduler

        class ProbedScheduler(BackgroundScheduler):
            probe: LoopProbe

            def tick(self, now: datetime | None = None) -> datetime | None:
                deadline = super().tick(now)
                self.probe.after_pass()
                return deadline

        _classes["schedctl"] = ProbedScheduler
    return _classes["schedctl"]


def _aps_class() -> type:
    if "apscheduler" not in _classes:
        base: Any = _aps("schedulers.background", "BackgroundScheduler")

        class ProbedAPScheduler(base):
            probe: LoopProbe

            def _process_jobs(self) -> float | None:
                wait = super()._process_jobs()
                self.probe.after_pass()
                return wait

        _classes["apscheduler"] = ProbedAPScheduler
    return _classes["apscheduler"]


# -- preparing stores (never timed) ----------------------------------------------------------


def fill_store(lib: str, store: str, specs: Sequence[JobSpec], path: str | None = None) -> Any:
    """A store holding ``specs``, filled the fastest way each engine allows.

    SQLite files are written and closed (the caller opens them anew); schedctl's
    memory store is returned, to be given to a scheduler.
    """
    if lib == "schedctl":
        target = make_store(lib, store, path)
        target.add_jobs([make_job(lib, spec) for spec in specs])
        if store == "sqlite":
            target.shutdown()
        return target
    if store != "sqlite":
        raise ValueError("APScheduler's memory store is filled through add_job")
    holder = _aps_class()(timezone=UTC)  # never started: gives jobs their time zone
    target = make_store(lib, store, path)
    target.start(holder, "default")
    _aps_bulk_insert(target, [make_job(lib, spec, holder) for spec in specs])
    target.shutdown()
    return target


def populated_scheduler(lib: str, store: str, specs: Sequence[JobSpec], path: str) -> Any:
    """A scheduler (not started) whose store holds ``specs``. SQLite files are filled
    first and opened anew; APScheduler's memory store is filled through pending
    ``add_job`` calls, which ``start()`` places."""
    if store == "sqlite":
        if specs:
            fill_store(lib, store, specs, path)
        return make_scheduler(lib, make_store(lib, store, path))
    if lib == "schedctl":
        return make_scheduler(lib, fill_store(lib, store, specs))
    scheduler = make_scheduler(lib, make_store(lib, store))
    for spec in specs:
        add_job(scheduler, spec)
    return scheduler


def _aps_bulk_insert(store: Any, jobs: Sequence[Any]) -> None:
    datetime_to_utc_timestamp = _aps("util", "datetime_to_utc_timestamp")
    rows = [
        {
            "id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol),
        }
        for job in jobs
    ]
    with store.engine.begin() as connection:
        connection.execute(store.jobs_t.insert(), rows)


def prepared_copy(prepared: str, path: str) -> str:
    """Copy a prepared SQLite file to ``path`` (each repetition gets an untouched copy)."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(prepared + suffix):
            shutil.copyfile(prepared + suffix, path + suffix)
    return path
