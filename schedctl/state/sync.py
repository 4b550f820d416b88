"""Bringing the state store in line with the jobfile.

The jobfile owns job definitions; the store owns runtime state. So a sync adds
new jobs, drops removed ones (their history stays), rewrites changed ones, and
keeps what the store knows better: next run times (unless the schedule itself
changed) and a pause or resume given from the command line (unless the jobfile's
own ``paused`` value changed since). A stored job whose action was changed behind
schedctl's back (its recorded hash kept) is rewritten too (see ``binding.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schedctl.commands.spec import CommandSpec
from schedctl.errors import StaleJobError
from schedctl.job import Job
from schedctl.jobfile.specs import Jobfile, JobSpec
from schedctl.jobstores.base import BaseJobStore
from schedctl.state.binding import same_action
from schedctl.triggers.boot import BootTrigger

#: JobSpec fields handed to the command runner and to the retry loop, as they are.
_COMMAND_OPTIONS = ("shell", "env_file", "kill_grace", "output", "output_limit", "stdin",
                    "user", "log_limit")
_RETRY_OPTIONS = ("retries", "retry_delay", "backoff")

#: The job function of every ``command:`` job.
COMMAND_FUNC = "schedctl.commands.jobrunner:run_command_job"


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """``2 added, 3 updated (1 rescheduled), 11 unchanged``: the counts add up to the
        jobs, since a rescheduled job is one of the updated ones."""
        parts = []
        for name, ids in self.__dict__.items():
            if ids and name == "updated" and self.rescheduled:
                parts.append(f"{len(ids)} updated ({len(self.rescheduled)} rescheduled)")
            elif ids and name != "rescheduled":
                parts.append(f"{len(ids)} {name}")
        return ", ".join(parts) or "no jobs"


def build_job(spec: JobSpec, jobfile: Jobfile) -> Job:
    """The engine job for a jobfile entry (without a next run time)."""
    trigger = BootTrigger() if spec.trigger.kind == "reboot" else spec.build_trigger(jobfile.timezone)
    if spec.command is not None:
        command = CommandSpec(
            command=spec.command, env=spec.env, cwd=spec.cwd, timeout=spec.timeout,
            **{key: getattr(spec, key) for key in _COMMAND_OPTIONS},
        )
        kwargs = {"job_id": spec.id, "spec": command.to_dict()}
        kwargs.update({key: getattr(spec, key) for key in _RETRY_OPTIONS})
        func, args = COMMAND_FUNC, ()
    else:
        assert spec.call is not None
        func, args, kwargs = spec.call, spec.args, spec.kwargs
    return Job(
        None, id=spec.id, name=spec.id, func=func, args=args, kwargs=kwargs, trigger=trigger,
        executor=spec.executor, misfire_grace_time=spec.misfire_grace_time,
        coalesce=spec.coalesce, max_instances=spec.max_instances, meta=_meta(spec),
    )


def _meta(spec: JobSpec) -> dict[str, Any]:
    """What the CLI shows and what the next sync compares. Env values stay out of it."""
    action = spec.call if spec.call is not None else spec.command
    return {
        "source": "jobfile",
        "definition_hash": spec.definition_hash(),
        "trigger_hash": spec.trigger_hash(),
        "jobfile_paused": spec.paused,
        "description": spec.description,
        "action": list(action) if isinstance(action, tuple) else action,
        "kind": "call" if spec.call is not None else "command",
        "env_names": sorted(spec.env),
        "user": spec.user,
        "line": spec.line,
        "overlap": spec.overlap,
        "catch_up": spec.catch_up,
        # Read by the reaper of a node that finds this job's run orphaned (PostgreSQL).
        "on_orphan": spec.on_orphan,
        "retries": spec.retries,
        "kill_grace": spec.kill_grace,
        # Kept in the state file (0600) for the running scheduler; list and history never show them.
        "on_failure": [alert.to_dict() for alert in spec.on_failure],
        "on_recovery": [alert.to_dict() for alert in spec.on_recovery],
        "on_output": [alert.to_dict() for alert in spec.on_output],
        "ping": spec.ping.to_dict() if spec.ping is not None else None,
    }


def sync_jobs(jobfile: Jobfile, store: BaseJobStore, now: datetime) -> SyncReport:
    """Make ``store`` hold exactly the jobs of ``jobfile``; see the module docstring for the rules."""
    report = SyncReport()
    existing = {job.id: job for job in store.get_all_jobs()}
    new_jobs: list[Job] = []
    for spec in jobfile.jobs.values():
        job = build_job(spec, jobfile)
        old = existing.pop(spec.id, None)
        if old is None:
            if _place_new(job, spec, now):
                new_jobs.append(job)
                report.added.append(spec.id)
            else:
                report.expired.append(spec.id)
        elif (old.meta.get("definition_hash") == job.meta["definition_hash"]
              and same_action(old, job)):
            report.unchanged.append(spec.id)
        else:
            _update(store, old, job, spec, now, report)
    store.add_jobs(new_jobs)
    for job_id in existing:
        store.remove_job(job_id)
        report.removed.append(job_id)
    return report


def _place_new(job: Job, spec: JobSpec, now: datetime) -> bool:
    """Give a new job its first run time; False for a one-shot whose date has long passed."""
    if spec.paused or isinstance(job.trigger, BootTrigger):  # boot jobs start from the daemon
        job.next_run_time = None
        return True
    job.next_run_time = job.trigger.get_next_fire_time(None, now)
    if job.next_run_time is None:
        return False
    grace = job.misfire_grace_time
    late = now - job.next_run_time
    return grace is None or late <= timedelta(seconds=grace)


def _update(
    store: BaseJobStore, old: Job, job: Job, spec: JobSpec, now: datetime, report: SyncReport
) -> None:
    paused = old.next_run_time is None
    if spec.paused != old.meta.get("jobfile_paused"):
        paused = spec.paused  # the jobfile's own value changed: it wins this time
    trigger_changed = old.meta.get("trigger_hash") != job.meta["trigger_hash"]
    if not trigger_changed:
        job.trigger = old.trigger  # keeps the grid a jittered interval pinned at first use
    if paused or isinstance(job.trigger, BootTrigger):
        job.next_run_time = None
    elif trigger_changed or old.next_run_time is None:
        job.next_run_time = job.trigger.get_next_fire_time(None, now)
    else:
        job.next_run_time = old.next_run_time
    job.version = old.version
    try:
        store.update_job(job)
    except StaleJobError:  # changed meanwhile (say, a pause): take that and sync again
        current = store.lookup_job(job.id)
        if current is None:
            return
        _update(store, current, job, spec, now, report)
        return
    report.updated.append(spec.id)
    if trigger_changed:
        report.rescheduled.append(spec.id)
