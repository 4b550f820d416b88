"""BaseScheduler: configuration and lifecycle, with its parts mixed in.

The job-facing API (add_job, pause_job, ...) lives in ``schedulers/jobs.py``, job
export and import in ``transfer.py``, the loop body ``tick`` in ``loop.py``, executors and stores in ``plugins.py`` and
listeners in ``listeners.py``; blocking and background schedulers only decide
which thread runs the loop.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from schedctl.clock import Clock, SystemClock
from schedctl.errors import SchedulerAlreadyRunningError, SchedulerNotRunningError
from schedctl.events import (
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_START,
    SchedulerEvent,
)
from schedctl.executors.base import BaseExecutor
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore
from schedctl.schedulers import config as cfg
from schedctl.schedulers.jobs import JobAPI
from schedctl.schedulers.listeners import ListenerAPI
from schedctl.schedulers.loop import BUSY_RETRY, MAX_CLAIM_BATCH, MAX_WAIT, RunGuard, RunLoop
from schedctl.schedulers.outage import MemorySchedule
from schedctl.schedulers.plugins import PluginAPI
from schedctl.schedulers.states import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from schedctl.schedulers.transfer import TransferAPI
from schedctl.timeutil import astimezone, get_localzone

__all__ = [
    "BUSY_RETRY",
    "MAX_CLAIM_BATCH",
    "MAX_WAIT",
    "STATE_PAUSED",
    "STATE_RUNNING",
    "STATE_STOPPED",
    "BaseScheduler",
]


class BaseScheduler(ListenerAPI, PluginAPI, RunLoop, JobAPI, TransferAPI, ABC):
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
        self._pending_jobs: list[tuple[Job, str, bool]] = []
        self._memories: dict[str, MemorySchedule] = {}  # stores that keep_schedule_on_error
        self._wake = threading.Event()
        self._stopped = threading.Event()  # set when shutdown() has finished its work
        self._stopped.set()
        self.state = STATE_STOPPED
        self._clock: Clock = SystemClock()
        self._run_guard: RunGuard | None = None
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
            "run_guard",
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
        if "run_guard" in config:
            self._run_guard = config["run_guard"]
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
            for job, jobstore, replace_existing in pending:
                self._real_add_job(job, jobstore, replace_existing)
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
