"""SQLiteJobStore: jobs in one SQLite file that the CLI may change while a scheduler runs.

Jobs are JSON (``Job.to_state()``) next to an integer next run time (UTC epoch
milliseconds, NULL when paused), so the file reads with the ``sqlite3`` shell
and loading it never imports user code. Every write is a short ``BEGIN
IMMEDIATE`` transaction; the claim of due jobs takes the write lock before it
reads, so two processes can never claim the same run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from math import isfinite
from typing import TYPE_CHECKING, Any

from schedctl.errors import ConflictingIdError, JobLookupError, StaleJobError, StoreError
from schedctl.job import Job
from schedctl.jobstores._sqlite_schema import connect, parse_location, rollback, store_error
from schedctl.jobstores._sqlite_wake import WakeListener, WakeSender
from schedctl.jobstores.base import BaseJobStore, PlanT
from schedctl.timeutil import from_epoch_ms, to_epoch_ms, to_utc

if TYPE_CHECKING:
    from schedctl.schedulers.base import BaseScheduler

__all__ = ["SQLiteJobStore"]

_COLUMNS = "id, next_run_time, version, state"
_INSERT = "INSERT INTO jobs (id, next_run_time, version, state) VALUES (?, ?, 1, ?)"
_DUE = f"SELECT {_COLUMNS} FROM jobs WHERE next_run_time <= ? ORDER BY next_run_time, id"

Row = tuple[str, "int | None", int, str]


class SQLiteJobStore(BaseJobStore):
    """A job store in an SQLite file, shared safely by a scheduler and other processes.

    Give exactly one of ``url`` (``sqlite:///relative/path`` or
    ``sqlite:////absolute/path``) and ``path``. ``poll_interval`` caps how long
    the scheduler sleeps without looking, for changes whose wake-up datagram was
    lost (or made with the ``sqlite3`` shell). ``keep_schedule_on_error`` lets the
    scheduler run the jobs from memory while the file cannot be used (a full disk);
    only for a scheduler that is the file's only one, as ``schedctl run`` is. Next
    run times are kept to the millisecond, rounded up.
    """

    #: The statement that opens every write. IMMEDIATE takes the write lock before
    #: the first read; a class attribute so the race test can prove it notices a
    #: deferred BEGIN.
    _BEGIN = "BEGIN IMMEDIATE"

    def __init__(
        self,
        url: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        poll_interval: float = 1.0,
        keep_schedule_on_error: bool = False,
    ) -> None:
        super().__init__()
        self.path = parse_location(url, path)
        self.poll_interval = _check_poll_interval(poll_interval)
        self.keep_schedule_on_error = keep_schedule_on_error
        # One connection behind a lock: SQLite has one writer anyway, and decoding
        # (the slow part of big reads) happens after the lock is released.
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._sender = WakeSender(self.wake_path, self._logger)
        self._listener: WakeListener | None = None
        with self._reading():
            pass  # open now: a bad file fails at construction, not at the first tick

    @property
    def wake_path(self) -> str:
        """The datagram socket a running scheduler listens on for changes."""
        return self.path + ".wake"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """Attach to ``scheduler`` and listen for other processes' changes (if the socket is free)."""
        super().start(scheduler, alias)
        self._stop_listening()
        self._listener = WakeListener(self.wake_path, self._wake_scheduler, self._logger)
        self._listener.open(self._writing(notify=False))

    def shutdown(self) -> None:
        """Stop listening and close the connection; any later call reopens it."""
        self._stop_listening()
        self._sender.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def wait_cap(self) -> float | None:
        """While this store owns the wake socket, every change made through schedctl wakes
        the scheduler at once, so polling is only the slow net for edits made with the
        sqlite3 shell (the scheduler's own one-minute cap); without the socket, poll."""
        return None if self.listening else self.poll_interval

    @property
    def listening(self) -> bool:
        """Whether this instance owns the wake-up socket (else it relies on polling)."""
        return self._listener is not None and self._listener.listening

    def data_version(self) -> int:
        """Changes when another connection commits: a cheap "did anything change?"."""
        with self._reading() as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    # -- reads ------------------------------------------------------------------------------

    def lookup_job(self, job_id: str) -> Job | None:
        with self._reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._decode(row)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        with self._reading() as conn:
            rows = conn.execute(_DUE, (to_epoch_ms(now),)).fetchall()
        return self._decode_all(rows)

    def count_jobs(self) -> tuple[int, int]:
        """(all jobs, paused jobs), from the index alone: no job is decoded."""
        with self._reading() as conn:
            total, paused = conn.execute(
                "SELECT count(*), count(*) - count(next_run_time) FROM jobs"
            ).fetchone()
        return int(total), int(paused)

    def get_next_run_time(self) -> datetime | None:
        with self._reading() as conn:
            (value,) = conn.execute(
                "SELECT min(next_run_time) FROM jobs WHERE next_run_time IS NOT NULL"
            ).fetchone()
        return None if value is None else from_epoch_ms(value)

    def get_all_jobs(self) -> list[Job]:
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs ORDER BY next_run_time IS NULL, next_run_time, id"
            ).fetchall()
        return self._decode_all(rows)

    # -- writes -------------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        row = _encode(job)  # ValueError for an unstorable job, before anything is written
        with self._writing() as conn:
            try:
                conn.execute(_INSERT, row)
            except sqlite3.IntegrityError:
                raise ConflictingIdError(job.id) from None
        job.version = 1
        self._attach(job)

    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """One transaction for the lot: all are stored, or none."""
        batch = list(jobs)
        rows = [_encode(job) for job in batch]
        _refuse_duplicates(batch)
        if not batch:
            return
        with self._writing() as conn:
            before = conn.total_changes
            try:
                conn.executemany(_INSERT, rows)
            except sqlite3.IntegrityError:
                # Rows before the failing one were inserted (then rolled back): it is the next.
                raise ConflictingIdError(batch[conn.total_changes - before].id) from None
        for job in batch:
            job.version = 1
            self._attach(job)

    def update_job(self, job: Job) -> None:
        job_id, next_run_time, state = _encode(job)
        with self._writing() as conn:
            changed = conn.execute(
                "UPDATE jobs SET next_run_time = ?, version = version + 1, state = ?"
                " WHERE id = ? AND version = ?",
                (next_run_time, state, job_id, job.version),
            ).rowcount
            if not changed:
                exists = conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone()
                raise StaleJobError(job_id) if exists else JobLookupError(job_id)
        job.version += 1

    def remove_job(self, job_id: str) -> None:
        with self._writing() as conn:
            if not conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount:
                raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with self._writing() as conn:
            conn.execute("DELETE FROM jobs")

    def process_due_jobs(
        self, now: datetime, plan: Callable[[Job], PlanT], limit: int = 100
    ) -> list[tuple[Job, PlanT]]:
        """Claim up to ``limit`` due jobs in one write transaction.

        Not signalled to the wake socket: a claim changes nothing another
        scheduler must react to at once, and signalling would wake it on every run.
        """
        if limit <= 0:
            return []
        with self._reading() as conn:  # the usual case, nothing due, takes no write lock
            due = conn.execute(
                "SELECT 1 FROM jobs WHERE next_run_time <= ? LIMIT 1", (to_epoch_ms(now),)
            ).fetchone()
        if due is None:
            return []
        claimed: list[tuple[Job, PlanT]] = []
        with self._writing(notify=False) as conn:
            for row in conn.execute(_DUE + " LIMIT ?", (to_epoch_ms(now), limit)).fetchall():
                job = self._decode_or_park(conn, row)
                if job is None:
                    continue
                decision = plan(job)
                if _advance(conn, job, decision.next_run_time):
                    claimed.append((job, decision))
        return claimed

    # -- run requests ------------------------------------------------------------------------------

    def request_run(self, job_id: str, when: datetime) -> None:
        with self._writing() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobLookupError(job_id)
            conn.execute(
                "INSERT INTO run_requests (job_id, requested_at) VALUES (?, ?)",
                (job_id, to_epoch_ms(when)),
            )

    def take_run_requests(self) -> list[tuple[str, datetime]]:
        with self._reading() as conn:  # the common case, nothing pending, takes no write lock
            if conn.execute("SELECT 1 FROM run_requests LIMIT 1").fetchone() is None:
                return []
        with self._writing(notify=False) as conn:
            rows = conn.execute(
                "SELECT job_id, requested_at FROM run_requests ORDER BY id"
            ).fetchall()
            conn.execute("DELETE FROM run_requests")
        return [(job_id, from_epoch_ms(ms)) for job_id, ms in rows]

    # -- internals ------------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, with sqlite3 errors turned into StoreError."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = connect(self.path)
                yield self._conn
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None

    @contextmanager
    def _writing(self, *, notify: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; committed changes are announced to a listening scheduler."""
        with self._reading() as conn:
            conn.execute(self._BEGIN)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        if notify and not self.listening:
            # The scheduler that owns the socket is in this process, and is woken directly
            # by whoever changed something through it; a datagram would wake it twice.
            self._sender.poke()

    def _decode(self, row: Row) -> Job:
        job_id, next_run_time, version, state = row
        try:
            return Job.from_state(
                json.loads(state),
                next_run_time=None if next_run_time is None else from_epoch_ms(next_run_time),
                version=version,
                scheduler=self._scheduler,
                jobstore_alias=self._alias,
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StoreError(f"{self.path}: job {job_id!r} cannot be loaded ({exc})") from None

    def _decode_all(self, rows: Sequence[Row]) -> list[Job]:
        """Decode rows, skipping unreadable ones so one bad row hides no others; logged once
        per call, not once per row, in case a whole file is unreadable."""
        jobs, failures = [], []
        for row in rows:
            try:
                jobs.append(self._decode(row))
            except StoreError as exc:
                failures.append(exc)
        if failures:
            self._logger.error(
                "Skipped %d job(s) that cannot be loaded; the first: %s", len(failures), failures[0]
            )
        return jobs

    def _decode_or_park(self, conn: sqlite3.Connection, row: Row) -> Job | None:
        """Decode a due row; pause an unreadable one so it cannot wedge every later claim."""
        try:
            return self._decode(row)
        except StoreError as exc:
            self._logger.error("%s; paused it so the other jobs keep running", exc)
            conn.execute(
                "UPDATE jobs SET next_run_time = NULL, version = version + 1 WHERE id = ?",
                (row[0],),
            )
            return None

    def _wake_scheduler(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.wakeup()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (path={self.path!r})>"


def _encode(job: Job) -> tuple[str, int | None, str]:
    """The (id, next_run_time, state) row; ValueError if the job cannot be stored."""
    state = job.to_json()
    next_run_time = None if job.next_run_time is None else _ceil_ms(job.next_run_time)
    return job.id, next_run_time, state


def _ceil_ms(value: datetime) -> int:
    """Milliseconds, rounded up: a stored time is never before the real one, so the job
    is never claimed early and its trigger's "next time after it" is never the same slot."""
    whole = to_epoch_ms(value)
    return whole + 1 if to_utc(value).microsecond % 1000 else whole


def _advance(conn: sqlite3.Connection, job: Job, next_run_time: datetime | None) -> bool:
    """Save a claimed job's new next run time (or remove it); compare-and-set on version,
    a cheap second guard behind the write lock."""
    if next_run_time is None:
        cursor = conn.execute(
            "DELETE FROM jobs WHERE id = ? AND version = ?", (job.id, job.version)
        )
    else:
        cursor = conn.execute(
            "UPDATE jobs SET next_run_time = ?, version = version + 1 WHERE id = ? AND version = ?",
            (_ceil_ms(next_run_time), job.id, job.version),
        )
    return cursor.rowcount == 1


def _refuse_duplicates(jobs: Sequence[Job]) -> None:
    seen: set[str] = set()
    for job in jobs:
        if job.id in seen:
            raise ConflictingIdError(job.id)
        seen.add(job.id)


def _check_poll_interval(value: Any) -> float:
    """A positive number of seconds; config files give it as text."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not isfinite(seconds) or seconds <= 0:
        raise ValueError(f"poll_interval: expected a positive number of seconds, got {value!r}")
    return seconds
