"""Driving the real ``schedctl run`` pieces under faults, and reading what they left behind.

* :class:`SteppingClock` runs a real :class:`schedctl.service.daemon.Service` (SQLite store, thread
  pool, run history, real commands) on a fake wall clock that the test steps forwards and
  backwards, so hours of schedule and DST transitions take a second.
* :func:`read_ledger` reads the file the test jobs append ``$SCHEDCTL_JOB_ID
  $SCHEDCTL_SCHEDULED_FOR`` to: one line per run that really started, whatever the
  history says.
* The ``db_*`` helpers read the state file with plain ``sqlite3``, read-only, so checking it
  never changes it.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from schedctl.clock import FakeClock
from schedctl.service.daemon import ServeOptions, Service
from schedctl.service.startup import open_jobfile
from schedctl.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.timeutil import to_epoch_ms

#: What every test job runs first: one short O_APPEND line per run that really started.
LEDGER_LINE = 'echo "$SCHEDCTL_JOB_ID $SCHEDCTL_SCHEDULED_FOR" >> {ledger}'

#: Real seconds a stepped Service may take before the watchdog stops it.
SERVICE_WATCHDOG = 60.0


# -- the ledger -------------------------------------------------------------------------------


def read_ledger(path: Path) -> list[tuple[str, int]]:
    """(job id, scheduled_for in epoch ms) per line, in the order the runs started."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        job_id, _, when = line.partition(" ")
        entries.append((job_id, to_epoch_ms(datetime.fromisoformat(when))))
    return entries


def duplicates(entries: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    return {key: n for key, n in Counter(entries).items() if n > 1}


# -- the state file, read-only ------------------------------------------------------------------


@contextmanager
def db_readonly(state: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def db_integrity(state: Path) -> str:
    with db_readonly(state) as conn:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def db_runs(state: Path) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(job, scheduled_for ms) -> (state, owner) of the first attempt of every scheduled run."""
    with db_readonly(state) as conn:
        rows = conn.execute(
            "SELECT job_id, scheduled_for, state, owner FROM runs"
            " WHERE attempt = 1 AND reason = 'schedule'"
        ).fetchall()
    return {(job, when): (st, owner) for job, when, st, owner in rows}


def db_next_run_times(state: Path) -> dict[str, int | None]:
    with db_readonly(state) as conn:
        return dict(conn.execute("SELECT id, next_run_time FROM jobs").fetchall())


# -- a real Service on a stepped clock ----------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """When the fake wall clock reaches ``at``, it is set to ``to``: an NTP step, a suspend."""

    at: datetime
    to: datetime


@dataclass
class ServiceRun:
    """What a stepped Service did: every submission as the scheduler made it, and its waits."""

    submissions: list[tuple[str, tuple[datetime, ...], datetime]] = field(default_factory=list)
    longest_sleep: timedelta = timedelta(0)
    problems: list[str] = field(default_factory=list)

    def runs_per_pass(self) -> Counter[tuple[str, datetime]]:
        """How many run times each job was given in one pass (one submission at one instant)."""
        return Counter({(job, at): len(times) for job, times, at in self.submissions})


class SteppingClock(FakeClock):
    """A FakeClock that drives a real Service to the end of a timeline.

    Each ``wait`` of the scheduler loop first lets the runs in flight finish (in real
    time: they are real processes), then moves the wall clock to the deadline, as a
    sleep would, unless a :class:`Step` falls due first; then the clock jumps as the
    step says. At ``until`` it raises SIGTERM, which the Service handles as from
    systemd. It is also the listener that counts runs in flight.
    """

    def __init__(self, start: datetime, *, until: datetime, steps: tuple[Step, ...] = ()) -> None:
        super().__init__(start)
        self.until = until
        self.record = ServiceRun()
        self._steps = list(steps)
        self._in_flight = 0
        self._settled = threading.Condition()
        self._loop_thread = threading.get_ident()  # run_service runs the loop in this thread
        self._stopping = False

    # The listener: submissions add runs in flight, outcomes end them.
    def __call__(self, event: SchedulerEvent) -> None:
        with self._settled:
            if isinstance(event, JobSubmissionEvent) and event.code == EVENT_JOB_SUBMITTED:
                self._in_flight += len(event.scheduled_run_times)
                self.record.submissions.append(
                    (event.job_id or "", event.scheduled_run_times, self.now())
                )
            elif isinstance(event, JobExecutionEvent) and self._ends_a_run(event):
                self._in_flight -= 1
            self._settled.notify_all()

    def _ends_a_run(self, event: JobExecutionEvent) -> bool:
        if event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
            return True
        # A miss reported by the loop itself (planning) never started; one reported by a
        # worker (too late by the time a thread was free) ends a submitted run.
        return event.code == EVENT_JOB_MISSED and threading.get_ident() != self._loop_thread

    def wait(self, deadline: datetime | None, wake: threading.Event) -> bool:
        if not self._settle():
            self.record.problems.append(f"runs still in flight at {self.now()} after 20 s")
            self._stop()
        if self._stopping:
            woken = wake.wait(30)
            wake.clear()
            return woken
        if wake.is_set():
            wake.clear()
            return True
        now = self.now()
        target = deadline if deadline is not None else now + timedelta(days=1)
        self.record.longest_sleep = max(self.record.longest_sleep, target - now)
        if self._steps and target >= self._steps[0].at:
            self.set(self._steps.pop(0).to)
            return False
        if target >= self.until:
            self.set(self.until)
            self._stop()
            return self.wait(None, wake)
        return super().wait(target, wake)

    def _settle(self) -> bool:
        with self._settled:
            return self._settled.wait_for(lambda: self._in_flight <= 0, timeout=20)

    def _stop(self) -> None:
        if not self._stopping:
            self._stopping = True
            signal.raise_signal(signal.SIGTERM)  # the Service's handler queues it for its control thread


def run_service(
    jobfile: Path, state: Path, clock: SteppingClock, *, poll_interval: float = 3600.0
) -> ServiceRun:
    """Run ``schedctl run JOBFILE`` in this process on ``clock`` until the clock stops it.

    ``poll_interval`` is the store's: the longest the loop sleeps without looking
    again. An hour leaves the engine's own one-minute cap (MAX_WAIT) in charge,
    which is what the clock tests are about, and keeps a two-day timeline at
    ~3,000 loop passes. Must run in the main thread (the Service installs signal
    handlers); the caller restores them.
    """
    options = ServeOptions(jobfile=str(jobfile), state=str(state), shutdown_timeout=5.0)
    store = SQLiteJobStore(path=state, poll_interval=poll_interval)
    service = Service(open_jobfile(str(jobfile)), store, clock, options)
    service.scheduler.add_listener(clock)  # after the Service's own listeners: runs are logged first
    watchdog = threading.Timer(SERVICE_WATCHDOG, signal.raise_signal, (signal.SIGTERM,))
    watchdog.daemon = True
    watchdog.start()
    try:
        code = service.run()
    finally:
        watchdog.cancel()
        store.shutdown()
    if code != 0:
        clock.record.problems.append(f"Service.run() returned {code}")
    return clock.record
