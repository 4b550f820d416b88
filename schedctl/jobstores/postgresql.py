"""PostgreSQLJobStore: one store for several ``schedctl run`` nodes, each run fired once.

The claim is the SQL store's, with ``FOR UPDATE SKIP LOCKED`` so nodes claiming
at once take different rows instead of waiting, and with the database's clock
deciding what is due: a node whose clock runs fast or slow fires on time. Nodes
hear each other's changes through ``LISTEN``/``NOTIFY`` on one dedicated
connection (a write notifies inside its own transaction, so the signal comes
exactly when the change commits), with a poll every ``poll_interval`` as the net.

Leases (renewal, reaping, node identity) are in ``_pg_leases.py``; psycopg 3 is
needed only here, from the ``postgres`` extra.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from schedctl.errors import StoreError
from schedctl.jobstores._pg_leases import LeaseSQL
from schedctl.jobstores._pg_schema import connect_kwargs, is_postgres_url, migrate, redact
from schedctl.jobstores._sqlrows import DUE_JOBS, Row, ceil_ms
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.jobstores.leases import Claim
from schedctl.timeutil import from_epoch_ms, to_epoch_ms

if TYPE_CHECKING:
    import psycopg

    from schedctl.job import Job
    from schedctl.schedulers.base import BaseScheduler

__all__ = ["PostgreSQLJobStore"]

#: The NOTIFY channel every change is announced on.
CHANNEL = "schedctl"

#: The most a node waits past a due time before claiming it (see get_next_run_time).
SPREAD_MS = 5.0

#: The least time a node's transaction may sit idle before the server ends its session.
IDLE_IN_TRANSACTION_MIN_MS = 2000

#: How long the scheduler may sleep while the LISTEN connection is healthy.
LISTENING_POLL_SECONDS = 10.0


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "a postgresql:// state needs psycopg 3: pip install 'schedctl[postgres]'"
        ) from None
    return psycopg


class _Conn:
    """A psycopg connection that takes the SQL store's ``?`` placeholders."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.idle_limit: float | None = None  # the lease its idle-in-transaction limit is for

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any:
        return self.raw.execute(_placeholders(sql), tuple(params))


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """``?`` to psycopg's ``%s`` (and a literal ``%`` to ``%%``); the SQL is ours, so no
    string literal holds a ``?``."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgreSQLJobStore(SQLJobStore, LeaseSQL):
    """A job store in a PostgreSQL database, shared by any number of schedulers.

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/db``). Tables are
    created in the ``schedctl`` schema on first use. ``poll_interval`` caps how long
    the scheduler sleeps when the LISTEN connection is down.

    ``clock`` says whose time decides what is due: ``"database"`` (the default, and
    the only safe choice for several nodes, whose clocks may disagree) or
    ``"scheduler"``, the time the scheduler passes in, for a single scheduler driven
    by an injected clock (as tests do). Leases always use the database's clock.
    """

    shared = True

    def __init__(
        self, url: str, *, poll_interval: float = 1.0,
        clock: Literal["database", "scheduler"] = "database",
    ) -> None:
        super().__init__()
        if not is_postgres_url(url):
            raise ValueError(f"url: expected 'postgresql://user@host/database', got {url!r}")
        if clock not in ("database", "scheduler"):
            raise ValueError(f"clock: expected 'database' or 'scheduler', got {clock!r}")
        self.url = url
        self.clock = clock
        self.poll_interval = float(poll_interval)
        self._psycopg = _psycopg()
        self._conflict_errors = (self._psycopg.errors.UniqueViolation,)
        self._conn: _Conn | None = None
        self._offset = timedelta(0)  # the database's clock minus ours, as last seen
        self._listener: _Listener | None = None
        with self._reading():
            pass  # connect and migrate now: a wrong URL fails at construction

    @property
    def location(self) -> str:
        return redact(self.url)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        self._stop_listening()
        self._listener = _Listener(self, self._wake_scheduler)
        self._listener.start()

    def shutdown(self) -> None:
        self._stop_listening()
        with self._lock:
            if self._conn is not None:
                self._conn.raw.close()
                self._conn = None

    def wait_cap(self) -> float | None:
        """NOTIFY wakes the scheduler at once; the poll is the net for a lost listener."""
        listening = self._listener is not None and self._listener.healthy
        return LISTENING_POLL_SECONDS if listening else self.poll_interval

    @property
    def listening(self) -> bool:
        return self._listener is not None and self._listener.healthy

    # -- the database's clock ------------------------------------------------------------------

    def db_now(self) -> datetime:
        with self._reading() as conn:
            (value,) = conn.execute("SELECT now_ms()").fetchone()
        return from_epoch_ms(int(value))

    def get_next_run_time(self) -> datetime | None:
        """In this host's time: when this host's clock will show the database's due time,
        plus a few random milliseconds so which node claims a run is chance, not whose
        clock estimate happens to run ahead (that spreads the load)."""
        value = super().get_next_run_time()
        if value is None or self.clock == "scheduler":
            return value
        return value - self._offset + timedelta(milliseconds=random.uniform(0, SPREAD_MS))

    def _anything_due(self, now: datetime) -> bool:
        if self.clock == "scheduler":
            return super()._anything_due(now)
        with self._reading() as conn:
            # (SELECT now_ms()) is computed once, so the index serves the comparison.
            row = conn.execute(
                "SELECT now_ms(), EXISTS (SELECT 1 FROM jobs"
                " WHERE next_run_time <= (SELECT now_ms()))"
            ).fetchone()
        self._offset = from_epoch_ms(int(row[0])) - now
        return bool(row[1])

    def _lock_due(self, conn: Any, now: datetime, limit: int) -> tuple[list[Row], datetime]:
        """Due by the database's clock; rows another node is claiming are skipped, not waited for."""
        if self.clock == "scheduler":
            now_ms = to_epoch_ms(now)
        else:
            # Floored, as the stored times are whole milliseconds: never due early.
            (now_ms,) = conn.execute("SELECT floor(extract(epoch FROM now()) * 1000)::bigint").fetchone()
        rows = conn.execute(DUE_JOBS + " LIMIT ? FOR UPDATE SKIP LOCKED", (now_ms, limit)).fetchall()
        db_now = from_epoch_ms(int(now_ms))
        self._offset = db_now - now
        return rows, db_now

    # -- claims in one statement each, not one a job --------------------------------------------

    def _advance(self, conn: Any, moves: list[tuple[Job, datetime | None]]) -> set[str]:
        """The compare-and-set of every claimed job at once (the rows are locked by this
        transaction, so each succeeds unless a job changed between reading and locking)."""
        saved: set[str] = set()
        moving = [(job, when) for job, when in moves if when is not None]
        if moving:
            rows = conn.execute(
                "UPDATE jobs AS j SET next_run_time = v.next, version = j.version + 1"
                " FROM unnest(?::text[], ?::bigint[], ?::bigint[]) AS v(id, next, ver)"
                " WHERE j.id = v.id AND j.version = v.ver RETURNING j.id",
                ([job.id for job, _ in moving], [ceil_ms(when) for _, when in moving],
                 [job.version for job, _ in moving]),
            ).fetchall()
            saved.update(str(row[0]) for row in rows)
        ending = [job for job, when in moves if when is None]
        if ending:
            rows = conn.execute(
                "DELETE FROM jobs AS j USING unnest(?::text[], ?::bigint[]) AS v(id, ver)"
                " WHERE j.id = v.id AND j.version = v.ver RETURNING j.id",
                ([job.id for job in ending], [job.version for job in ending]),
            ).fetchall()
            saved.update(str(row[0]) for row in rows)
        return saved

    def _insert_slots(
        self, conn: Any, slots: list[tuple[str, datetime, str | None]], now: datetime,
        sent: float,
    ) -> list[Claim]:
        if not slots:
            return []
        lease_ms = None if self.lease is None else int(self.lease.seconds * 1000)
        rows = conn.execute(
            "INSERT INTO runs (job_id, scheduled_for, attempt, state, reason, owner, started_at,"
            " lease_expires_at, job_state) SELECT v.job_id, v.slot, 1, 'running', 'schedule', ?,"
            " ?, (SELECT now_ms()) + ?, v.state"
            " FROM unnest(?::text[], ?::bigint[], ?::text[]) AS v(job_id, slot, state)"
            " ON CONFLICT DO NOTHING RETURNING run_id, job_id, scheduled_for",
            (self.runs_owner, to_epoch_ms(now), lease_ms, [job_id for job_id, _, _ in slots],
             [to_epoch_ms(when) for _, when, _ in slots], [state for _, _, state in slots]),
        ).fetchall()
        return [Claim(int(run_id), str(job_id), from_epoch_ms(int(slot)), 1, self.lease, sent)
                for run_id, job_id, slot in rows]

    # -- the connection ----------------------------------------------------------------------------

    def open_connection(self, application: str = "schedctl") -> psycopg.Connection[Any]:
        """A new autocommit connection with the store's settings (also for LISTEN)."""
        try:
            return self._psycopg.connect(self.url, **connect_kwargs(application))
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    @contextmanager
    def _reading(self) -> Iterator[_Conn]:
        with self._lock:
            try:
                if self._conn is None:
                    raw = self.open_connection()
                    try:
                        migrate(raw, self.location)
                    except BaseException:
                        raw.close()
                        raise
                    self._conn = _Conn(raw)
                self._bound_idle_transactions(self._conn)
                yield self._conn
            except self._psycopg.Error as exc:
                self._drop_if_broken()
                raise self._error(exc) from None

    def _bound_idle_transactions(self, conn: _Conn) -> None:
        """A node frozen inside a transaction would keep its row locks, and the other nodes'
        SKIP LOCKED would skip its runs forever: the server ends such a session instead."""
        if self.lease is None or conn.idle_limit == self.lease.seconds:
            return
        limit_ms = max(IDLE_IN_TRANSACTION_MIN_MS, int(self.lease.seconds * 1000 / 3))
        conn.raw.execute(f"SET idle_in_transaction_session_timeout = {limit_ms}")
        conn.idle_limit = self.lease.seconds

    @contextmanager
    def _writing(self, *, notify: bool = True) -> Iterator[_Conn]:
        with self._reading() as conn, conn.raw.transaction():
            yield conn
            if notify:
                conn.execute("SELECT pg_notify(?, '')", (CHANNEL,))

    def _writing_one(self) -> AbstractContextManager[_Conn]:
        """The store's connections autocommit: one statement is one round trip."""
        return self._reading()

    def _drop_if_broken(self) -> None:
        """A lost connection is replaced on the next call (and the next call may succeed)."""
        conn = self._conn
        if conn is not None and (conn.raw.closed or conn.raw.broken):
            self._conn = None

    def _error(self, exc: Exception) -> StoreError:
        self.errors += 1
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(f"{self.location}: {detail}")

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()


