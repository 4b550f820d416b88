"""Event codes (bit flags, the same values as APScheduler 3) and event objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENT_SCHEDULER_STARTED = EVENT_SCHEDULER_START = 2**0
EVENT_SCHEDULER_SHUTDOWN = 2**1
EVENT_SCHEDULER_PAUSED = 2**2
EVENT_SCHEDULER_RESUMED = 2**3
EVENT_EXECUTOR_ADDED = 2**4
EVENT_EXECUTOR_REMOVED = 2**5
EVENT_JOBSTORE_ADDED = 2**6
EVENT_JOBSTORE_REMOVED = 2**7
EVENT_ALL_JOBS_REMOVED = 2**8
EVENT_JOB_ADDED = 2**9
EVENT_JOB_REMOVED = 2**10
EVENT_JOB_MODIFIED = 2**11
EVENT_JOB_EXECUTED = 2**12
EVENT_JOB_ERROR = 2**13
EVENT_JOB_MISSED = 2**14
EVENT_JOB_SUBMITTED = 2**15
EVENT_JOB_MAX_INSTANCES = 2**16
EVENT_ALL = (
    EVENT_SCHEDULER_STARTED
    | EVENT_SCHEDULER_SHUTDOWN
    | EVENT_SCHEDULER_PAUSED
    | EVENT_SCHEDULER_RESUMED
    | EVENT_EXECUTOR_ADDED
    | EVENT_EXECUTOR_REMOVED
    | EVENT_JOBSTORE_ADDED
    | EVENT_JOBSTORE_REMOVED
    | EVENT_ALL_JOBS_REMOVED
    | EVENT_JOB_ADDED
    | EVENT_JOB_REMOVED
    | EVENT_JOB_MODIFIED
    | EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
    | EVENT_JOB_SUBMITTED
    | EVENT_JOB_MAX_INSTANCES
)

EVENT_NAMES = {
    EVENT_SCHEDULER_STARTED: "scheduler_started",
    EVENT_SCHEDULER_SHUTDOWN: "scheduler_shutdown",
    EVENT_SCHEDULER_PAUSED: "scheduler_paused",
    EVENT_SCHEDULER_RESUMED: "scheduler_resumed",
    EVENT_EXECUTOR_ADDED: "executor_added",
    EVENT_EXECUTOR_REMOVED: "executor_removed",
    EVENT_JOBSTORE_ADDED: "jobstore_added",
    EVENT_JOBSTORE_REMOVED: "jobstore_removed",
    EVENT_ALL_JOBS_REMOVED: "all_jobs_removed",
    EVENT_JOB_ADDED: "job_added",
    EVENT_JOB_REMOVED: "job_removed",
    EVENT_JOB_MODIFIED: "job_modified",
    EVENT_JOB_EXECUTED: "job_executed",
    EVENT_JOB_ERROR: "job_error",
    EVENT_JOB_MISSED: "job_missed",
    EVENT_JOB_SUBMITTED: "job_submitted",
    EVENT_JOB_MAX_INSTANCES: "job_max_instances",
}


@dataclass(frozen=True)
class SchedulerEvent:
    """Something happened to the scheduler; ``alias`` names the store or executor involved."""

    code: int
    alias: str | None = None

    @property
    def name(self) -> str:
        return EVENT_NAMES.get(self.code, str(self.code))


@dataclass(frozen=True)
class JobEvent(SchedulerEvent):
    """Something happened to a job (added, removed, modified)."""

    job_id: str | None = None
    jobstore: str | None = None


@dataclass(frozen=True)
class JobSubmissionEvent(JobEvent):
    """A job was handed to an executor, or refused by it (max instances)."""

    scheduled_run_times: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class JobExecutionEvent(JobEvent):
    """A job ran (``retval``), failed (``exception``, ``traceback``) or was missed.

    ``missed_runs`` counts the run times one EVENT_JOB_MISSED stands for; it is None
    when the backlog was skipped over without being counted (for instance a
    one-second job after a year of downtime).
    """

    scheduled_run_time: datetime | None = None
    retval: Any = None
    exception: BaseException | None = None
    traceback: str | None = None
    missed_runs: int | None = field(default=1)
