"""The job-store contract written once in SQL, for SQLite and PostgreSQL alike.

Both stores keep the same tables (times as integer UTC epoch milliseconds, jobs
as ``Job.to_state()`` JSON) and the same claim algorithm: in one transaction,
lock the due rows, plan each job, compare-and-set its ``version`` while moving
its next run time, and - when the store records runs for a node - insert the
run rows, whose ``UNIQUE (job_id, scheduled_for, attempt, reason)`` is the
backstop against a second firing. Only locking, the clock and the connection
differ, which is what subclasses provide.
"""

from __future__ import annotations

import json
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from schedctl.clock import lease_monotonic
from schedctl.errors import ConflictingIdError, JobLookupError, StaleJobError, StoreError
from schedctl.job import Job
from schedctl.jobstores._sqlrows import (
    COLUMNS,
    DUE_JOBS,
    INSERT_JOB,
    Connection,
    Row,
    advance_one,
    encode,
)
from schedctl.jobstores._sqllisting import (
    ORDER,
    JobListing,
    ListingRow,
    listing_of,
    listing_row,
)
from schedctl.jobstores._sqlruns import RunRows
from schedctl.jobstores.base import BaseJobStore, PlanT
from schedctl.jobstores.leases import CLAIMS, Claim, ClaimRegistry, LeaseTerms
from schedctl.timeutil import from_epoch_ms, to_epoch_ms
from schedctl.triggers.base import BaseTrigger


