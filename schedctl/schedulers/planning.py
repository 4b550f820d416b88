"""Deciding what a due job should do now: which runs to start, which were missed.

Kept apart from the scheduler so the rules (misfire grace, coalescing, bounded
backlog) read in one place and are tested without threads or stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schedctl.job import Job

#: How many missed fire times are walked (and counted) one by one before the rest
#: of a backlog is skipped over with trigger arithmetic. A one-second job after a
#: year of downtime costs this many steps, not 31 million.
MAX_BACKLOG_STEPS = 16

#: The most runs one job submits in one pass when it does not coalesce; the rest
#: of a longer backlog is reported as missed.
MAX_RUNS_PER_PASS = 100

_TICK = timedelta(microseconds=1)


@dataclass
class RunPlan:
    """The outcome of planning one due job."""

    run_times: list[datetime] = field(default_factory=list)
    missed_first: datetime | None = None
    missed_count: int | None = 0  # None: more were skipped than were counted
    next_run_time: datetime | None = None

    def miss(self, run_time: datetime) -> None:
        if self.missed_first is None:
            self.missed_first = run_time
        if self.missed_count is not None:
            self.missed_count += 1

    def miss_uncounted(self, run_time: datetime) -> None:
        """Record that an unknown number of fire times from ``run_time`` on were skipped."""
        self.miss(run_time)
        self.missed_count = None

    @property
    def missed(self) -> bool:
        return self.missed_first is not None


def plan_runs(job: Job, now: datetime) -> RunPlan:
    """Walk ``job``'s fire times up to ``now`` and decide what to run and what was missed.

    A fire time older than ``misfire_grace_time`` is missed. Among the rest, a
    coalescing job runs once (for the newest), others run for each, at most
    ``MAX_RUNS_PER_PASS``. ``next_run_time`` is the first fire time after ``now``,
    or None when the trigger is exhausted.
    """
    plan = RunPlan()
    grace_start = (
        None if job.misfire_grace_time is None else now - timedelta(seconds=job.misfire_grace_time)
    )
    due: list[datetime] = []
    fire_time = job.next_run_time
    missed_steps = 0
    # A coalescing job runs once however many slots are due, so a few walked suffice.
    due_limit = MAX_BACKLOG_STEPS if job.coalesce else MAX_RUNS_PER_PASS
    while fire_time is not None and fire_time <= now:
        if grace_start is not None and fire_time < grace_start:
            plan.miss(fire_time)
            missed_steps += 1
            if missed_steps >= MAX_BACKLOG_STEPS:
                fire_time = _skip_to(job, fire_time, grace_start)
                plan.miss_uncounted(fire_time or now)
                continue
        else:
            if job.coalesce:
                fire_time = _latest_due(job, fire_time, now)
            due.append(fire_time)
            if len(due) >= due_limit:
                # The fire times skipped here fold into the coalesced run, or are missed.
                following = job.trigger.get_next_fire_time(fire_time, now)
                fire_time = _skip_to(job, fire_time, now + _TICK)
                if not job.coalesce and following is not None and following <= now:
                    plan.miss_uncounted(following)
                continue
        fire_time = job.trigger.get_next_fire_time(fire_time, now)
    plan.next_run_time = fire_time
    _choose_runs(job, due, plan)
    return plan


def _latest_due(job: Job, fire_time: datetime, now: datetime) -> datetime:
    """The newest fire time from ``fire_time`` up to ``now``, in one step where the trigger
    can tell it by arithmetic (an interval grid): a coalescing job runs once, for it,
    and a day's backlog of a one-second job is not walked. Else ``fire_time`` itself."""
    latest_due = getattr(job.trigger, "latest_due", None)
    found = latest_due(fire_time, now) if latest_due is not None else None
    return fire_time if found is None or found < fire_time else found


def _skip_to(job: Job, previous: datetime, earliest: datetime) -> datetime | None:
    """Jump over a long backlog to the first fire time at or after ``earliest``."""
    skip_to = getattr(job.trigger, "skip_to", None)
    target = skip_to(previous, earliest) if skip_to else None
    if target is None or target <= previous:
        # Stateless triggers (cron and friends) can simply be asked from ``earliest``.
        target = job.trigger.get_next_fire_time(None, earliest - _TICK)
    if target is not None and target <= previous:
        return job.trigger.get_next_fire_time(previous, earliest)
    return target


def _choose_runs(job: Job, due: list[datetime], plan: RunPlan) -> None:
    if due:
        plan.run_times = [due[-1]] if job.coalesce else due
