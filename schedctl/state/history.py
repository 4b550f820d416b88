"""The run history and the running scheduler's presence, kept in the SQLite state file.

The store holds jobs; this module holds what happened to them (one row per run,
missed run or skipped run) and who is running the file (pid, heartbeat), so
``schedctl history`` and ``schedctl status`` can answer from another process.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from schedctl.clock import lease_monotonic
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.jobstores.leases import Claim
from schedctl.state.recent import time_filter
from schedctl.state.runends import NEVER_STARTED, end_run, prune, write_outcome
from schedctl.timeutil import from_epoch_ms, to_epoch_ms

#: Outcomes that count as failures in ``history --failed`` and ``status``.
FAILURES = ("failed", "timeout", "killed", "not_started", "error", "interrupted", "orphaned")

#: Runs stopped on purpose to make way for a newer run of the job (``overlap: replace``):
#: neither a failure nor a success, counted apart.
REPLACED = "replaced"


#: History kept per job; older rows are pruned as new ones arrive.
KEEP_RUNS_PER_JOB = 1000

#: A claimed run submitted within this long of its claim (the same pass of the loop) starts
#: at the time the claim wrote; a later one has its start time written again.
SAME_PASS_SECONDS = 1.0

_RUN_COLUMNS = (
    "run_id, job_id, scheduled_for, attempt, state, reason, owner, started_at, finished_at,"
    " duration, exit_code, signal, error, output"
)


@dataclass(frozen=True)
class RunRecord:
    """One row of history."""

    run_id: int
    job_id: str
    scheduled_for: datetime
    attempt: int
    state: str
    reason: str
    owner: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    exit_code: int | None
    signal: int | None
    error: str | None
    output: str | None

    @property
    def failed(self) -> bool:
        return self.state in FAILURES

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.__dict__)
        for key in ("scheduled_for", "started_at", "finished_at"):
            data[key] = None if data[key] is None else data[key].isoformat()
        return data


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, as the history records it."""

    state: str
    finished_at: datetime
    duration: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    output: str | None = None
    attempt: int = 1
    missed_runs: int | None = None  # a 'missed' row: how many scheduled runs it stands for

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.__dict__)
        data["finished_at"] = self.finished_at.isoformat()
        return data


class HistoryObserver(Protocol):
    """Told of each start and each outcome once it is committed (the live counters of
    ``schedctl run --metrics``), so it counts exactly what the history holds."""

    def run_started(self, job_id: str, scheduled_for: datetime, *, at: datetime, attempt: int,
                    owner: str) -> None: ...

    def run_finished(self, job_id: str, scheduled_for: datetime, outcome: RunOutcome, *,
                     owner: str, written: bool) -> None: ...


@dataclass(frozen=True)
class SchedulerPresence:
    pid: int | None
    hostname: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    stopped_at: datetime | None
    jobfile: str | None


