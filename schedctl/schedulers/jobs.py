"""The job-facing half of the scheduler API: add, change, pause, remove, list.

Every change to a stored job is a read, a change and a compare-and-set write,
retried when another writer (a job thread, another process) got there first.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, TypeVar

from schedctl.errors import ConflictingIdError, JobLookupError, StaleJobError
from schedctl.events import (
    EVENT_ALL_JOBS_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    JobEvent,
    SchedulerEvent,
)
from schedctl.job import Job
from schedctl.timeutil import convert_to_datetime
from schedctl.triggers.base import BaseTrigger, trigger_class

if TYPE_CHECKING:
    from datetime import datetime

    from schedctl.clock import Clock
    from schedctl.executors.base import BaseExecutor
    from schedctl.jobstores.base import BaseJobStore


class _Undefined:
    """Marks an argument left out, where None is a meaningful value (next_run_time=None: paused)."""

    def __repr__(self) -> str:
        return "<undefined>"


undefined: Any = _Undefined()

F = TypeVar("F", bound=Callable[..., Any])

_CAS_ATTEMPTS = 20


class JobAPI:
    """Mixed into BaseScheduler; relies on its stores, executors, clock and events."""

    _jobstores: dict[str, BaseJobStore]
    _jobstores_lock: threading.RLock
    _executors: dict[str, BaseExecutor]
    _pending_jobs: list[tuple[Job, str, bool]]
    _job_defaults: dict[str, Any]
    _clock: Clock
    timezone: Any
    state: int

    def _dispatch_event(self, event: SchedulerEvent) -> None: ...
    def wakeup(self) -> None: ...

    if TYPE_CHECKING:

        def _listened(self, code: int) -> bool: ...
        def _wake_for(self, when: datetime | None) -> None: ...

    # -- adding ---------------------------------------------------------------------------------

    def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: BaseTrigger | str | None = None,
        args: Any = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: Any = undefined,
        coalesce: Any = undefined,
        max_instances: Any = undefined,
        next_run_time: Any = undefined,
        jobstore: str = "default",
        executor: str = "default",
        replace_existing: bool = False,
        **trigger_args: Any,
    ) -> Job:
        """Schedule ``func``. With no trigger the job runs once, now.

        ``next_run_time=None`` adds the job paused; left out, it is computed from the trigger
        (a trigger that can never fire leaves it None). A naive datetime or an ISO text is
        read in the scheduler's zone.
        """
        options: dict[str, Any] = {
            "trigger": self._create_trigger(trigger, trigger_args),
            "executor": executor,
            "func": func,
            "args": tuple(args) if args is not None else (),
            "kwargs": dict(kwargs) if kwargs is not None else {},
            "id": id,
            "name": name,
            "misfire_grace_time": misfire_grace_time,
            "coalesce": coalesce,
            "max_instances": max_instances,
            "next_run_time": next_run_time,
        }
        # Left out means "the default"; None is a value for next_run_time (paused) and
        # misfire_grace_time (no limit), but means "generate one" for id and name.
        options = {
            k: v
            for k, v in options.items()
            if v is not undefined and not (v is None and k in ("id", "name"))
        }
        for key, value in self._job_defaults.items():
            options.setdefault(key, value)
        self._check_alias("executor", executor, self._executors)
        self._check_alias("jobstore", jobstore, self._jobstores)
        job = Job(self, **options)  # type: ignore[arg-type]
        store = self._jobstores.get(jobstore)
        if self.state == 0 and store is not None and store.serializes_jobs:
            job.to_state()  # refuse an unstorable job now, not when the scheduler starts
            # (a running scheduler's store refuses it itself, in add_job)
        with self._jobstores_lock:
            if self.state == 0:  # stopped: place it when the scheduler starts
                self._check_pending_conflict(job, jobstore, replace_existing)
                self._pending_jobs.append((job, jobstore, replace_existing))
                return job
            self._real_add_job(job, jobstore, replace_existing)
        return job

    def scheduled_job(
        self,
        trigger: BaseTrigger | str | None = None,
        args: Any = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: Any = undefined,
        coalesce: Any = undefined,
        max_instances: Any = undefined,
        next_run_time: Any = undefined,
        jobstore: str = "default",
        executor: str = "default",
        **trigger_args: Any,
    ) -> Callable[[F], F]:
        """Decorator form of ``add_job``; stack several to give a function several schedules."""

        def decorator(func: F) -> F:
            self.add_job(
                func,
                trigger,
                args,
                kwargs,
                id,
                name,
                misfire_grace_time,
                coalesce,
                max_instances,
                next_run_time,
                jobstore,
                executor,
                True,
                **trigger_args,
            )
            return func

        return decorator

    def _real_add_job(self, job: Job, jobstore: str, replace_existing: bool) -> None:
        if job._next_run_unset:
            job.next_run_time = job.trigger.get_next_fire_time(None, self._clock.now())
            job._next_run_unset = False
        store = self._store(jobstore)
        try:
            store.add_job(job)
        except ConflictingIdError:
            if not replace_existing:
                raise
            current = store.lookup_job(job.id)
            job.version = current.version if current is not None else 0
            store.update_job(job)
        job._scheduler, job._jobstore_alias = self, jobstore  # type: ignore[assignment]
        if self._listened(EVENT_JOB_ADDED):
            self._dispatch_event(JobEvent(code=EVENT_JOB_ADDED, job_id=job.id, jobstore=jobstore))
        self._wake_for(job.next_run_time)

    # -- changing -----------------------------------------------------------------------------

    def modify_job(self, job_id: str, jobstore: str | None = None, **changes: Any) -> Job:
        """Change options of a job (not its id). Returns the updated job.

        A naive ``next_run_time`` or an ISO text is read in the scheduler's zone."""
        if "trigger" in changes and not isinstance(changes["trigger"], BaseTrigger):
            raise TypeError("trigger: use reschedule_job() to change a trigger by alias")
        if changes.get("next_run_time") is not None:
            changes["next_run_time"] = convert_to_datetime(
                changes["next_run_time"], self.timezone, "next_run_time"
            )
        return self._change_job(job_id, jobstore, lambda job: job._modify(**changes))

    def reschedule_job(
        self,
        job_id: str,
        jobstore: str | None = None,
        trigger: BaseTrigger | str | None = None,
        **trigger_args: Any,
    ) -> Job:
        """Give a job a new trigger; its next run time is computed from now."""
        new_trigger = self._create_trigger(trigger, trigger_args)
        now = self._clock.now()
        next_run_time = new_trigger.get_next_fire_time(None, now)
        return self.modify_job(job_id, jobstore, trigger=new_trigger, next_run_time=next_run_time)

    def pause_job(self, job_id: str, jobstore: str | None = None) -> Job:
        """Stop a job from running until ``resume_job``."""
        return self.modify_job(job_id, jobstore, next_run_time=None)

    def resume_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """Resume a paused job from now; a job whose trigger has no more fire times is removed."""
        now = self._clock.now()

        def resume(job: Job) -> None:
            if job.next_run_time is None:
                job._modify(next_run_time=job.trigger.get_next_fire_time(None, now))

        job = self._change_job(job_id, jobstore, resume)
        if job.next_run_time is None:
            self.remove_job(job_id, job._jobstore_alias)
            return None
        return job

    def _change_job(self, job_id: str, jobstore: str | None, change: Callable[[Job], None]) -> Job:
        with self._jobstores_lock:
            for _ in range(_CAS_ATTEMPTS):
                job, alias = self._lookup_job(job_id, jobstore)
                change(job)
                if alias is None:  # pending: changed in place
                    break
                try:
                    self._store(alias).update_job(job)
                except StaleJobError:
                    continue
                break
            else:
                raise StaleJobError(job_id)
        self._dispatch_event(JobEvent(code=EVENT_JOB_MODIFIED, job_id=job_id, jobstore=alias))
        self.wakeup()
        return job

    # -- removing ----------------------------------------------------------------------------

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        """Remove a job; works from inside the job itself. JobLookupError if there is none."""
        with self._jobstores_lock:
            if self.state == 0:
                for index, (job, alias, *_) in enumerate(self._pending_jobs):
                    if job.id == job_id and jobstore in (None, alias):
                        del self._pending_jobs[index]
                        self._dispatch_event(
                            JobEvent(code=EVENT_JOB_REMOVED, job_id=job_id, jobstore=alias)
                        )
                        return
            for alias, store in self._stores(jobstore):
                try:
                    store.remove_job(job_id)
                except JobLookupError:
                    continue
                self._dispatch_event(
                    JobEvent(code=EVENT_JOB_REMOVED, job_id=job_id, jobstore=alias)
                )
                return
        raise JobLookupError(job_id)

    def remove_all_jobs(self, jobstore: str | None = None) -> None:
        with self._jobstores_lock:
            if self.state == 0:
                self._pending_jobs = [p for p in self._pending_jobs if jobstore not in (None, p[1])]
            for _, store in self._stores(jobstore):
                store.remove_all_jobs()
        self._dispatch_event(SchedulerEvent(code=EVENT_ALL_JOBS_REMOVED, alias=jobstore))

    # -- reading -------------------------------------------------------------------------------

    def get_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """The job with ``job_id``, or None."""
        try:
            return self._lookup_job(job_id, jobstore)[0]
        except JobLookupError:
            return None

    def get_jobs(self, jobstore: str | None = None, pending: bool | None = None) -> list[Job]:
        """Jobs of one store or of all; before start, pending jobs come first."""
        with self._jobstores_lock:
            jobs = []
            if self.state == 0:
                jobs = [job for job, alias, *_ in self._pending_jobs if jobstore in (None, alias)]
            if pending is not True:
                for _, store in self._stores(jobstore):
                    jobs.extend(store.get_all_jobs())
            return jobs

    def print_jobs(self, jobstore: str | None = None, out: IO[str] | None = None) -> None:
        """Print a plain-text list of jobs, per store, as APScheduler does."""
        out = out or sys.stdout
        with self._jobstores_lock:
            if self.state == 0:
                print("Pending jobs:", file=out)
                pending = [
                    job for job, alias, *_ in self._pending_jobs if jobstore in (None, alias)
                ]
                for job in pending:
                    print(f"    {job}", file=out)
                if not pending:
                    print("    No pending jobs", file=out)
                return
            for alias, store in self._stores(jobstore):
                print(f"Jobstore {alias}:", file=out)
                jobs = store.get_all_jobs()
                for job in jobs:
                    print(f"    {job}", file=out)
                if not jobs:
                    print("    No scheduled jobs", file=out)

    # -- helpers ------------------------------------------------------------------------------

    def _create_trigger(
        self, trigger: BaseTrigger | str | None, trigger_args: dict[str, Any]
    ) -> BaseTrigger:
        if isinstance(trigger, BaseTrigger):
            if trigger_args:
                raise TypeError(
                    f"unexpected trigger argument(s) {', '.join(sorted(trigger_args))} "
                    "given with a trigger instance"
                )
            return trigger
        if trigger is None:
            trigger = "date"
        if not isinstance(trigger, str):
            raise TypeError(f"trigger: expected a trigger alias or instance, got {trigger!r}")
        cls = trigger_class(trigger)
        args = dict(trigger_args)
        if _takes_timezone(cls):  # combining triggers have none
            args.setdefault("timezone", self.timezone)
        if trigger == "date" and args.get("run_date") is None:
            args["run_date"] = self._clock.now()
        return cls(**args)

    def _check_alias(self, kind: str, alias: str, plugins: Mapping[str, Any]) -> None:
        if alias not in plugins and not (alias == "default" and self.state == 0):
            known = ", ".join(sorted(plugins)) or "none"
            raise ValueError(f"{kind}: no {kind} by the alias {alias!r} (known: {known})")

    def _check_pending_conflict(self, job: Job, jobstore: str, replace_existing: bool) -> None:
        for index, (other, alias, *_) in enumerate(self._pending_jobs):
            if other.id == job.id and alias == jobstore:
                if not replace_existing:
                    raise ConflictingIdError(job.id)
                del self._pending_jobs[index]
                return
        store = self._jobstores.get(jobstore)
        if store is not None and not replace_existing and store.lookup_job(job.id) is not None:
            raise ConflictingIdError(job.id)

    def _store(self, alias: str) -> BaseJobStore:
        try:
            return self._jobstores[alias]
        except KeyError:
            known = ", ".join(sorted(self._jobstores)) or "none"
            raise ValueError(
                f"jobstore: no jobstore by the alias {alias!r} (known: {known})"
            ) from None

    def _stores(self, jobstore: str | None) -> list[tuple[str, BaseJobStore]]:
        if jobstore is None:
            return list(self._jobstores.items())
        return [(jobstore, self._store(jobstore))]

    def _lookup_job(self, job_id: str, jobstore: str | None) -> tuple[Job, str | None]:
        if self.state == 0:
            for job, alias, *_ in self._pending_jobs:
                if job.id == job_id and jobstore in (None, alias):
                    return job, None
        for alias, store in self._stores(jobstore):
            found = store.lookup_job(job_id)
            if found is not None:
                return found, alias
        raise JobLookupError(job_id)


@functools.cache
def _takes_timezone(cls: type) -> bool:
    return "timezone" in inspect.signature(cls).parameters
