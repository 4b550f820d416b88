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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from math import isfinite
from typing import TYPE_CHECKING, Any

from schedctl.errors import StoreError
from schedctl.jobstores._sqlite_checkpoint import Checkpointer
from schedctl.jobstores._sqlite_file import (
    FileChange,
    Identity,
    clear,
    copy_out,
    file_change,
    identity_of,
    wal_identities,
)
from schedctl.jobstores._sqlite_schema import connect, parse_location, rollback, store_error
from schedctl.jobstores._sqlite_wake import WakeListener, WakeSender
from schedctl.jobstores._sqllisting import ListingRow, listing_sql
from schedctl.jobstores._sqlrows import (
    ADVANCE_JOB,
    DUE_JOBS,
    INSERT_JOB,
    REMOVE_CLAIMED_JOB,
    Row,
    ceil_ms,
)
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.timeutil import to_epoch_ms

if TYPE_CHECKING:
    from schedctl.job import Job

if TYPE_CHECKING:
    from schedctl.schedulers.base import BaseScheduler

__all__ = ["SQLiteJobStore"]

#: While a scheduler runs the store, its commits never checkpoint (see _sqlite_checkpoint).
_NO_AUTOCHECKPOINT = "PRAGMA wal_autocheckpoint = 0"


class SQLiteJobStore(SQLJobStore):
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
    _conflict_errors = (sqlite3.IntegrityError,)

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
        self._conn: sqlite3.Connection | None = None
        self._opened: Identity | None = None  # the file the connection was opened on
        self._opened_wal: dict[str, Identity] = {}
        self._sender = WakeSender(self.wake_path, self._logger)
        self._listener: WakeListener | None = None
        self._checkpointer: Checkpointer | None = None  # while a scheduler runs the store
        with self._reading():
            pass  # open now: a bad file fails at construction, not at the first tick

    @property
    def location(self) -> str:
        return self.path

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
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self.path, self._logger, self._still_ours)
            self._checkpointer.start()
            with self._lock:
                if self._conn is not None:
                    self._conn.execute(_NO_AUTOCHECKPOINT)

    def shutdown(self) -> None:
        """Stop listening and close the connection; any later call reopens it."""
        self._stop_listening()
        self._sender.close()
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
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

    # -- the file under the store ----------------------------------------------------------------

    @property
    def opened(self) -> Identity | None:
        """(device, inode) of the file this store has open, or None before the first use."""
        return self._opened

    def file_change(self) -> FileChange | None:
        """What became of the file at ``path`` since this store opened it: ``removed``,
        ``replaced`` (another file was renamed there) or ``truncated``; None if unchanged."""
        with self._lock:
            opened = self._opened if self._conn is not None else None
            return None if opened is None else file_change(self.path, opened)

    def _still_ours(self) -> bool:
        """``file_change() is None`` without the store's lock (one stat), for the
        checkpoint thread, which must not wait on a claim."""
        opened = self._opened
        return opened is None or file_change(self.path, opened) is None

    def take_back(self, change: FileChange) -> bool:
        """Make the file at ``path`` the one this store uses again, after ``change``: a
        removed or truncated file is written anew from what this store's connection still
        reads (a fresh, empty file when that is not whole), a file renamed there is opened
        as it is. True when the store's own content was kept."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return False
            try:
                kept = change != "replaced" and copy_out(conn, self.path)
            finally:
                conn.close()
            if not kept:
                clear(self.path, change, self._opened_wal)
            with self._reading():
                pass  # opened now: a file that cannot be used fails here, not at the next tick
            return kept

    def listen_again(self) -> bool:
        """Bind the wake-up socket anew when the one at ``wake_path`` is no longer ours
        (removed with the state file); True when that was needed."""
        listener = self._listener
        if listener is None or not listener.listening or listener.owns_path():
            return False
        self._stop_listening()
        self._listener = WakeListener(self.wake_path, self._wake_scheduler, self._logger)
        self._listener.open(self._writing(notify=False))
        return True

    # -- the backend ---------------------------------------------------------------------------

    def _lock_due(self, conn: Any, now: datetime, limit: int) -> tuple[list[Row], datetime]:
        """BEGIN IMMEDIATE has taken the file's one write lock: the rows are ours."""
        return conn.execute(DUE_JOBS + " LIMIT ?", (to_epoch_ms(now), limit)).fetchall(), now

    def _advance(self, conn: Any, moves: list[tuple[Job, datetime | None]]) -> set[str]:
        """BEGIN IMMEDIATE has held the file's one write lock since the rows were read, so no
        one can have changed them: one statement for the lot instead of one per job (each a
        few microseconds of Python). The version check stays; a count short of the rows
        would mean the lock did not hold, and rolls the claim back."""
        updates = [(ceil_ms(when), job.id, job.version) for job, when in moves if when is not None]
        removals = [(job.id, job.version) for job, when in moves if when is None]
        saved = 0
        if updates:
            saved += conn.executemany(ADVANCE_JOB, updates).rowcount
        if removals:
            saved += conn.executemany(REMOVE_CLAIMED_JOB, removals).rowcount
        if saved != len(moves):
            raise StoreError(f"{self.path}: {len(moves) - saved} claimed job(s) changed during "
                             "their claim; the claim is rolled back")
        return {job.id for job, _ in moves}

    def _insert_many(self, conn: Any, rows: Iterable[tuple[str, int | None, str]]) -> None:
        conn.executemany(INSERT_JOB, rows)

    def _listing_rows(self, conn: Any, meta_keys: Sequence[str]) -> list[ListingRow]:
        """SQLite's JSON functions read the listed fields: a third of decoding whole states.
        An SQLite built without them (they are built in from 3.38, an option before) has
        each state decoded here instead, as every other store does."""
        try:
            rows = conn.execute(listing_sql(meta_keys)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such function" not in str(exc):
                raise
            return super()._listing_rows(conn, meta_keys)
        return [(job_id, when, trigger, None if fields is None else json.loads(fields))
                for job_id, when, trigger, fields in rows]

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, with sqlite3 errors turned into StoreError."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = connect(self.path)
                    if self._checkpointer is not None:
                        self._conn.execute(_NO_AUTOCHECKPOINT)
                    self._opened = identity_of(self.path)
                    self._opened_wal = wal_identities(self.path)
                yield self._conn
            except sqlite3.Error as exc:
                self.errors += 1
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
            if self._checkpointer is not None:
                self._checkpointer.written()
        if notify and not self.listening:
            # The scheduler that owns the socket is in this process, and is woken directly
            # by whoever changed something through it; a datagram would wake it twice.
            self._sender.poke()

    @contextmanager
    def _writing_one(self) -> Iterator[sqlite3.Connection]:
        """The connection autocommits (isolation_level None): a statement outside BEGIN is
        its own transaction."""
        with self._reading() as conn:
            yield conn
        if self._checkpointer is not None:
            self._checkpointer.written()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (path={self.path!r})>"


def _check_poll_interval(value: Any) -> float:
    """A positive number of seconds; config files give it as text."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not isfinite(seconds) or seconds <= 0:
        raise ValueError(f"poll_interval: expected a positive number of seconds, got {value!r}")
    return seconds
