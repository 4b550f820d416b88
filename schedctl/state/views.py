"""What the read-only commands show, as plain data gathered from a state file.

``output.py`` renders these for people (tables) or scripts (JSON); neither this
module nor the engine knows how.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schedctl.jobfile.written import as_written
from schedctl.state.history import REPLACED, RunHistory, RunRecord
from schedctl.state.live import LiveRun, live_runs
from schedctl.state.recent import recent_outcomes
from schedctl.job import Job
from schedctl.jobstores._sqllisting import JobListing
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.state.runlock import holder_pid
from schedctl.state.stores import is_shared
from schedctl.timeutil import from_epoch_ms
from schedctl.triggers.base import BaseTrigger
from schedctl.triggers.combining import at_or_after, unjittered


@dataclass(frozen=True)
class JobView:
    id: str
    description: str | None
    trigger: str
    schedule: str
    timezone: str | None
    next_run_time: datetime | None
    state: str  # one of JOB_STATES
    last_run: RunRecord | None
    action: Any
    kind: str
    env_names: list[str]
    executor: str
    node: str | None = None  # on a shared store: the node of the last (or current) run
    recent: list[str] = field(default_factory=list)  # the latest outcomes, oldest first
    written: str = ""  # the trigger as the jobfile writes it ('interval[30s]'), for people

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "id": self.id, "description": self.description, "trigger": self.trigger,
            "schedule": self.schedule, "timezone": self.timezone,
            "next_run_time": self.next_run_time.isoformat() if self.next_run_time else None,
            "state": self.state, "kind": self.kind, "action": self.action,
            "env": self.env_names, "executor": self.executor,
            "last_run": self.last_run.to_json() if self.last_run else None,
            "recent": self.recent,
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
    nodes: list[NodeView] | None = None  # a shared store's nodes; None for a state file
    replaced_24h: int = 0  # runs stopped by overlap: replace; not failures

    def to_json(self) -> dict[str, Any]:
        data = {
            "state": self.state_path, "exists": True, "running": self.running, "pid": self.pid,
            "hostname": self.hostname, "started_at": _iso(self.started_at),
            "heartbeat_at": _iso(self.heartbeat_at), "jobfile": self.jobfile, "jobs": self.jobs,
            "failures_24h": self.failures_24h, "replaced_24h": self.replaced_24h,
        }
        if self.nodes is not None:
            data["nodes"] = [node.to_json() for node in self.nodes]
        return data


@dataclass(frozen=True)
class NodeView:
    """One node of a shared store, as ``status`` shows it."""

    node: str
    alive: bool
    hostname: str | None
    pid: int | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    stopped_at: datetime | None
    jobfile: str | None
    jobfile_digest: str | None
    jobfile_differs: bool  # from the jobfile the store's jobs came from

    def to_json(self) -> dict[str, Any]:
        return {key: _iso(value) if isinstance(value, datetime) else value
                for key, value in self.__dict__.items()}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


#: Outcomes a job view carries in ``recent``.
RECENT_RUNS = 10
#: What a view shows of a job's ``meta``.
SHOWN_META = ("description", "action", "kind", "env_names")


def job_views(store: SQLJobStore, history: RunHistory, *, recent: int = RECENT_RUNS) -> list[JobView]:
    """Every job with its state, last run and ``recent`` latest outcomes, in next-run order
    (paused last)."""
    shared = is_shared(store)
    # A state file's 'running' rows mean something only while its scheduler is alive; a
    # shared store's are live while their leases hold.
    alive = shared or holder_pid(store.location) is not None
    running = history.running_jobs() if alive else set()
    last = history.last_runs()
    jobs = store.list_jobs(SHOWN_META)
    outcomes = recent_outcomes(store, [job.id for job in jobs], recent, with_running=alive) if recent else {}
    words: dict[int, _TriggerWords] = {}  # by trigger: jobs on one schedule share it
    return [_job_view(job, running, last.get(job.id), shared, outcomes.get(job.id, []), words)
            for job in jobs]


#: What a view says of a trigger: as str(), as written, in words, and its zone's name.
_TriggerWords = tuple[str, str, str, "str | None"]


def _trigger_words(job: JobListing) -> _TriggerWords:
    trigger = job.trigger
    describe = getattr(trigger, "describe", None)
    text = str(trigger)
    return text, as_written(trigger), describe() if describe else text, zone_name(job)


def _job_view(
    job: JobListing, running: set[str], last: RunRecord | None, shared: bool = False,
    recent: list[str] | None = None, words: dict[int, _TriggerWords] | None = None,
) -> JobView:
    said = None if words is None else words.get(id(job.trigger))
    if said is None:
        said = _trigger_words(job)
        if words is not None:
            words[id(job.trigger)] = said
    text, written, schedule, zone = said
    state = (
        "running" if job.id in running
        else "at boot" if job.trigger.alias == "boot"
        else "paused" if job.next_run_time is None
        else "scheduled"
    )
    return JobView(
        id=job.id, description=job.meta.get("description"), trigger=text, written=written,
        schedule=schedule, timezone=zone,
        next_run_time=job.next_run_time, state=state, last_run=last,
        action=job.meta.get("action", job.func_ref), kind=job.meta.get("kind", "call"),
        env_names=list(job.meta.get("env_names", [])), executor=job.executor,
        node=last.owner.split("/")[0] if shared and last and last.owner else None,
        recent=recent or [],
    )


@dataclass(frozen=True)
class TopView:
    """``schedctl top``: who runs the store, what runs now, what runs next, what just ran."""

    state_path: str
    running: bool  # a scheduler (a node) runs the store
    heartbeat_at: datetime | None
    jobs: int
    runs: list[LiveRun]
    attempts: dict[str, int]  # job id -> attempts a run may take (retries + 1)
    upcoming: list[JobView]
    latest: list[RunRecord]

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state_path, "running": self.running,
            "heartbeat_at": _iso(self.heartbeat_at), "jobs": self.jobs,
            "runs": [dict(run.to_json(), attempts=self.attempts.get(run.job_id))
                     for run in self.runs],
            "upcoming": [view.to_json() for view in self.upcoming],
            "latest": [record.to_json() for record in self.latest],
        }


def top_view(store: SQLJobStore, history: RunHistory, *, upcoming: int = 10,
             latest: int = 10) -> TopView:
    """One frame of ``top``. Only the jobs shown are decoded, so a refresh a second stays
    cheap over thousands of jobs."""
    running = scheduler_running(store)
    runs = live_runs(store) if running else []
    with store._reading() as conn:
        (jobs,) = conn.execute("SELECT count(*) FROM jobs").fetchone()
        next_ids = [row[0] for row in conn.execute(
            "SELECT id FROM jobs WHERE next_run_time IS NOT NULL ORDER BY next_run_time, id"
            " LIMIT ?", (upcoming,)).fetchall()]
    shown = {run.job_id for run in runs} | set(next_ids)
    found = {job_id: store.lookup_job(job_id) for job_id in shown}
    last = history.last_runs()
    upcoming_views = [
        _job_view(JobListing.of(job, SHOWN_META), {run.job_id for run in runs},
                  last.get(job_id), is_shared(store))
        for job_id in next_ids if (job := found.get(job_id)) is not None
    ]
    attempts = {job_id: int(job.meta.get("retries", 0)) + 1
                for job_id, job in found.items() if job is not None}
    ended = [r for r in history.runs(limit=latest + len(runs)) if r.state != "running"]
    return TopView(
        state_path=store.location, running=running, heartbeat_at=last_heartbeat(store, history),
        jobs=int(jobs), runs=runs, attempts=attempts, upcoming=upcoming_views,
        latest=ended[:latest],
    )


@dataclass(frozen=True)
class ScheduleEntry:
    """A job as the index has it: no job is decoded, so reading a thousand is cheap."""

    id: str
    next_run_ms: int | None  # UTC epoch milliseconds; None: paused, or started at boot only
    paused: bool

    @property
    def next_run_time(self) -> datetime | None:
        return None if self.next_run_ms is None else from_epoch_ms(self.next_run_ms)


def schedule_index(store: SQLJobStore) -> list[ScheduleEntry]:
    """Every job's next run time and whether it is paused, in id order. Only a job without
    a next run time is looked into, to tell a paused job from an ``@reboot`` one."""
    with store._reading() as conn:
        rows = conn.execute(
            "SELECT id, next_run_time, CASE WHEN next_run_time IS NULL THEN state END"
            " FROM jobs ORDER BY id"
        ).fetchall()
    return [
        ScheduleEntry(str(job_id), int(when), False) if when is not None
        else ScheduleEntry(str(job_id), None, not _at_boot(state))
        for job_id, when, state in rows
    ]


def _at_boot(state: str) -> bool:
    try:
        return json.loads(state)["trigger"]["type"] == "boot"
    except (ValueError, KeyError, TypeError):
        return False


def zone_name(job: Job | JobListing) -> str | None:
    """The name of the zone a job's times are shown in: its trigger's (None: the machine's)."""
    zone = getattr(job.trigger, "timezone", None)
    return getattr(zone, "key", None) or (str(zone) if zone else None)


def job_zones(store: SQLJobStore) -> dict[str, str | None]:
    """Each job's zone name, for views that show many jobs' times (``history``)."""
    return {job.id: zone_name(job) for job in store.get_all_jobs()}


def status_view(store: SQLJobStore, history: RunHistory, now: datetime) -> StatusView:
    if is_shared(store):
        return _cluster_status(store, history, now)
    pid = holder_pid(store.location)
    presence = history.presence()
    counts = _counts(job_views(store, history, recent=0))
    return StatusView(
        state_path=store.location, running=pid is not None,
        pid=(pid if pid > 0 else presence.pid if presence else None) if pid is not None else None,
        hostname=presence.hostname if presence else None,
        started_at=presence.started_at if presence and pid is not None else None,
        heartbeat_at=presence.heartbeat_at if presence else None,
        jobfile=presence.jobfile if presence else None,
        jobs=counts, failures_24h=history.failures_since(now - timedelta(hours=24)),
        replaced_24h=history.count_since((REPLACED,), now - timedelta(hours=24)),
    )


def scheduler_running(store: SQLJobStore) -> bool:
    """Whether a scheduler runs this store now: the state file's holder, or a live node."""
    if is_shared(store):
        return any(row.alive for row in store.nodes())  # type: ignore[attr-defined]
    return holder_pid(store.location) is not None


#: Every state a job can be in, as ``status`` counts them: the buckets add up to the total.
JOB_STATES = ("scheduled", "paused", "running", "at boot")


def last_heartbeat(store: SQLJobStore, history: RunHistory) -> datetime | None:
    """When a scheduler of this store last showed that it was alive: the state file's
    heartbeat, or the latest of a shared store's nodes."""
    if is_shared(store):
        beats = [row.heartbeat_at for row in store.nodes() if row.heartbeat_at]  # type: ignore[attr-defined]
        return max(beats, default=None)
    presence = history.presence()
    return presence.heartbeat_at if presence else None


def _counts(views: list[JobView]) -> dict[str, int]:
    counts = {"total": len(views)}
    for name in JOB_STATES:
        counts[name.replace(" ", "_")] = sum(1 for view in views if view.state == name)
    return counts


def _cluster_status(store: Any, history: RunHistory, now: datetime) -> StatusView:
    """A shared store runs while any node is alive; each node is listed."""
    digest = store.get_setting("jobfile_digest")
    nodes = [
        NodeView(row.node_id, row.alive, row.hostname, row.pid, row.started_at, row.heartbeat_at,
                 row.stopped_at, row.jobfile, row.jobfile_hash,
                 row.alive and digest is not None and row.jobfile_hash != digest)
        for row in store.nodes()
    ]
    beats = [node.heartbeat_at for node in nodes if node.heartbeat_at]
    return StatusView(
        state_path=store.location, running=any(node.alive for node in nodes), pid=None,
        hostname=None, started_at=None, heartbeat_at=max(beats, default=None),
        jobfile=store.get_setting("jobfile_path"), jobs=_counts(job_views(store, history, recent=0)),
        failures_24h=history.failures_since(now - timedelta(hours=24)), nodes=nodes,
        replaced_24h=history.count_since((REPLACED,), now - timedelta(hours=24)),
    )


def upcoming(job: Job, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` nominal fire times of a job (from its next run's slot when scheduled)."""
    return fire_times(job.trigger, now, count, first=job.next_run_time)


def jitter_of(trigger: BaseTrigger) -> float | None:
    """The most a run of ``trigger`` starts after its slot, in seconds; None without jitter."""
    jitter = getattr(trigger, "jitter", None)
    return float(jitter) if isinstance(jitter, (int, float)) and jitter > 0 else None


def fire_times(
    trigger: BaseTrigger, now: datetime, count: int, first: datetime | None = None
) -> list[datetime]:
    """``count`` successive nominal fire times of ``trigger`` after ``now`` (or from ``first``).

    Nominal: the schedule's slots without jitter, so a preview is the same on every call and
    an interval's times are evenly spaced; each run starts up to ``jitter_of(trigger)`` later.
    ``first`` (a stored next run time) is already delayed: its slot is shown instead.
    """
    times: list[datetime] = []
    if first is not None:
        current: datetime | None = first
        times.append(_slot_of(trigger, first))
    else:
        current = _nominal(trigger, None, now)
        if current is not None:
            times.append(current)
    while current is not None and len(times) < count:
        current = _nominal(trigger, current, now)
        if current is not None:
            times.append(current)
    return times[:count]


def _nominal(trigger: BaseTrigger, previous: datetime | None, now: datetime) -> datetime | None:
    """The next slot after ``previous`` (a slot or a delayed run), in the trigger's zone."""
    return _in_zone(trigger, unjittered(trigger, previous, now))


def _slot_of(trigger: BaseTrigger, delayed: datetime) -> datetime:
    """The slot a stored, possibly jittered, next run time was delayed from."""
    jitter = jitter_of(trigger)
    if jitter is None:
        return delayed
    slot = _in_zone(trigger, at_or_after(trigger, None, delayed - timedelta(seconds=jitter)))
    return delayed if slot is None or slot > delayed else slot


def _in_zone(trigger: BaseTrigger, fire_time: datetime | None) -> datetime | None:
    """``fire_time`` in the trigger's zone, as its own times are; None past year 9999."""
    zone = getattr(trigger, "timezone", None)
    if fire_time is None or zone is None:
        return fire_time
    try:
        return fire_time.astimezone(zone)
    except OverflowError:
        return None
