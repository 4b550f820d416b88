"""BaseScheduler: configuration, lifecycle, listeners and the loop body ``tick``.

The job-facing API (add_job, pause_job, ...) lives in ``schedulers/jobs.py``;
blocking and background schedulers only decide which thread runs the loop.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from schedctl.clock import Clock, SystemClock
from schedctl.errors import (
    MaxInstancesReachedError,
    SchedulerAlreadyRunningError,
    SchedulerNotRunningError,
    StoreError,
)
from schedctl.events import (
    EVENT_ALL,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_REMOVED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_START,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from schedctl.executors.base import BaseExecutor
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore
from schedctl.schedulers import config as cfg
from schedctl.schedulers.jobs import JobAPI
from schedctl.schedulers.outage import STORE_RETRY, MemorySchedule
from schedctl.schedulers.planning import RunPlan, plan_runs
from schedctl.timeutil import astimezone, get_localzone

STATE_STOPPED = 0
STATE_RUNNING = 1
STATE_PAUSED = 2

#: The most due jobs claimed in one transaction; more due means another pass at once.
MAX_CLAIM_BATCH = 200

#: How soon a scheduler whose workers are all busy looks at a shared store again.
BUSY_RETRY = timedelta(milliseconds=50)

#: The longest the loop sleeps without looking at the wall clock again, so a clock
#: step (NTP, suspend and resume) is noticed within a minute.
MAX_WAIT = timedelta(seconds=60)


class BaseScheduler(JobAPI, ABC):
    """The scheduler's common core. Subclasses implement ``start``/``shutdown``/``wakeup``
    around a thread that repeats ``tick`` and sleeps until the deadline it returns."""

    def __init__(self, gconfig: Mapping[str, Any] | None = None, **options: Any) -> None:
        super().__init__()
        self._executors: dict[str, BaseExecutor] = {}
        self._executors_lock = threading.RLock()
        self._jobstores: dict[str, BaseJobStore] = {}
        self._jobstores_lock = threading.RLock()
        self._listeners: list[tuple[Callable[[SchedulerEvent], Any], int]] = []
        self._listeners_lock = threading.RLock()
        self._pending_jobs: list[tuple[Job, str, bool, bool]] = []
        self._memories: dict[str, MemorySchedule] = {}  # stores that keep_schedule_on_error
        self._wake = threading.Event()
        self._stopped = threading.Event()  # set when shutdown() has finished its work
        self._stopped.set()
        self.state = STATE_STOPPED
        self._clock: Clock = SystemClock()
        self._logger = logging.getLogger("schedctl.scheduler")
        self.timezone = get_localzone()
        self._job_defaults = dict(cfg.DEFAULT_JOB_OPTIONS)
        self.configure(gconfig or {}, **options)

    # -- configuration ------------------------------------------------------------------------

    def configure(
        self, gconfig: Mapping[str, Any] | None = None, prefix: str = "schedctl.", **options: Any
    ) -> None:
        """Apply configuration; only while the scheduler is stopped."""
        if self.state != STATE_STOPPED:
            raise SchedulerAlreadyRunningError()
        config = cfg.merge(cfg.flatten_prefixed(gconfig or {}, prefix), options)
        unknown = set(config) - {
            "logger",
            "timezone",
            "job_defaults",
            "executors",
            "jobstores",
            "clock",
        }
        if unknown:
            raise TypeError(f"unknown scheduler option(s): {', '.join(sorted(unknown))}")
        if "logger" in config:
            logger = config["logger"]
            self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        if "timezone" in config:
            self.timezone = astimezone(config["timezone"]) or get_localzone()
        if "clock" in config:
            self._clock = config["clock"]
        if "job_defaults" in config:
            self._job_defaults = cfg.job_defaults(config["job_defaults"])
        for alias, spec in (config.get("executors") or {}).items():
            self.add_executor(cfg.create_plugin("executor", alias, spec, cfg.EXECUTOR_TYPES), alias)
        for alias, spec in (config.get("jobstores") or {}).items():
            self.add_jobstore(cfg.create_plugin("jobstore", alias, spec, cfg.JOBSTORE_TYPES), alias)

    @property
    def running(self) -> bool:
        return self.state != STATE_STOPPED

    @property
    def clock(self) -> Clock:
        return self._clock

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, paused: bool = False) -> None:
        """Start the executors and stores, place pending jobs, and begin processing."""
        if self.state != STATE_STOPPED:
            raise SchedulerAlreadyRunningError()
        from schedctl.executors.pool import ThreadPoolExecutor
        from schedctl.jobstores.memory import MemoryJobStore

        with self._executors_lock:
            if "default" not in self._executors:
                self.add_executor(ThreadPoolExecutor(), "default")
            for alias, executor in self._executors.items():
                executor.start(self, alias)
        with self._jobstores_lock:
            if "default" not in self._jobstores:
                self.add_jobstore(MemoryJobStore(), "default")
            for alias, store in self._jobstores.items():
                store.start(self, alias)
            pending, self._pending_jobs = self._pending_jobs, []
            for job, jobstore, replace_existing, compute_next in pending:
                self._real_add_job(job, jobstore, replace_existing, compute_next)
        self._stopped.clear()
        self.state = STATE_PAUSED if paused else STATE_RUNNING
        self._logger.info("Scheduler started")
        self._dispatch_event(SchedulerEvent(code=EVENT_SCHEDULER_START))
        self.wakeup()

    def shutdown(self, wait: bool = True) -> None:
        """Stop processing; with ``wait``, let running jobs finish first.

        Safe to call from inside a running job: that job is not waited for.
        """
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError()
        self.state = STATE_STOPPED
        self._wake.set()
        with self._executors_lock:
            for executor in self._executors.values():
                executor.shutdown(wait)
        with self._jobstores_lock:
            for store in self._jobstores.values():
                store.shutdown()
        self._logger.info("Scheduler has been shut down")
        self._dispatch_event(SchedulerEvent(code=EVENT_SCHEDULER_SHUTDOWN))
        self._stopped.set()

    def pause(self) -> None:
        """Stop starting jobs until ``resume``; running jobs go on."""
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError()
        if self.state == STATE_RUNNING:
            self.state = STATE_PAUSED
            self._logger.info("Paused scheduler job processing")
            self._dispatch_event(SchedulerEvent(code=EVENT_SCHEDULER_PAUSED))

    def resume(self) -> None:
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError()
        if self.state == STATE_PAUSED:
            self.state = STATE_RUNNING
            self._logger.info("Resumed scheduler job processing")
            self._dispatch_event(SchedulerEvent(code=EVENT_SCHEDULER_RESUMED))
            self.wakeup()

    @abstractmethod
    def wakeup(self) -> None:
        """Make the loop look at the stores now instead of at its deadline."""

    # -- the loop ----------------------------------------------------------------------------

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
            self._dispatch_event(JobEvent(code=EVENT_JOB_REMOVED, job_id=job.id, jobstore=alias))

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
        while self.state != STATE_STOPPED:
            try:
                deadline = self.tick()
            except Exception:  # never let one bad pass kill the scheduler
                self._logger.exception("Unexpected error in the scheduler loop")
                deadline = self._clock.now() + STORE_RETRY
            if self.state == STATE_STOPPED:
                break
            self._clock.wait(self._wait_deadline(deadline), self._wake)

    # -- executors and stores ------------------------------------------------------------------

    def add_executor(
        self, executor: BaseExecutor | str, alias: str = "default", **options: Any
    ) -> None:
        """Add an executor instance, or one made from a type name ('threadpool', 'processpool')."""
        if isinstance(executor, str):
            executor = cfg.create_plugin(
                "executor", alias, {"type": executor, **options}, cfg.EXECUTOR_TYPES
            )
        if not isinstance(executor, BaseExecutor):
            raise TypeError(f"executor: expected an executor, got {executor!r}")
        with self._executors_lock:
            if alias in self._executors:
                raise ValueError(f"executor: an executor by the alias {alias!r} already exists")
            self._executors[alias] = executor
            if self.state != STATE_STOPPED:
                executor.start(self, alias)
        self._dispatch_event(SchedulerEvent(code=EVENT_EXECUTOR_ADDED, alias=alias))

    def remove_executor(self, alias: str, shutdown: bool = True) -> None:
        with self._executors_lock:
            executor = self._lookup("executor", self._executors, alias)
            del self._executors[alias]
        if shutdown:
            executor.shutdown()
        self._dispatch_event(SchedulerEvent(code=EVENT_EXECUTOR_REMOVED, alias=alias))

    def add_jobstore(
        self, jobstore: BaseJobStore | str, alias: str = "default", **options: Any
    ) -> None:
        """Add a job store instance, or one made from a type name ('memory', 'sqlite')."""
        if isinstance(jobstore, str):
            jobstore = cfg.create_plugin(
                "jobstore", alias, {"type": jobstore, **options}, cfg.JOBSTORE_TYPES
            )
        if not isinstance(jobstore, BaseJobStore):
            raise TypeError(f"jobstore: expected a job store, got {jobstore!r}")
        with self._jobstores_lock:
            if alias in self._jobstores:
                raise ValueError(f"jobstore: a job store by the alias {alias!r} already exists")
            self._jobstores[alias] = jobstore
            if self.state != STATE_STOPPED:
                jobstore.start(self, alias)
        self._dispatch_event(SchedulerEvent(code=EVENT_JOBSTORE_ADDED, alias=alias))
        if self.state != STATE_STOPPED:
            self.wakeup()

    def remove_jobstore(self, alias: str, shutdown: bool = True) -> None:
        with self._jobstores_lock:
            store = self._lookup("jobstore", self._jobstores, alias)
            del self._jobstores[alias]
            self._memories.pop(alias, None)
        if shutdown:
            store.shutdown()
        self._dispatch_event(SchedulerEvent(code=EVENT_JOBSTORE_REMOVED, alias=alias))

    @staticmethod
    def _lookup(kind: str, plugins: Mapping[str, Any], alias: str) -> Any:
        try:
            return plugins[alias]
        except KeyError:
            known = ", ".join(sorted(plugins)) or "none"
            raise KeyError(f"{kind}: no {kind} by the alias {alias!r} (known: {known})") from None

    # -- listeners ---------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[Any], Any], mask: int = EVENT_ALL) -> None:
        """Call ``callback(event)`` for every event whose code is in ``mask``."""
        with self._listeners_lock:
            self._listeners.append((callback, mask))

    def remove_listener(self, callback: Callable[[Any], Any]) -> None:
        with self._listeners_lock:
            self._listeners = [(cb, mask) for cb, mask in self._listeners if cb != callback]

    def _dispatch_event(self, event: SchedulerEvent) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for callback, mask in listeners:
            if event.code & mask:
                try:
                    callback(event)
                except Exception:
                    self._logger.exception(
                        "Error notifying listener %r of %s", callback, event.name
                    )
