"""What the read-only commands show, as plain data gathered from a state file.

``output.py`` renders these for people (tables) or scripts (JSON); neither this
module nor the engine knows how.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schedctl.history import RunHistory, RunRecord
from schedctl.job import Job
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.runlock import holder_pid
from schedctl.triggers.base import BaseTrigger


@dataclass(frozen=True)
class JobView:
    id: str
    description: str | None
    trigger: str
    schedule: str
    timezone: str | None
    next_run_time: datetime | None
    state: str  # scheduled | paused | running
    last_run: RunRecord | None
    action: Any
    kind: str
    env_names: list[str]
    executor: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "description": self.description, "trigger": self.trigger,
            "schedule": self.schedule, "timezone": self.timezone,
            "next_run_time": self.next_run_time.isoformat() if self.next_run_time else None,
            "state": self.state, "kind": self.kind, "action": self.action,
            "env": self.env_names, "executor": self.executor,
            "last_run": self.last_run.to_json() if self.last_run else None,
        }


@dataclass(frozen=True)
class StatusView:
    state_path: str
    running: bool
    pid: int | None
    hostname: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    jobfile: str | None
    jobs: dict[str, int]
    failures_24h: int

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "state": self.state_path, "running": self.running, "pid": self.pid,
            "hostname": self.hostname, "started_at": iso(self.started_at),
            "heartbeat_at": iso(self.heartbeat_at), "jobfile": self.jobfile, "jobs": self.jobs,
            "failures_24h": self.failures_24h,
        }


def job_views(store: SQLiteJobStore, history: RunHistory) -> list[JobView]:
    """Every job with its state and last run, in next-run order (paused last)."""
    running = history.running_jobs() if holder_pid(store.path) is not None else set()
    last = history.last_runs()
    return [_job_view(job, running, last.get(job.id)) for job in store.get_all_jobs()]


def _job_view(job: Job, running: set[str], last: RunRecord | None) -> JobView:
    state = (
        "running" if job.id in running
        else "at boot" if job.trigger.alias == "boot"
        else "paused" if job.next_run_time is None
        else "scheduled"
    )
    zone = getattr(job.trigger, "timezone", None)
    describe = getattr(job.trigger, "describe", None)
    return JobView(
        id=job.id, description=job.meta.get("description"), trigger=str(job.trigger),
        schedule=describe() if describe else str(job.trigger),
        timezone=getattr(zone, "key", None) or (str(zone) if zone else None),
        next_run_time=job.next_run_time, state=state, last_run=last,
        action=job.meta.get("action", job.func_ref), kind=job.meta.get("kind", "call"),
        env_names=list(job.meta.get("env_names", [])), executor=job.executor,
    )


def status_view(store: SQLiteJobStore, history: RunHistory, now: datetime) -> StatusView:
    pid = holder_pid(store.path)
    presence = history.presence()
    views = job_views(store, history)
    counts = {"total": len(views)}
    for name in ("scheduled", "paused", "running"):
        counts[name] = sum(1 for view in views if view.state == name)
    return StatusView(
        state_path=store.path, running=pid is not None,
        pid=(pid if pid > 0 else presence.pid if presence else None) if pid is not None else None,
        hostname=presence.hostname if presence else None,
        started_at=presence.started_at if presence and pid is not None else None,
        heartbeat_at=presence.heartbeat_at if presence else None,
        jobfile=presence.jobfile if presence else None,
        jobs=counts, failures_24h=history.failures_since(now - timedelta(hours=24)),
    )


def upcoming(job: Job, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of a job (from its next run time when scheduled)."""
    return fire_times(job.trigger, now, count, first=job.next_run_time)


def fire_times(
    trigger: BaseTrigger, now: datetime, count: int, first: datetime | None = None
) -> list[datetime]:
    """``count`` successive fire times of ``trigger`` after ``now`` (or from ``first``)."""
    times: list[datetime] = []
    current = first or trigger.get_next_fire_time(None, now)
    while current is not None and len(times) < count:
        times.append(current)
        current = trigger.get_next_fire_time(current, now)
    return times