class RunHistory:
    """Reads and writes the ``runs`` and ``scheduler`` tables through a store's connection
    (the same SQL for the SQLite file and the PostgreSQL database)."""

    def __init__(self, store: SQLJobStore) -> None:
        self._store = store
        self.observer: HistoryObserver | None = None
        # Retries this process announced, by run: the highest attempt (see ``finished``).
        self._announced: dict[tuple[str, int, str], int] = {}
        # Runs ended per job since its history was last pruned (see ``_prune_due``).
        self._since_prune: dict[str, int] = {}
        #: Prune a job's history first from :meth:`prune_deferred` rather than at its first
        #: run end: set by a service whose control thread calls it at every heartbeat.
        self.defer_first_prunes = False
        self._deferred: set[str] = set()  # jobs whose first pruning waits for the heartbeat
        self._deferred_lock = threading.Lock()

    # -- writing, from the running scheduler ---------------------------------------------------

    def started(
        self, job_id: str, scheduled_for: datetime, *, at: datetime, owner: str,
        reason: str = "schedule", attempt: int = 1,
    ) -> Claim | None:
        """A run (or a retry) began: its row, leased when the store grants leases, and its
        claim. Idempotent: None when the row exists (the claim transaction made it, or the
        run already ended)."""
        held = self._store.claims.latest(job_id, scheduled_for)
        if attempt > 1:
            self._announced[(job_id, to_epoch_ms(scheduled_for), reason)] = attempt
        if (held is not None and held.attempt == attempt
                and lease_monotonic() - held.sent < SAME_PASS_SECONDS):
            # Claimed in this pass of the loop: the claim wrote the row and its start; a
            # write per run here was a third of the history's statements.
            self._tell("run_started", job_id, scheduled_for, at=at, attempt=attempt, owner=owner)
            return None
        with self._store._writing(notify=False) as conn:
            claim = None
            if held is None or held.attempt != attempt:  # a claimed run has its row already
                claim = self._store.insert_run(
                    conn, job_id, scheduled_for, attempt=attempt, now=at, sent=lease_monotonic(),
                    reason=reason, owner=owner,
                )
            if claim is None:  # claimed with the schedule: it starts now, not at the claim
                conn.execute(
                    "UPDATE runs SET started_at = ? WHERE job_id = ? AND scheduled_for = ?"
                    " AND attempt = ? AND reason = ? AND state = 'running' AND owner = ?",
                    (to_epoch_ms(at), job_id, to_epoch_ms(scheduled_for), attempt, reason, owner),
                )
        if claim is not None:  # only once committed
            self._store.claims.add(claim)
        self._tell("run_started", job_id, scheduled_for, at=at, attempt=attempt, owner=owner)
        return claim

    def finished(
        self, job_id: str, scheduled_for: datetime, outcome: RunOutcome, *, owner: str,
        reason: str = "schedule",
    ) -> bool:
        """A run ended (or was missed or skipped, which ends it before it starts).

        False, and nothing written, when the run's lease was lost: another node took it
        over, and a late result must not overwrite what its successor records.
        """
        key = (job_id, to_epoch_ms(scheduled_for), reason, outcome.attempt)
        ended = (
            outcome.state, to_epoch_ms(outcome.finished_at), outcome.duration, outcome.exit_code,
            outcome.signal, outcome.error, outcome.output, outcome.missed_runs,
        )
        announced = self._announced.get(key[:3], 0)
        if announced <= outcome.attempt:
            self._announced.pop(key[:3], None)
        pruning = self._prune_due(job_id)
        try:
            if announced <= outcome.attempt and not pruning and outcome.state not in NEVER_STARTED:
                # The usual end of a run: one statement, committed by itself.
                with self._store._writing_one() as conn:
                    if end_run(conn, key, ended, owner, outcome.state):
                        self._tell("run_finished", job_id, scheduled_for, outcome, owner=owner,
                                   written=True)
                        return True
            with self._store._writing(notify=False) as conn:
                written = write_outcome(conn, key, ended, owner, outcome.state)
                if announced > outcome.attempt:
                    # Attempts follow one another, so a later one of this node still
                    # 'running' is a retry that was announced but never began (schedctl
                    # stopped during the wait): it did not happen.
                    conn.execute(
                        "DELETE FROM runs WHERE job_id = ? AND scheduled_for = ? AND reason = ?"
                        " AND attempt > ? AND state = 'running' AND owner = ?",
                        (*key, owner),
                    )
                if written and pruning:
                    prune(conn, job_id, KEEP_RUNS_PER_JOB)
        finally:
            # Released only now: while the write waits on the database, the lease is renewed.
            # Not a later attempt: this node's reaper may have claimed a rerun of this very
            # run while the write waited (a stalled database), and that rerun needs its claim.
            # Later attempts announced as retries were deleted above, and go too.
            later = None if announced > outcome.attempt else outcome.attempt
            self._store.claims.release(job_id, scheduled_for, through=later)
        self._tell("run_finished", job_id, scheduled_for, outcome, owner=owner, written=written)
        return written

    def _prune_due(self, job_id: str) -> bool:
        """Whether this run's end prunes the job's history: the first after start (in a
        service, the next :meth:`prune_deferred` instead), then one in every
        ``KEEP_RUNS_PER_JOB // 20`` (50). Between prunings the table holds at most 5% more
        than it keeps, and all other run ends are one statement, not a transaction."""
        every = max(1, KEEP_RUNS_PER_JOB // 20)
        if self.defer_first_prunes and job_id not in self._since_prune:
            # A burst of jobs each ending its first run would all take the slower path
            # (a transaction of three statements); the heartbeat prunes them together.
            with self._deferred_lock:
                self._deferred.add(job_id)
            self._since_prune[job_id] = 0
            return False
        ended = self._since_prune.get(job_id, every - 1) + 1
        due = ended >= every
        self._since_prune[job_id] = 0 if due else ended
        return due

    def prune_deferred(self) -> int:
        """Prune, in one transaction, the history of each job whose first run end since
        the start was left to this call (see ``defer_first_prunes``); returns how many.
        Left for the next call when the store fails."""
        with self._deferred_lock:
            jobs, self._deferred = self._deferred, set()
        if not jobs:
            return 0
        try:
            with self._store._writing(notify=False) as conn:
                for job_id in sorted(jobs):
                    prune(conn, job_id, KEEP_RUNS_PER_JOB)
        except BaseException:
            with self._deferred_lock:
                self._deferred |= jobs
            raise
        return len(jobs)

    def _tell(self, what: str, *args: Any, **kwargs: Any) -> None:
        """Pass a committed change to the observer, which must never break the recording."""
        if self.observer is None:
            return
        try:
            getattr(self.observer, what)(*args, **kwargs)
        except Exception:  # counting is worth less than the history
            logging.getLogger("schedctl.metrics").exception("Could not count a run")

    def hand_over(
        self, job_id: str, scheduled_for: datetime, attempt: int, *, owner: str,
        reason: str = "schedule",
    ) -> bool:
        """Give up the lease of a run this node's stop cut short, instead of ending it: a
        surviving node then reaps it as it would a dead node's (``on_orphan`` decides).
        False for a run without a lease (a state file), which simply ends."""
        try:
            with self._store._writing(notify=False) as conn:
                return bool(conn.execute(
                    "UPDATE runs SET lease_expires_at = now_ms() - 1 WHERE job_id = ?"
                    " AND scheduled_for = ? AND attempt = ? AND reason = ? AND owner = ?"
                    " AND state = 'running' AND lease_expires_at IS NOT NULL",
                    (job_id, to_epoch_ms(scheduled_for), attempt, reason, owner),
                ).rowcount)
        finally:
            self._store.claims.release(job_id, scheduled_for, through=attempt)

    def held_attempt(self, job_id: str, scheduled_for: datetime) -> int:
        """The attempt of the run this node holds (a rerun's is over 1), else 1."""
        claim = self._store.claims.latest(job_id, scheduled_for)
        return claim.attempt if claim is not None else 1

    def interrupt_unfinished(self, *, at: datetime) -> int:
        """Mark runs left 'running' by a scheduler that died as 'interrupted'; returns how many."""
        with self._store._writing(notify=False) as conn:
            return conn.execute(
                "UPDATE runs SET state = 'interrupted', finished_at = ?,"
                " error = 'the scheduler stopped while the job was running'"
                " WHERE state = 'running'",
                (to_epoch_ms(at),),
            ).rowcount

    # -- presence -------------------------------------------------------------------------------

    def announce(self, *, pid: int, hostname: str, at: datetime, jobfile: str) -> None:
        with self._store._writing(notify=False) as conn:
            conn.execute(
                "INSERT INTO scheduler (id, pid, hostname, started_at, heartbeat_at, stopped_at, jobfile)"
                " VALUES (1, ?, ?, ?, ?, NULL, ?) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid,"
                " hostname = excluded.hostname, started_at = excluded.started_at,"
                " heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, jobfile = excluded.jobfile",
                (pid, hostname, to_epoch_ms(at), to_epoch_ms(at), jobfile),
            )

    def heartbeat(self, *, at: datetime) -> None:
        with self._store._writing(notify=False) as conn:
            conn.execute("UPDATE scheduler SET heartbeat_at = ? WHERE id = 1", (to_epoch_ms(at),))

    def stopped(self, *, at: datetime) -> None:
        with self._store._writing(notify=False) as conn:
            conn.execute("UPDATE scheduler SET stopped_at = ? WHERE id = 1", (to_epoch_ms(at),))

    def presence(self) -> SchedulerPresence | None:
        with self._store._reading() as conn:
            row = conn.execute(
                "SELECT pid, hostname, started_at, heartbeat_at, stopped_at, jobfile FROM scheduler"
            ).fetchone()
        if row is None:
            return None
        pid, hostname, started, beat, stopped, jobfile = row
        return SchedulerPresence(pid, hostname, _dt(started), _dt(beat), _dt(stopped), jobfile)

    # -- @reboot jobs ----------------------------------------------------------------------------

    def claim_boot_run(self, job_id: str, boot_id: str) -> bool:
        """True (and remembered) if ``job_id`` has not yet run during boot ``boot_id``."""
        with self._store._writing(notify=False) as conn:
            row = conn.execute("SELECT boot_id FROM boot_runs WHERE job_id = ?", (job_id,)).fetchone()
            if row is not None and row[0] == boot_id:
                return False
            conn.execute(
                "INSERT INTO boot_runs (job_id, boot_id) VALUES (?, ?)"
                " ON CONFLICT (job_id) DO UPDATE SET boot_id = excluded.boot_id",
                (job_id, boot_id),
            )
            return True

    # -- reading --------------------------------------------------------------------------------

    def runs(
        self, job_id: str | None = None, *, limit: int = 20, failed_only: bool = False,
        since: datetime | None = None, until: datetime | None = None,
    ) -> list[RunRecord]:
        """The newest ``limit`` runs scheduled within ``[since, until)``, newest first."""
        where, params = _filters(job_id, failed_only, since, until)
        with self._store._reading() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs{where} ORDER BY run_id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def last_runs(self) -> dict[str, RunRecord]:
        """The newest run of every job that has one (missed and skipped runs included)."""
        with self._store._reading() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id IN"
                " (SELECT max(run_id) FROM runs GROUP BY job_id)"
            ).fetchall()
        return {row[1]: _record(row) for row in rows}

    def running_jobs(self) -> set[str]:
        with self._store._reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT job_id FROM runs WHERE state = 'running'"
                " AND (lease_expires_at IS NULL OR lease_expires_at > now_ms())"
            ).fetchall()
        return {row[0] for row in rows}

    def failures_since(self, since: datetime) -> int:
        return self.count_since(FAILURES, since)

    def count(self, job_id: str | None = None) -> int:
        """How many runs are recorded (of ``job_id``, else of every job)."""
        where, params = _filters(job_id, False)
        with self._store._reading() as conn:
            (count,) = conn.execute(f"SELECT count(*) FROM runs{where}", params).fetchone()
        return int(count)

    def count_since(self, states: tuple[str, ...], since: datetime) -> int:
        """How many runs ended in one of ``states`` since ``since``."""
        marks = ", ".join("?" for _ in states)
        with self._store._reading() as conn:
            (count,) = conn.execute(
                f"SELECT count(*) FROM runs WHERE state IN ({marks}) AND finished_at >= ?",
                (*states, to_epoch_ms(since)),
            ).fetchone()
        return int(count)


def _filters(
    job_id: str | None, failed_only: bool, since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, tuple[Any, ...]]:
    clauses, bounds = time_filter(since, until)
    params: list[Any] = list(bounds)
    if job_id is not None:
        clauses.append("job_id = ?")
        params.append(job_id)
    if failed_only:
        clauses.append(f"state IN ({', '.join('?' for _ in FAILURES)})")
        params.extend(FAILURES)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _dt(value: int | None) -> datetime | None:
    return None if value is None else from_epoch_ms(value)


def _record(row: tuple[Any, ...]) -> RunRecord:
    (run_id, job_id, scheduled, attempt, state, reason, owner, started, finished, duration,
     exit_code, signal, error, output) = row
    return RunRecord(
        run_id, job_id, from_epoch_ms(scheduled), attempt, state, reason, owner, _dt(started),
        _dt(finished), duration, exit_code, signal, error, output,
    )

