"""Helpers for the job-store tests, and the worker the multi-process tests run.

Run as ``python -m tests.storehelpers claim|increment ...`` from the project root.
Workers open the store, print ``ready``, wait for ``go`` on stdin (so all start
together and really race), then report what they did on stdout.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from schedctl.errors import StaleJobError
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.timeutil import from_epoch_ms, to_epoch_ms
from schedctl.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from schedctl.schedulers.base import BaseScheduler

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


def noop() -> None:
    """A module-level job function, so jobs can be stored as ``tests.storehelpers:noop``."""


def make_job(job_id: str, next_run_time: datetime | None, **options: Any) -> Job:
    """A storable job; ``next_run_time`` None makes it paused."""
    options.setdefault("trigger", IntervalTrigger(seconds=60, start_date=T0, timezone="UTC"))
    return Job(None, id=job_id, func=noop, next_run_time=next_run_time, **options)


@dataclass
class Plan:
    """The smallest DuePlan: the new next run time, None when the trigger is done."""

    next_run_time: datetime | None


def step_plan(step: timedelta, last: datetime) -> Any:
    """A plan function that advances each job by ``step`` until past ``last``, then ends it."""

    def plan(job: Job, now: datetime) -> Plan:
        assert job.next_run_time is not None
        following = job.next_run_time + step
        return Plan(following if following <= last else None)

    return plan


class FakeScheduler:
    """Stands in for a scheduler: stores only call ``wakeup()`` on it."""

    def __init__(self) -> None:
        self.woken = threading.Event()
        self.wakeups = 0

    def wakeup(self) -> None:
        self.wakeups += 1
        self.woken.set()


def start(store: BaseJobStore, scheduler: FakeScheduler | None = None) -> FakeScheduler:
    """Start ``store`` as a scheduler would, under the alias 'default', with a fake scheduler."""
    scheduler = scheduler or FakeScheduler()
    store.start(cast("BaseScheduler", scheduler), "default")
    return scheduler


# -- multi-process workers -----------------------------------------------------------------


def _wait_for_go(store: SQLiteJobStore) -> None:
    store.lookup_job("-")  # connection open and schema checked before the race starts
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")


def claim_worker(path: str, now_ms: int, step_ms: int, last_ms: int, limit: int) -> None:
    """Claim due jobs until none are left, printing ``job_id slot_ms`` for each claim."""
    store = SQLiteJobStore(path=path)
    plan = step_plan(timedelta(milliseconds=step_ms), from_epoch_ms(last_ms))
    _wait_for_go(store)
    now = from_epoch_ms(now_ms)
    out: list[str] = []
    while claimed := store.process_due_jobs(now, plan, limit=limit):
        out.extend(f"{job.id} {to_epoch_ms(job.next_run_time)}" for job, _ in claimed
                   if job.next_run_time is not None)
        # Stands in for starting the claimed runs. SQLite's lock is not fair: without a
        # gap the first process re-takes it at once and the others never interleave.
        time.sleep(0.001)
    print("\n".join(out), flush=True)
    store.shutdown()


def increment_worker(path: str, job_id: str, times: int, prefix: str) -> None:
    """Read-modify-write ``meta['n']`` with compare-and-set, and add jobs of its own."""
    store = SQLiteJobStore(path=path)
    _wait_for_go(store)
    retries = 0
    for i in range(times):
        while True:
            job = store.lookup_job(job_id)
            assert job is not None
            job.meta["n"] += 1
            try:
                store.update_job(job)
                break
            except StaleJobError:
                retries += 1
        store.add_job(make_job(f"{prefix}-{i}", T0))
    print(f"retries {retries}", flush=True)
    store.shutdown()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="storehelpers")
    parser.add_argument("--begin", help="replace BEGIN IMMEDIATE (to prove the race test notices)")
    sub = parser.add_subparsers(dest="command", required=True)
    claim = sub.add_parser("claim")
    for name in ("path", "now_ms", "step_ms", "last_ms", "limit"):
        claim.add_argument(name, type=str if name == "path" else int)
    inc = sub.add_parser("increment")
    inc.add_argument("path")
    inc.add_argument("job_id")
    inc.add_argument("times", type=int)
    inc.add_argument("prefix")
    args = parser.parse_args(argv)
    if args.begin:
        SQLiteJobStore._BEGIN = args.begin
    if args.command == "claim":
        claim_worker(args.path, args.now_ms, args.step_ms, args.last_ms, args.limit)
    else:
        increment_worker(args.path, args.job_id, args.times, args.prefix)


if __name__ == "__main__":
    main(sys.argv[1:])
