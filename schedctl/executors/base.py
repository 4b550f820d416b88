"""The executor contract: count running instances, run a job, report what happened."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from schedctl.errors import MaxInstancesReachedError
from schedctl.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from schedctl.job import Job

if TYPE_CHECKING:
    from schedctl.clock import Clock
    from schedctl.schedulers.base import BaseScheduler


class BaseExecutor(ABC):
    """Runs jobs and reports each run as an event.

    The base class owns the bookkeeping every executor needs — how many instances
    of each job are running, so ``max_instances`` holds — and subclasses only say
    how work is handed off.
    """

    def __init__(self) -> None:
        self._instances: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._scheduler: BaseScheduler | None = None
        self._logger = logging.getLogger("schedctl.executors")

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        self._scheduler = scheduler
        self._logger = logging.getLogger(f"schedctl.executors.{alias}")

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with ``wait``, return once running jobs have finished."""

    def submit_job(self, job: Job, run_times: Sequence[datetime]) -> None:
        """Hand ``job`` over for ``run_times``; MaxInstancesReachedError if it may not start.

        EVENT_JOB_SUBMITTED is emitted here, before the job can start, so listeners
        always see a run's submission before its outcome.
        """
        with self._lock:
            if self._instances[job.id] >= job.max_instances:
                raise MaxInstancesReachedError(job.id, job.max_instances)
            self._instances[job.id] += 1
        scheduler = self._scheduler
        assert scheduler is not None
        if scheduler._listened(EVENT_JOB_SUBMITTED):
            scheduler._dispatch_event(JobSubmissionEvent(
                code=EVENT_JOB_SUBMITTED, job_id=job.id, jobstore=job._jobstore_alias,
                scheduled_run_times=tuple(run_times),
            ))
        try:
            self._do_submit_job(job, list(run_times))
        except BaseException:
            self._release(job.id)
            raise

    def running_instances(self, job_id: str) -> int:
        with self._lock:
            return self._instances.get(job_id, 0)

    @abstractmethod
    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None: ...

    def _run_job_success(self, job_id: str, events: list[JobExecutionEvent]) -> None:
        """Called when a run ends, whatever its outcome."""
        self._release(job_id)
        assert self._scheduler is not None
        for event in events:
            self._scheduler._dispatch_event(event)

    def _run_job_error(self, job_id: str, exc: BaseException, tb: Any = None) -> None:
        """Called when the executor itself failed to run the job (not when the job raised)."""
        self._release(job_id)
        self._logger.error("Error running job %s", job_id, exc_info=(type(exc), exc, tb))

    def _release(self, job_id: str) -> None:
        with self._idle:
            self._instances[job_id] -= 1
            if self._instances[job_id] <= 0:
                del self._instances[job_id]
            self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None, job_id: str | None = None) -> bool:
        """Block until no job (or no instance of ``job_id``) runs here (True), or
        until ``timeout`` passes (False)."""
        with self._idle:
            if job_id is None:
                return self._idle.wait_for(lambda: not self._instances, timeout)
            return self._idle.wait_for(lambda: job_id not in self._instances, timeout)

    def running_total(self) -> int:
        with self._lock:
            return sum(self._instances.values())

    def running_jobs(self) -> dict[str, int]:
        """How many instances of each job run here now (jobs with none left out)."""
        with self._lock:
            return dict(self._instances)

    def free_slots(self) -> int | None:
        """How many more runs could start now without waiting; None for no limit."""
        return None


def run_job(
    func: Callable[..., Any] | str,
    job: JobCall,
    run_times: Sequence[datetime],
    clock: Clock,
    logger_name: str,
) -> list[JobExecutionEvent]:
    """Run one job for each of ``run_times`` and return the events describing each run.

    Runs that have become too late while waiting for a worker are reported as
    missed instead of run. This function runs in worker threads and worker
    processes alike, so it takes plain data and returns plain data.
    """
    logger = logging.getLogger(logger_name)
    if isinstance(func, str):
        from schedctl.refs import ref_to_obj

        func = ref_to_obj(func)
    assert callable(func)
    events = []
    for run_time in run_times:
        if job.misfire_grace_time is not None:
            lateness = clock.now() - run_time
            if lateness > timedelta(seconds=job.misfire_grace_time):
                logger.warning("Run time of job '%s' was missed by %s", job, lateness)
                events.append(job.event(EVENT_JOB_MISSED, run_time))
                continue
        logger.info("Running job '%s' (scheduled at %s)", job, run_time)
        token = _CURRENT_RUN.set(RunContext(job.id, job.jobstore, run_time))
        try:
            retval = func(*job.args, **job.kwargs)
        except (Exception, SystemExit) as exc:
            formatted = "".join(traceback.format_exception(*sys.exc_info()))
            logger.exception("Job '%s' raised an exception", job)
            events.append(job.event(EVENT_JOB_ERROR, run_time, exception=exc, traceback=formatted))
            del exc
        else:
            events.append(job.event(EVENT_JOB_EXECUTED, run_time, retval=retval))
            logger.info("Job '%s' executed successfully", job)
        finally:
            _CURRENT_RUN.reset(token)
    return events


@dataclass(frozen=True)
class RunContext:
    """The run a job function is executing, for functions that want to know
    (the command runner passes the scheduled time to the command's environment)."""

    job_id: str
    jobstore: str | None
    scheduled_run_time: datetime


_CURRENT_RUN: ContextVar[RunContext | None] = ContextVar("schedctl_current_run", default=None)


def current_run() -> RunContext | None:
    """The run being executed in this thread (or worker process), or None outside a job."""
    return _CURRENT_RUN.get()


@contextmanager
def running_as(context: RunContext) -> Iterator[None]:
    """Make :func:`current_run` return ``context`` in this block: a run made outside any
    executor (``schedctl run-now`` without a scheduler) still tells the job its run."""
    token = _CURRENT_RUN.set(context)
    try:
        yield
    finally:
        _CURRENT_RUN.reset(token)


class JobCall:
    """The picklable part of a job that a worker needs to run it and to report on it."""

    __slots__ = ("args", "id", "jobstore", "kwargs", "misfire_grace_time", "name", "trigger_text")

    def __init__(self, job: Job) -> None:
        self.id = job.id
        self.jobstore = job._jobstore_alias
        self.name, self.trigger_text = job.name, job.trigger
        self.args, self.kwargs = job.args, job.kwargs
        self.misfire_grace_time = job.misfire_grace_time

    def __str__(self) -> str:
        """Built only when a log line is written: most runs log nothing at INFO."""
        return f"{self.name} (trigger: {self.trigger_text})"

    def __getstate__(self) -> tuple[Any, ...]:
        # A worker process needs only the trigger's text, not the trigger.
        return tuple(
            str(getattr(self, slot)) if slot == "trigger_text" else getattr(self, slot)
            for slot in self.__slots__
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for slot, value in zip(self.__slots__, state):
            setattr(self, slot, value)

    def event(self, code: int, run_time: datetime, **extra: Any) -> JobExecutionEvent:
        return JobExecutionEvent(
            code=code, job_id=self.id, jobstore=self.jobstore, scheduled_run_time=run_time, **extra
        )
