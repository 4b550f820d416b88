"""MemoryJobStore: the reference store, and the fastest. Nothing survives the process."""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from datetime import datetime

from schedctl.errors import ConflictingIdError, JobLookupError, StaleJobError
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore, PlanT

_PAUSED = float("inf")


def _sort_key(job: Job) -> tuple[float, str]:
    return (_PAUSED if job.next_run_time is None else job.next_run_time.timestamp(), job.id)


class MemoryJobStore(BaseJobStore):
    """Jobs in a dict, plus a list kept sorted by next run time for due-job lookups."""

    serializes_jobs = False

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, tuple[Job, tuple[float, str]]] = {}
        self._order: list[tuple[float, str]] = []
        self._lock = threading.RLock()

    def lookup_job(self, job_id: str) -> Job | None:
        with self._lock:
            entry = self._jobs.get(job_id)
            return self._attach(entry[0].copy()) if entry else None

    def get_due_jobs(self, now: datetime, limit: int | None = None) -> list[Job]:
        with self._lock:
            end = bisect_left(self._order, (now.timestamp(), "\U0010ffff"))
            if limit is not None:
                end = min(end, limit)  # copy only what will be used: a backlog may be huge
            return [self._attach(self._jobs[key[1]][0].copy()) for key in self._order[:end]]

    def get_next_run_time(self) -> datetime | None:
        with self._lock:
            if not self._order or self._order[0][0] == _PAUSED:
                return None
            return self._jobs[self._order[0][1]][0].next_run_time

    def get_all_jobs(self) -> list[Job]:
        with self._lock:
            return [self._attach(self._jobs[key[1]][0].copy()) for key in self._order]

    def add_job(self, job: Job) -> None:
        with self._lock:
            if job.id in self._jobs:
                raise ConflictingIdError(job.id)
            job.version = 1
            self._insert(job)
            self._attach(job)

    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """All or nothing, like the persistent stores: check every id before adding any."""
        batch = list(jobs)
        with self._lock:
            seen: set[str] = set()
            for job in batch:
                if job.id in self._jobs or job.id in seen:
                    raise ConflictingIdError(job.id)
                seen.add(job.id)
            for job in batch:
                self.add_job(job)

    def update_job(self, job: Job) -> None:
        with self._lock:
            entry = self._jobs.get(job.id)
            if entry is None:
                raise JobLookupError(job.id)
            if entry[0].version != job.version:
                raise StaleJobError(job.id)
            self._delete(job.id)
            job.version += 1
            self._insert(job)

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._jobs:
                raise JobLookupError(job_id)
            self._delete(job_id)

    def remove_all_jobs(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._order.clear()

    def process_due_jobs(
        self, now: datetime, plan: Callable[[Job, datetime], PlanT], limit: int = 100
    ) -> list[tuple[Job, PlanT]]:
        with self._lock:
            end = min(bisect_left(self._order, (now.timestamp(), "\U0010ffff")), limit)
            due = [self._attach(self._jobs[key[1]][0].copy()) for key in self._order[:end]]
            # Plan them all before changing any, so a failing plan leaves the store as it was.
            claimed = [(job, plan(job, now)) for job in due]
            # The claimed are the first ``end`` keys: one cut, where a delete per job moved
            # the whole rest of the list each time (a backlog of 50,000 moved 10 GB).
            del self._order[:end]
            for job, decision in claimed:
                del self._jobs[job.id]
                if decision.next_run_time is not None:
                    stored = job.copy()  # the caller's copy stays the caller's
                    stored.next_run_time = decision.next_run_time
                    stored.version += 1
                    self._insert(stored, copy=False)
        return claimed

    def _insert(self, job: Job, *, copy: bool = True) -> None:
        stored = job.copy() if copy else job
        key = _sort_key(stored)
        self._jobs[job.id] = (stored, key)
        insort(self._order, key)

    def _delete(self, job_id: str) -> None:
        _, key = self._jobs.pop(job_id)
        del self._order[bisect_left(self._order, key)]
