"""export_jobs / import_jobs: moving jobs between stores through a JSON document.

APScheduler 3.11's methods, with one difference: a job is written as its stored JSON
state (``Job.to_state()``), never pickled, so an export can be read, edited and
checked by people, and importing one cannot run code. A job that could not be kept
in a SQLite store cannot be exported either.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any

from schedctl.errors import SchedulerNotRunningError
from schedctl.events import EVENT_JOB_ADDED, JobEvent
from schedctl.job import Job
from schedctl.timeutil import UTC, convert_to_datetime

if TYPE_CHECKING:
    from schedctl.events import SchedulerEvent
    from schedctl.jobstores.base import BaseJobStore

EXPORT_VERSION = 1

PathOrFile = str | os.PathLike[str] | IO[str]


class TransferAPI:
    """Mixed into BaseScheduler; relies on its stores, lock and events."""

    _jobstores: dict[str, BaseJobStore]
    _jobstores_lock: threading.RLock
    state: int
    timezone: Any

    if TYPE_CHECKING:

        def _dispatch_event(self, event: SchedulerEvent) -> None: ...
        def wakeup(self) -> None: ...
        def _store(self, alias: str) -> BaseJobStore: ...
        def _stores(self, jobstore: str | None) -> list[tuple[str, BaseJobStore]]: ...

    def export_jobs(self, outfile: PathOrFile, jobstore: str | None = None) -> None:
        """Write the jobs of one store, or of all, as JSON to a path or a text file object.

        The scheduler must be started (it may be paused). ValueError, naming the job, for
        a job that cannot be written (a lambda, arguments that are not JSON), before
        anything is written.
        """
        from schedctl import __version__

        if self.state == 0:
            raise SchedulerNotRunningError()
        with self._jobstores_lock:
            jobs = [job for _, store in self._stores(jobstore) for job in store.get_all_jobs()]
        document = {
            "version": EXPORT_VERSION,
            "scheduler_version": __version__,
            "jobs": [_job_entry(job) for job in jobs],
        }
        with ExitStack() as stack:
            out = _open(stack, outfile, "w")
            json.dump(document, out, indent=1, ensure_ascii=True)

    def import_jobs(self, infile: PathOrFile, jobstore: str = "default") -> None:
        """Add the jobs of an ``export_jobs`` document to ``jobstore``, all or none.

        The scheduler must be started. Next run times are kept as exported. ValueError
        for a document that is no export; ConflictingIdError for an id already there.
        """
        if self.state == 0:
            raise SchedulerNotRunningError()
        with ExitStack() as stack:
            source = _open(stack, infile, "r")
            name = str(getattr(source, "name", "jobs export"))
            try:
                document = json.load(source)
            except ValueError as exc:
                raise ValueError(f"{name}: not a JSON job export ({exc})") from None
        jobs = _read_jobs(document, name, self)
        with self._jobstores_lock:
            store = self._store(jobstore)
            store.add_jobs(jobs)
            for job in jobs:
                job._scheduler, job._jobstore_alias = self, jobstore  # type: ignore[assignment]
        for job in jobs:
            self._dispatch_event(JobEvent(code=EVENT_JOB_ADDED, job_id=job.id, jobstore=jobstore))
        self.wakeup()


def _open(stack: ExitStack, target: PathOrFile, mode: str) -> IO[str]:
    """A file object as given, or the file at a path, opened for ``mode`` and closed by ``stack``."""
    if isinstance(target, (str, os.PathLike)):
        return stack.enter_context(open(target, mode, encoding="utf-8"))
    return target


def _job_entry(job: Job) -> dict[str, Any]:
    next_run_time = None if job.next_run_time is None else job.next_run_time.isoformat()
    return {**job.to_state(), "next_run_time": next_run_time}


def _read_jobs(document: Any, name: str, scheduler: Any) -> list[Job]:
    if not isinstance(document, dict) or not isinstance(document.get("jobs"), list):
        raise ValueError(f"{name}: not a job export (expected an object with a 'jobs' list)")
    if document.get("version") != EXPORT_VERSION:
        raise ValueError(
            f"{name}: job export version {document.get('version')!r} is not supported "
            f"(this schedctl reads version {EXPORT_VERSION})"
        )
    jobs = []
    for index, entry in enumerate(document["jobs"]):
        where = f"{name}: jobs[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object, got {entry!r}")
        state = dict(entry)
        try:
            when = convert_to_datetime(state.pop("next_run_time", None), scheduler.timezone,
                                       "next_run_time")
            when = None if when is None else when.astimezone(UTC)
            jobs.append(Job.from_state(state, next_run_time=when, version=0, scheduler=scheduler))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where} ({entry.get('id', '?')!r}): {_reason(exc)}") from None
    return jobs


def _reason(exc: Exception) -> str:
    return f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