class _Listener(threading.Thread):
    """``LISTEN schedctl`` on a connection of its own; every notification wakes the
    scheduler. A lost connection is re-opened, and the scheduler woken once more to
    re-read everything, since notifications sent meanwhile are gone."""

    def __init__(self, store: PostgreSQLJobStore, wake: Any) -> None:
        super().__init__(name="schedctl-listen", daemon=True)
        self._store, self._wake = store, wake
        self._stopping = threading.Event()
        self._conn: Any = None
        self.healthy = False

    def run(self) -> None:
        delay = 0.2
        while not self._stopping.is_set():
            try:
                self._conn = self._store.open_connection("schedctl-listen")
                self._conn.execute(f"LISTEN {CHANNEL}")
                self.healthy, delay = True, 0.2
                self._wake()  # whatever changed while we were not listening
                while not self._stopping.is_set():
                    for _ in self._conn.notifies(timeout=1.0):
                        self._wake()
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect
                if self.healthy and not self._stopping.is_set():
                    self._store._logger.warning("Lost the LISTEN connection (%s); reconnecting", exc)
            finally:
                self.healthy = False
                self._close()
            self._stopping.wait(delay)
            delay = min(delay * 2, 5.0)

    def stop(self) -> None:
        self._stopping.set()
        self._close()
        self.join(timeout=5)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()