class SQLJobStore(RunRows, BaseJobStore):
    """The shared body of the SQLite and PostgreSQL stores.

    ``runs_owner`` (set by ``schedctl run``) makes every claim also insert the run
    rows, owned by that name and leased for ``lease.seconds`` when ``lease`` is
    given, and register them in ``claims`` for the command runner and the lease
    keeper. Without it the store is a plain APScheduler-style job store.
    """

    def __init__(self) -> None:
        super().__init__()
        # One connection behind a lock: decoding (the slow part of big reads) happens after
        # it is released.
        self._lock = threading.RLock()
        self.runs_owner: str | None = None
        self.lease: LeaseTerms | None = None
        self.claims: ClaimRegistry = CLAIMS
        #: Called, in the listening thread, when another process announces a change (the
        #: wake-up socket, NOTIFY); a service reads what it keeps beside the jobs then.
        self.change_listeners: list[Callable[[], None]] = []

    # -- what a backend provides -----------------------------------------------------------------

    #: Exception types that mean a unique key was violated.
    _conflict_errors: tuple[type[BaseException], ...] = ()

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store is, for messages (a path, or a URL without its password)."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Connection]:
        """The connection for a read, with the backend's errors turned into StoreError."""

    @abstractmethod
    def _writing(self, *, notify: bool = True) -> AbstractContextManager[Connection]:
        """A write transaction; ``notify`` announces the committed change to other processes."""

    def _writing_one(self) -> AbstractContextManager[Connection]:
        """The connection for one statement that commits by itself, announced to nobody:
        no BEGIN and COMMIT around it, which on PostgreSQL are two round trips. Stores whose
        connections cannot autocommit keep this default, a transaction."""
        return self._writing(notify=False)

    @abstractmethod
    def _lock_due(self, conn: Connection, now: datetime, limit: int) -> tuple[list[Row], datetime]:
        """Inside the claim transaction: the due rows, locked for it, and the time due-ness
        was judged by (the database's own clock where there is one)."""

    # -- reads ------------------------------------------------------------------------------

    def lookup_job(self, job_id: str) -> Job | None:
        with self._reading() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._decode(tuple(row))

    def get_due_jobs(self, now: datetime) -> list[Job]:
        with self._reading() as conn:
            rows = conn.execute(DUE_JOBS, (to_epoch_ms(now),)).fetchall()
        return self._decode_all(rows)

    def count_jobs(self) -> tuple[int, int]:
        """(all jobs, paused jobs), from the index alone: no job is decoded."""
        with self._reading() as conn:
            total, paused = conn.execute(
                "SELECT count(*), count(*) - count(next_run_time) FROM jobs"
            ).fetchone()
        return int(total), int(paused)

    def try_count_jobs(self, wait: float) -> tuple[int, int] | None:
        """``count_jobs``, or None if another thread holds the connection for ``wait``
        seconds (say, in a query to a database that hangs)."""
        if not self._lock.acquire(timeout=wait):
            return None
        try:
            return self.count_jobs()
        finally:
            self._lock.release()

    def get_next_run_time(self) -> datetime | None:
        with self._reading() as conn:
            (value,) = conn.execute(
                "SELECT min(next_run_time) FROM jobs WHERE next_run_time IS NOT NULL"
            ).fetchone()
        return None if value is None else from_epoch_ms(int(value))

    def get_all_jobs(self) -> list[Job]:
        """Every job, in next-run order, paused last."""
        with self._reading() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM jobs {ORDER}").fetchall()
        return self._decode_all(rows)

    def list_jobs(self, meta_keys: Sequence[str] = ()) -> list[JobListing]:
        """Every job as a listing shows it, in ``get_all_jobs``' order, with the ``meta`` keys
        named: for a reader that only shows the jobs (see ``_sqllisting``). A row a listing
        cannot read is decoded as a job: skipped and logged if it cannot be loaded, as
        ``get_all_jobs`` does."""
        with self._reading() as conn:
            rows = self._listing_rows(conn, meta_keys)
        triggers: dict[str, BaseTrigger] = {}
        listings, failures = [], []
        for row in rows:
            try:
                listing = listing_of(row, meta_keys, triggers)
            except (ValueError, TypeError, KeyError, AttributeError):
                listing = None
            if listing is None:
                try:
                    job = self.lookup_job(row[0])
                except StoreError as exc:
                    failures.append(exc)
                    continue
                if job is None:  # removed since
                    continue
                listing = JobListing.of(job, meta_keys)
            listings.append(listing)
        self._log_skipped(failures)
        return listings

    def _listing_rows(self, conn: Connection, meta_keys: Sequence[str]) -> list[ListingRow]:
        """The rows as a listing reads them: here each state is decoded; SQLite's JSON
        functions read only the fields listed."""
        rows = conn.execute(f"SELECT {COLUMNS} FROM jobs {ORDER}").fetchall()
        return [listing_row(row, meta_keys) for row in rows]

    # -- writes -------------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        row = encode(job)  # ValueError for an unstorable job, before anything is written
        with self._writing() as conn:
            try:
                conn.execute(INSERT_JOB, row)
            except self._conflict_errors:
                raise ConflictingIdError(job.id) from None
        job.version = 1
        self._attach(job)

    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """One transaction for the lot: all are stored, or none.

        Jobs are encoded as they are inserted and none is kept (100,000 jobs kept made
        60 MB): a generator of jobs streams through. The id named by ConflictingIdError is
        the first of the batch that is taken, by a stored job or an earlier one of the
        batch: the row the insert stopped at. A job that cannot be stored (ValueError)
        rolls all back. Jobs given in a list or tuple are marked stored (version 1) once
        the batch is committed; jobs from any other iterable as each is written.
        """
        held = isinstance(jobs, (list, tuple))
        rows = _BatchRows(jobs, None if held else self._attach)
        if rows.empty:
            return
        with self._writing() as conn:
            try:
                self._insert_many(conn, rows)
            except self._conflict_errors:
                raise ConflictingIdError(rows.current) from None
        if held:
            for job in jobs:
                job.version = 1
                self._attach(job)

    def _insert_many(self, conn: Connection, rows: Iterable[tuple[str, int | None, str]]) -> None:
        for row in rows:
            conn.execute(INSERT_JOB, row)

    def update_job(self, job: Job) -> None:
        job_id, next_run_time, state = encode(job)
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
        self, now: datetime, plan: Callable[[Job, datetime], PlanT], limit: int = 100
    ) -> list[tuple[Job, PlanT]]:
        """Claim up to ``limit`` due jobs in one write transaction.

        Not announced to other processes: a claim changes nothing another scheduler
        must react to at once, and announcing it would wake every node on every run.
        """
        if limit <= 0 or not self._anything_due(now):
            return []
        with self._writing(notify=False) as conn:
            rows, due_now = self._lock_due(conn, now, limit)
            planned: list[tuple[Job, PlanT]] = []
            for row in rows:
                job = self._decode_or_park(conn, row)
                if job is not None:
                    planned.append((job, plan(job, due_now)))
            advanced = self._advance(conn, [(job, d.next_run_time) for job, d in planned])
            claimed = [(job, decision) for job, decision in planned if job.id in advanced]
            claims: list[Claim] = []
            if self.runs_owner is not None:
                # Before the inserts that start the leases, and not before the transaction,
                # which may have waited long on the database: the shims' deadlines count
                # from here.
                claims = self._insert_runs(conn, claimed, due_now, lease_monotonic())
        for claim in claims:  # only once committed: a rolled-back claim holds nothing
            self.claims.add(claim)
        return claimed

    def _anything_due(self, now: datetime) -> bool:
        """The usual case, nothing due, takes no write lock."""
        with self._reading() as conn:
            return conn.execute(
                "SELECT 1 FROM jobs WHERE next_run_time <= ? LIMIT 1", (to_epoch_ms(now),)
            ).fetchone() is not None

    # -- runs claimed with the schedule --------------------------------------------------------

    def _advance(self, conn: Connection, moves: list[tuple[Job, datetime | None]]) -> set[str]:
        """Save claimed jobs' new next run times (removing exhausted jobs), each a
        compare-and-set on version; returns the ids saved. A store with round trips to
        spare nothing overrides this with one statement for the lot."""
        return {job.id for job, next_run_time in moves if advance_one(conn, job, next_run_time)}

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
            # DELETE ... RETURNING: with several nodes, each request goes to exactly one.
            rows = conn.execute(
                "DELETE FROM run_requests RETURNING id, job_id, requested_at"
            ).fetchall()
        return [(job_id, from_epoch_ms(int(ms))) for _, job_id, ms in sorted(rows)]

    # -- decoding ------------------------------------------------------------------------------

    def _decode(self, row: Row) -> Job:
        job_id, next_run_time, version, state = row
        try:
            return Job.from_state(
                json.loads(state),
                next_run_time=None if next_run_time is None else from_epoch_ms(int(next_run_time)),
                version=int(version),
                scheduler=self._scheduler,
                jobstore_alias=self._alias,
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StoreError(f"{self.location}: job {job_id!r} cannot be loaded ({exc})") from None

    def _decode_all(self, rows: Sequence[Row]) -> list[Job]:
        """Decode rows, skipping unreadable ones so one bad row hides no others."""
        jobs, failures = [], []
        for row in rows:
            try:
                jobs.append(self._decode(tuple(row)))  # type: ignore[arg-type]
            except StoreError as exc:
                failures.append(exc)
        self._log_skipped(failures)
        return jobs

    def _log_skipped(self, failures: Sequence[StoreError]) -> None:
        """Once per read, not once per row, in case a whole store is unreadable."""
        if failures:
            self._logger.error(
                "Skipped %d job(s) that cannot be loaded; the first: %s", len(failures), failures[0]
            )

    def _decode_or_park(self, conn: Connection, row: Row) -> Job | None:
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
        for listener in list(self.change_listeners):
            listener()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ({self.location})>"


class _BatchRows:
    """The rows of a batch of jobs, encoded one at a time as the insert asks for them.

    ``current`` is the id of the last row handed out: the one a failed insert stopped at.
    ``mark`` (the store's attach) marks each job stored as it goes, for jobs not kept.
    """

    __slots__ = ("_first", "_jobs", "_mark", "current", "empty")

    def __init__(self, jobs: Iterable[Job], mark: Callable[[Job], object] | None) -> None:
        self._jobs = iter(jobs)
        self._first = next(self._jobs, None)
        self._mark = mark
        self.empty = self._first is None
        self.current = ""

    def __iter__(self) -> Iterator[tuple[str, int | None, str]]:
        first, self._first = self._first, None
        if first is not None:
            yield self._row(first)
            del first  # held no longer than the rest
        for job in self._jobs:
            yield self._row(job)

    def _row(self, job: Job) -> tuple[str, int | None, str]:
        row = encode(job)
        self.current = row[0]
        if self._mark is not None:
            job.version = 1
            self._mark(job)
        return row
