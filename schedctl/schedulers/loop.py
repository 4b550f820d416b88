"""The loop body: claim what is due from each store, start its runs, say when to look again.

``tick`` is one pass and returns the next wake-up; the blocking and background
schedulers only repeat it and sleep until that deadline (or a wake-up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from schedctl.clock import Clock
from schedctl.errors import MaxInstancesReachedError, SchedulerNotRunningError, StoreError
from schedctl.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_REMOVED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from schedctl.executors.base import BaseExecutor
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore
from schedctl.schedulers.outage import STORE_RETRY, MemorySchedule
from schedctl.schedulers.planning import RunPlan, plan_runs
from schedctl.schedulers.states import STATE_RUNNING, STATE_STOPPED

#: The most due jobs claimed in one transaction; more due means another pass at once.
MAX_CLAIM_BATCH = 200

#: How soon a scheduler whose workers are all busy looks at a shared store again.
BUSY_RETRY = timedelta(milliseconds=50)

#: The longest the loop sleeps without looking at the wall clock again, so a clock
#: step (NTP, suspend and resume) is noticed within a minute.
MAX_WAIT = timedelta(seconds=60)

#: The ``run_guard`` option: asked before each submission of a job's runs; False skips them
#: (the guard reports why, and closes what the claim opened). ``schedctl run`` uses one to
#: run only what its jobfile declares, whatever the state file says.
RunGuard = Callable[[Job, list[datetime]], bool]


class RunLoop:
    """Mixed into BaseScheduler; relies on its stores, executors, clock and events."""

    #: Until when the loop sleeps, set once it has read the stores (None while it reads
    #: them, or when no loop runs): a job added that is due no sooner need not wake it.
    _sleeping_until: datetime | None = None

    _executors: dict[str, BaseExecutor]
    _executors_lock: threading.RLock
    _jobstores: dict[str, BaseJobStore]
    _jobstores_lock: threading.RLock
    _memories: dict[str, MemorySchedule]
    _wake: threading.Event
    _clock: Clock
    _logger: logging.Logger
    _run_guard: RunGuard | None
    state: int

    if TYPE_CHECKING:

        def _dispatch_event(self, event: SchedulerEvent) -> None: ...
        def _listened(self, code: int) -> bool: ...
        def wakeup(self) -> None: ...
        def _lookup_job(self, job_id: str, jobstore: str | None) -> tuple[Job, str | None]: ...
        def _store(self, alias: str) -> BaseJobStore: ...

    def failing_stores(self) -> dict[str, datetime]:
        """The stores run from memory because they fail, each with when it began."""
        return {alias: memory.failing_since for alias, memory in list(self._memories.items())
                if memory.failing_since is not None}

    def retry_stores_now(self) -> None:
        """A failing store was repaired: the stores run from memory are tried again at the
        next pass, which starts at once, instead of when their retry is due."""
        for memory in list(self._memories.values()):
            memory.retry_now()
        self.wakeup()

    def tick(self, now: datetime | None = None) -> datetime | None:
        """Start every run due at ``now`` and return when the next one is due (None: nothing is).

        This is one pass of the loop; tests call it with a fake time.
        """
        if now is None:
            now = self._clock.now()
        if self.state != STATE_RUNNING:
            return None
        deadlines: list[datetime] = []
        with self._jobstores_lock:
            for alias, store in list(self._jobstores.items()):
                deadline = self._process_store(alias, store, now)
                if deadline is not None:
                    deadlines.append(deadline)
        return min(deadlines, default=None)

    def _process_store(self, alias: str, store: BaseJobStore, now: datetime) -> datetime | None:
        batch = self._claim_batch(store)
        if batch == 0:  # every worker busy: the other schedulers take what is due
            self._serve_run_requests(alias, store)
            return now + BUSY_RETRY
        memory = self._memory_of(alias, store)
        if memory is not None and memory.failing and not memory.retry_due(now):
            return self._run_from_memory(alias, memory, now)
        try:
            if memory is not None and memory.failing:
                memory.write_back()  # before any claim, so nothing run from memory runs again
            claimed = store.process_due_jobs(now, plan_runs, limit=batch)
        except StoreError as exc:
            if memory is not None:
                memory.fail(exc, now)
                return self._run_from_memory(alias, memory, now)
            self._logger.error("Job store %r failed: %s; retrying", alias, exc)
            return now + STORE_RETRY
        except Exception:
            self._logger.exception("Error processing due jobs of job store %r; retrying", alias)
            return now + STORE_RETRY
        for job, plan in claimed:
            self._start_runs(job, alias, plan)
        if memory is not None:
            memory.remember(claimed, now)
        self._serve_run_requests(alias, store)
        if len(claimed) >= batch:
            return now  # more are due: come straight back
        try:
            return store.get_next_run_time()
        except Exception:
            self._logger.exception("Error reading job store %r; retrying", alias)
            return now + STORE_RETRY

    def _claim_batch(self, store: BaseJobStore) -> int:
        """How many due jobs to claim in one pass. From a shared store, no more than the
        executors can start now: a run claimed but queued here waits while another
        scheduler idles, so claiming what one can start is what spreads the load."""
        if not store.shared:
            return MAX_CLAIM_BATCH
        with self._executors_lock:
            slots = [executor.free_slots() for executor in self._executors.values()]
        if any(free is None for free in slots):
            return MAX_CLAIM_BATCH
        return min(sum(free or 0 for free in slots), MAX_CLAIM_BATCH)

    def _memory_of(self, alias: str, store: BaseJobStore) -> MemorySchedule | None:
        if not store.keep_schedule_on_error:
            return None
        memory = self._memories.get(alias)
        if memory is None:
            memory = self._memories[alias] = MemorySchedule(store, alias)
        return memory

    def _run_from_memory(self, alias: str, memory: MemorySchedule, now: datetime) -> datetime | None:
        """The store fails: start what is due by the schedule kept in memory."""
        for job, plan in memory.claim_due(now):
            self._start_runs(job, alias, plan)
        return memory.next_wakeup()

    def _serve_run_requests(self, alias: str, store: BaseJobStore) -> None:
        """Start the runs other processes asked for (``schedctl run-now``)."""
        try:
            requests = store.take_run_requests()
        except Exception:
            self._logger.exception("Error reading run requests of job store %r", alias)
            return
        for job_id, when in requests:
            job = store.lookup_job(job_id)
            if job is None:
                self._logger.warning("Run requested for job %s, which no longer exists", job_id)
                continue
            self._logger.info("Running job %s now, as requested", job_id)
            self._submit(job, alias, [when])

    def run_job_now(self, job_id: str, jobstore: str | None = None) -> None:
        """Run a job once, as soon as possible, leaving its schedule and paused state alone."""
        _, alias = self._lookup_job(job_id, jobstore)
        if alias is None:
            raise SchedulerNotRunningError()
        self._store(alias).request_run(job_id, self._clock.now())
        self.wakeup()

    def submit_run(self, job: Job, run_time: datetime, jobstore: str = "default") -> None:
        """Start one run of ``job`` for ``run_time`` now, outside its schedule: a run
        this process already holds the claim of (a rerun of an orphaned run)."""
        self._submit(job, jobstore, [run_time])

    def _start_runs(self, job: Job, alias: str, plan: RunPlan) -> None:
        if plan.missed_first is not None:
            self._report_missed(job, alias, plan)
        if plan.run_times:
            self._submit(job, alias, plan.run_times)
        if plan.next_run_time is None:
            self._logger.info("Removed job %s: its trigger has no more fire times", job.id)
            if self._listened(EVENT_JOB_REMOVED):
                self._dispatch_event(
                    JobEvent(code=EVENT_JOB_REMOVED, job_id=job.id, jobstore=alias)
                )

    def _report_missed(self, job: Job, alias: str, plan: RunPlan) -> None:
        count = "an unknown number of" if plan.missed_count is None else str(plan.missed_count)
        self._logger.warning(
            "Job %s missed %s run(s), the first at %s (misfire_grace_time=%ss)",
            job.id,
            count,
            plan.missed_first,
            job.misfire_grace_time,
        )
        self._dispatch_event(
            JobExecutionEvent(
                code=EVENT_JOB_MISSED,
                job_id=job.id,
                jobstore=alias,
                scheduled_run_time=plan.missed_first,
                missed_runs=plan.missed_count,
            )
        )

    def _submit(self, job: Job, alias: str, run_times: list[datetime]) -> None:
        if not self._guard_allows(job, run_times):
            return
        executor = self._executors.get(job.executor)
        try:
            if executor is None:
                raise ValueError(f"executor: no executor by the alias {job.executor!r}")
            executor.submit_job(job, run_times)
        except MaxInstancesReachedError:
            self._logger.warning(
                "Execution of job %s skipped: maximum number of running instances reached (%d)",
                job.id,
                job.max_instances,
            )
            self._dispatch_event(
                JobSubmissionEvent(
                    code=EVENT_JOB_MAX_INSTANCES,
                    job_id=job.id,
                    jobstore=alias,
                    scheduled_run_times=tuple(run_times),
                )
            )
        except Exception as exc:
            self._logger.exception("Could not start job %s", job.id)
            self._dispatch_event(
                JobExecutionEvent(
                    code=EVENT_JOB_ERROR,
                    job_id=job.id,
                    jobstore=alias,
                    scheduled_run_time=run_times[-1],
                    exception=exc,
                )
            )

    def _guard_allows(self, job: Job, run_times: list[datetime]) -> bool:
        if self._run_guard is None:
            return True
        try:
            return self._run_guard(job, run_times)
        except Exception:  # fail closed: a run nobody could vouch for does not start
            self._logger.exception("The run guard failed on job %s; not running it", job.id)
            return False

    def _wait_deadline(self, deadline: datetime | None) -> datetime:
        """Cap the loop's sleep: stores others may change are looked at every poll interval."""
        now = self._clock.now()
        cap = MAX_WAIT
        with self._jobstores_lock:
            for store in self._jobstores.values():
                store_cap = store.wait_cap()
                if store_cap is not None:
                    cap = min(cap, timedelta(seconds=store_cap))
        return now + cap if deadline is None else min(deadline, now + cap)

    def _main_loop(self) -> None:
        try:
            while self.state != STATE_STOPPED:
                self._sleeping_until = None  # before the stores are read
                try:
                    deadline = self.tick()
                except Exception:  # never let one bad pass kill the scheduler
                    self._logger.exception("Unexpected error in the scheduler loop")
                    deadline = self._clock.now() + STORE_RETRY
                if self.state == STATE_STOPPED:
                    break
                until = self._wait_deadline(deadline)
                self._sleeping_until = until
                self._clock.wait(until, self._wake)
        finally:
            self._sleeping_until = None

    def _wake_for(self, when: datetime | None) -> None:
        """Wake the loop for a job now due at ``when``, unless it sleeps no later than that
        anyway (it reads the stores again when it wakes). Adding jobs to a running
        scheduler then costs the loop no pass each."""
        until = self._sleeping_until
        if when is not None and (until is None or when < until):
            self.wakeup()
