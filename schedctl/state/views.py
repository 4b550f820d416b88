"""What the read-only commands show, as plain data gathered from a state file: the job
views of ``list`` (``status``, ``top`` and the metrics' index build on them in their own
modules, so that ``list`` loads none of theirs).

``output.py`` renders these for people (tables) or scripts (JSON); neither this
module nor the engine knows how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schedctl.jobfile.written import as_written
from schedctl.state.history import RunHistory, RunRecord
from schedctl.state.recent import recent_outcomes
from schedctl.job import Job
from schedctl.jobstores._sqllisting import JobListing
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.state.runlock import holder_pid
from schedctl.state.stores import is_shared
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
    # A job with no newest run has no runs at all: only the others' outcomes are read.
    ran = [job.id for job in jobs if job.id in last]
    outcomes = recent_outcomes(store, ran, recent, with_running=alive) if recent and ran else {}
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


def zone_name(job: Job | JobListing) -> str | None:
    """The name of the zone a job's times are shown in: its trigger's (None: the machine's)."""
    zone = getattr(job.trigger, "timezone", None)
    return getattr(zone, "key", None) or (str(zone) if zone else None)


def job_zones(store: SQLJobStore) -> dict[str, str | None]:
    """Each job's zone name, for views that show many jobs' times (``history``)."""
    return {job.id: zone_name(job) for job in store.get_all_jobs()}


def scheduler_running(store: SQLJobStore) -> bool:
    """Whether a scheduler runs this store now: the state file's holder, or a live node."""
    if is_shared(store):
        return any(row.alive for row in store.nodes())  # type: ignore[attr-defined]
    return holder_pid(store.location) is not None


def last_heartbeat(store: SQLJobStore, history: RunHistory) -> datetime | None:
    """When a scheduler of this store last showed that it was alive: the state file's
    heartbeat, or the latest of a shared store's nodes."""
    if is_shared(store):
        beats = [row.heartbeat_at for row in store.nodes() if row.heartbeat_at]  # type: ignore[attr-defined]
        return max(beats, default=None)
    presence = history.presence()
    return presence.heartbeat_at if presence else None


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
