"""Keeping a store's schedule in memory while the store fails, for its only scheduler.

A full disk, a file system remounted read-only or a damaged state file make every
claim fail. A cron replacement must not stop running the backups (nor the job that
would free the disk) because of that, so a store that opts in
(``keep_schedule_on_error``) is run from memory meanwhile: its jobs as read when the
outage began (or, if even reading fails, as last read, at most ``REFRESH`` old, with
this scheduler's own claims applied), planned with the usual misfire and coalescing
rules. The store is retried every ``STORE_RETRY``; when it works again, the next run
times reached in memory are written back before anything is claimed, so no run
happens twice.

Only safe when this scheduler is the store's only one (``schedctl run`` holds the
state file's lock): nothing arbitrates between two schedulers while the store is down.
Runs made from memory are logged; ``schedctl run`` holds their history rows until the
store works again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from schedctl.errors import JobLookupError, StaleJobError, StoreError
from schedctl.job import Job
from schedctl.schedulers.planning import RunPlan, plan_runs

if TYPE_CHECKING:
    from schedctl.jobstores.base import BaseJobStore

#: How often, while the store works, its whole schedule is read again for use in an outage
#: that begins with a store that cannot even be read.
REFRESH = timedelta(seconds=60)

#: How long to wait before retrying a store that failed.
STORE_RETRY = timedelta(seconds=5)

_CAS_ATTEMPTS = 5


class MemorySchedule:
    """One store's last known schedule, and what was run from it while the store failed."""

    def __init__(self, store: BaseJobStore, alias: str) -> None:
        self._store = store
        self._alias = alias
        self._logger = logging.getLogger(f"schedctl.jobstores.{alias}")
        self._jobs: dict[str, Job] = {}
        self._read_at: datetime | None = None
        self._advanced: set[str] = set()  # jobs run from memory: their next run time is ours
        self.failing_since: datetime | None = None
        self._retry_at: datetime | None = None

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def retry_due(self, now: datetime) -> bool:
        """Whether to try the store again (also at once after a backward clock step)."""
        return self._retry_at is None or now >= self._retry_at or now < self._retry_at - STORE_RETRY

    def retry_now(self) -> None:
        """The store was repaired (its file taken back): try it at the next pass rather
        than after STORE_RETRY, since until then a change made in it (a pause) is unseen."""
        self._retry_at = None

    # -- while the store works -----------------------------------------------------------------

    def remember(self, claimed: list[tuple[Job, RunPlan]], now: datetime) -> None:
        """After a successful claim: end an outage, and keep the copy in step."""
        if self.failing_since is not None:
            self._logger.warning(
                "Job store %r works again after %s; its schedule is read from it again",
                self._alias, _ago(now - self.failing_since),
            )
            self.failing_since = self._retry_at = None
        for job, plan in claimed:
            if plan.next_run_time is None:
                self._jobs.pop(job.id, None)
            elif job.id in self._jobs:
                self._jobs[job.id].next_run_time = plan.next_run_time
        if self._read_at is None or abs(now - self._read_at) >= REFRESH:
            self._read(now)

    def _read(self, now: datetime) -> bool:
        try:
            jobs = self._store.get_all_jobs()
        except StoreError:
            return False
        self._jobs = {job.id: job for job in jobs}
        self._read_at = now
        return True

    # -- while it fails -------------------------------------------------------------------------

    def fail(self, exc: StoreError, now: datetime) -> None:
        """A claim or a write-back failed: begin (or go on with) the outage."""
        self._retry_at = now + STORE_RETRY
        if self.failing_since is not None:
            self._logger.debug("Job store %r still fails: %s", self._alias, exc)
            return
        self.failing_since = now
        if self._read(now):
            source = "as they are in it"
        elif self._read_at is not None:
            source = f"as last read {_ago(now - self._read_at)} ago"
        else:
            source = "none known"
        self._logger.error(
            "Job store %r failed: %s. Running its %d job(s) from memory (%s) and retrying "
            "every %s",
            self._alias, exc, len(self._jobs), source, _ago(STORE_RETRY),
        )

    def claim_due(self, now: datetime) -> list[tuple[Job, RunPlan]]:
        """Plan the due jobs from memory and advance them there."""
        due = sorted(
            (job for job in self._jobs.values()
             if job.next_run_time is not None and job.next_run_time <= now),
            key=lambda job: (job.next_run_time, job.id),
        )
        claimed = []
        for job in due:
            plan = plan_runs(job, now)
            job.next_run_time = plan.next_run_time
            self._advanced.add(job.id)
            claimed.append((job, plan))
        return claimed

    def next_wakeup(self) -> datetime | None:
        times = [job.next_run_time for job in self._jobs.values() if job.next_run_time is not None]
        if self._retry_at is not None:
            times.append(self._retry_at)
        return min(times, default=None)

    def write_back(self) -> None:
        """Save the next run times reached in memory; StoreError while the store still fails."""
        for job_id in sorted(self._advanced):
            job = self._jobs.get(job_id)
            if job is not None:
                self._save(job)
                if job.next_run_time is None:
                    del self._jobs[job_id]
            self._advanced.discard(job_id)

    def _save(self, job: Job) -> None:
        for _ in range(_CAS_ATTEMPTS):
            current = self._store.lookup_job(job.id)
            if current is None or current.next_run_time is None:
                return  # removed or paused meanwhile: that change wins
            try:
                if job.next_run_time is None:  # its last run happened from memory
                    self._store.remove_job(job.id)
                elif current.next_run_time < job.next_run_time:
                    current.next_run_time = job.next_run_time
                    self._store.update_job(current)
                return
            except StaleJobError:
                continue
            except JobLookupError:
                return


def _ago(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"
