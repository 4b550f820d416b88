"""The job store contract and its errors.

A store answers two kinds of callers: the scheduler, which claims due jobs and
advances them in one transaction (``process_due_jobs``), and everybody else
(the API, the CLI in another process), who add, change and remove jobs. Every
write bumps the job's ``version``; ``update_job`` is a compare-and-set on it, so
a change made meanwhile by someone else is never silently overwritten.

The abstract methods are APScheduler 3's; everything added beyond them has a default
built on those, so a store written for APScheduler 3 works here as it is.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from schedctl.errors import ConflictingIdError, JobLookupError, StaleJobError
from schedctl.job import Job

if TYPE_CHECKING:
    from schedctl.schedulers.base import BaseScheduler

__all__ = [
    "BaseJobStore",
    "ConflictingIdError",
    "DuePlan",
    "JobLookupError",
    "StaleJobError",
]


class DuePlan(Protocol):
    """What the scheduler decides for one due job; the store only needs the new next run time.

    ``next_run_time`` None means the trigger is exhausted and the job is removed.
    """

    next_run_time: datetime | None


PlanT = TypeVar("PlanT", bound=DuePlan)


class BaseJobStore(ABC):
    """Where jobs live between runs.

    ``poll_interval`` is None for stores only this process can change; stores that
    other processes may change set it to the longest the scheduler may sleep
    without looking again.
    """

    poll_interval: float | None = None

    #: Whether the scheduler runs this store's jobs from memory while the store fails
    #: (see ``schedulers/outage.py``); only for a store that no other scheduler uses.
    keep_schedule_on_error: bool = False

    #: Whether jobs are kept as ``Job.to_state()`` JSON, so they must be storable.
    serializes_jobs: bool = True

    #: Whether other schedulers claim from this store too: then a scheduler claims no more
    #: than its executors can start at once, and leaves the rest to the others.
    shared: bool = False

    def __init__(self) -> None:
        #: StoreErrors raised since the store was made (``schedctl_store_errors_total``).
        self.errors = 0
        self._scheduler: BaseScheduler | None = None
        self._alias: str | None = None
        self._logger = logging.getLogger("schedctl.jobstores")

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """Called by the scheduler when it starts or when the store is added to a running one."""
        self._scheduler, self._alias = scheduler, alias
        self._logger = logging.getLogger(f"schedctl.jobstores.{alias}")

    def shutdown(self) -> None:
        """Release resources; the store may be started again."""

    def wait_cap(self) -> float | None:
        """The longest the scheduler may sleep without looking at this store (None: no limit)."""
        return self.poll_interval

    # -- reads ------------------------------------------------------------------------------

    @abstractmethod
    def lookup_job(self, job_id: str) -> Job | None:
        """The job with ``job_id``, or None."""

    @abstractmethod
    def get_due_jobs(self, now: datetime) -> list[Job]:
        """Unpaused jobs whose next run time is at or before ``now``, earliest first."""

    @abstractmethod
    def get_next_run_time(self) -> datetime | None:
        """The earliest next run time of any unpaused job; must not cost more with more jobs."""

    @abstractmethod
    def get_all_jobs(self) -> list[Job]:
        """Every job, by next run time, paused ones last."""

    # -- writes -------------------------------------------------------------------------------

    @abstractmethod
    def add_job(self, job: Job) -> None:
        """Store a new job. ConflictingIdError if the id is taken."""

    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """Store many new jobs at once; all or nothing. Stores override this to batch."""
        for job in jobs:
            self.add_job(job)

    @abstractmethod
    def update_job(self, job: Job) -> None:
        """Replace a stored job. JobLookupError if it is gone, StaleJobError if its
        version is not ``job.version`` (someone changed it since it was read)."""

    @abstractmethod
    def remove_job(self, job_id: str) -> None:
        """JobLookupError if there is no such job."""

    @abstractmethod
    def remove_all_jobs(self) -> None: ...

    def process_due_jobs(
        self, now: datetime, plan: Callable[[Job, datetime], PlanT], limit: int = 100
    ) -> list[tuple[Job, PlanT]]:
        """Claim the due jobs: in one transaction, ``plan(job, now)`` each and save its new
        next run time (removing jobs whose trigger is exhausted). Returns what was claimed,
        so the caller runs only what was committed.

        ``now`` passed to ``plan`` is the time the store judged due-ness by: the caller's
        ``now``, or the database's clock for a store that several hosts share.

        The default is built on ``get_due_jobs``, ``update_job`` and ``remove_job``, one
        call each: not one transaction, so such a store serves one scheduler only."""
        claimed = []
        for job in self.get_due_jobs(now)[:limit]:
            decision = plan(job, now)
            try:
                if decision.next_run_time is None:
                    self.remove_job(job.id)
                else:
                    advanced = job.copy()
                    advanced.next_run_time = decision.next_run_time
                    self.update_job(advanced)
            except JobLookupError:
                continue  # removed meanwhile: nothing to run
            claimed.append((job, decision))
        return claimed

    # -- run requests -----------------------------------------------------------------------------

    def request_run(self, job_id: str, when: datetime) -> None:
        """Ask the scheduler using this store to run ``job_id`` once, soon, leaving its
        schedule (and paused state) alone. JobLookupError if there is no such job.

        The default keeps requests in this process; stores that other processes write to
        keep them where those processes can add them."""
        if self.lookup_job(job_id) is None:
            raise JobLookupError(job_id)
        lock, requests = self._run_requests()
        with lock:
            requests.append((job_id, when))

    def take_run_requests(self) -> list[tuple[str, datetime]]:
        """Remove and return the pending run requests, oldest first."""
        lock, requests = self._run_requests()
        if not requests:  # every pass asks: no lock for the usual answer
            return []
        with lock:
            taken = list(requests)
            requests.clear()
        return taken

    def _run_requests(self) -> tuple[threading.Lock, list[tuple[str, datetime]]]:
        # Made on first use: a store written for APScheduler 3 may never call our __init__.
        state = self.__dict__.get("_run_request_queue")
        if state is None:
            state = self.__dict__.setdefault("_run_request_queue", (threading.Lock(), []))
        return state

    # -- helpers for subclasses -------------------------------------------------------------

    @staticmethod
    def _fix_paused_jobs_sorting(jobs: list[Job]) -> None:
        """Move paused jobs (no next run time) to the end, as ``get_all_jobs`` promises; for
        stores whose query sorts NULL first (APScheduler 3 offers the same helper)."""
        paused = [job for job in jobs if job.next_run_time is None]
        if paused:
            jobs[:] = [job for job in jobs if job.next_run_time is not None] + paused

    def _attach(self, job: Job) -> Job:
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
