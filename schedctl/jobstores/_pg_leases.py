"""Leases, reaping and node identity for the PostgreSQL store.

Every statement here that a node's liveness depends on is fenced: a renewal
changes a run only while this very incarnation owns it and its lease has not
expired by the database's clock, so a node that stalled past its lease learns
it was replaced (0 rows) and never writes over its successor. The reaper turns
expired runs into ``orphaned`` ones and, for ``on_orphan: rerun`` jobs, claims
the next attempt in the same transaction.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from schedctl.clock import lease_monotonic
from schedctl.errors import StoreError
from schedctl.jobstores.leases import Claim, ClaimRegistry, LeaseTerms
from schedctl.timeutil import from_epoch_ms

if TYPE_CHECKING:
    from schedctl.job import Job

_logger = logging.getLogger("schedctl.leases")

#: A node is taken for dead once its heartbeat is this many leases old.
DEAD_AFTER_LEASES = 3

#: The most expired runs one reaper pass takes; the next pass takes the rest.
REAP_BATCH = 100

#: How long a node waits for another's sync to finish before giving up on its own.
EXCLUSIVE_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class NodeRow:
    node_id: str
    incarnation: str
    hostname: str | None
    pid: int | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    stopped_at: datetime | None
    lease_seconds: float | None
    jobfile: str | None
    jobfile_hash: str | None
    alive: bool


@dataclass(frozen=True)
class Rerun:
    """An orphaned run that this node claimed the next attempt of."""

    job: Job
    claim: Claim


class DuplicateNodeError(StoreError):
    """Another live process already runs under this node name."""


class LeaseSQL:
    """Mixed into PostgreSQLJobStore; relies on its connection and claim helpers."""

    runs_owner: str | None
    lease: LeaseTerms | None
    claims: ClaimRegistry

    if TYPE_CHECKING:
        @property
        def location(self) -> str: ...

        def _reading(self) -> AbstractContextManager[Any]: ...
        def _writing(self, *, notify: bool = True) -> AbstractContextManager[Any]: ...
        def _decode(self, row: Any) -> Job: ...
        def insert_run(self, conn: Any, job_id: str, run_time: datetime, *, attempt: int,
                       now: datetime, sent: float, reason: str = "schedule",
                       job_state: str | None = None) -> Claim | None: ...

    # -- leases ------------------------------------------------------------------------------

    def renew_leases(self, claims: Sequence[Claim]) -> tuple[list[Claim], list[Claim]]:
        """Extend the leases of ``claims``: (renewed, fenced). ``sent`` of a renewal is taken
        before the statement is sent, so the shims' deadlines stay ahead of the database."""
        if not claims or self.lease is None:
            return [], []
        sent = lease_monotonic()
        lease_ms = int(self.lease.seconds * 1000)
        with self._writing(notify=False) as conn:
            rows = conn.execute(
                "UPDATE runs SET lease_expires_at = now_ms() + ? WHERE run_id = ANY(?)"
                " AND owner = ? AND state = 'running' AND lease_expires_at > now_ms()"
                " RETURNING run_id",
                (lease_ms, [c.run_id for c in claims], self.runs_owner),
            ).fetchall()
        kept = {int(row[0]) for row in rows}
        renewed = [c for c in claims if c.run_id in kept]
        for claim in renewed:
            claim.renewed(sent)
        return renewed, [c for c in claims if c.run_id not in kept]

    def reap_expired(self) -> list[Rerun]:
        """Mark runs whose leases expired as orphaned (on any node); claim reruns for the
        jobs that ask for them. Returns the reruns this node must now start."""
        reruns: list[Rerun] = []
        with self._writing(notify=False) as conn:
            now = from_epoch_ms(int(conn.execute("SELECT now_ms()").fetchone()[0]))
            expired = conn.execute(
                "UPDATE runs SET state = 'orphaned', finished_at = now_ms(),"
                " duration = (now_ms() - started_at) / 1000.0,"
                " error = 'its node (' || coalesce(owner, 'unknown') || ') stopped renewing the lease'"
                " WHERE run_id IN (SELECT run_id FROM runs WHERE state = 'running'"
                " AND lease_expires_at < (SELECT now_ms()) ORDER BY lease_expires_at LIMIT ?"
                " FOR UPDATE SKIP LOCKED)"
                " RETURNING job_id, scheduled_for, attempt, reason, owner, job_state",
                (REAP_BATCH,),
            ).fetchall()
            for job_id, scheduled_ms, attempt, reason, owner, job_state in expired:
                scheduled_for = from_epoch_ms(int(scheduled_ms))
                _logger.warning("%s: the run scheduled for %s was orphaned: %s stopped renewing "
                                "its lease", job_id, scheduled_for.isoformat(), owner)
                job, state = self._rerunnable(conn, job_id, int(attempt), job_state)
                if job is None or self.runs_owner is None:
                    continue
                # Taken just before the insert starts the lease: this transaction may have
                # waited long on the database, and the shim's deadline counts from here.
                claim = self.insert_run(conn, job_id, scheduled_for, attempt=int(attempt) + 1,
                                        now=now, sent=lease_monotonic(), reason=reason,
                                        job_state=state)
                if claim is not None:
                    reruns.append(Rerun(job, claim))
        for rerun in reruns:  # only once committed
            self.claims.add(rerun.claim)
        return reruns

    def _rerunnable(
        self, conn: Any, job_id: str, attempt: int, kept_state: str | None
    ) -> tuple[Job | None, str | None]:
        """The job, if its orphaned attempt should run again: ``on_orphan: rerun``, not
        paused, and attempts left (its retries, and at least one rerun). A job whose
        trigger is done has no row any more: the run kept its definition. The second
        value is that kept definition, for the next attempt to keep too."""
        row = conn.execute(
            "SELECT id, next_run_time, version, state FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None and kept_state is None:
            return None, None
        if row is not None and row[1] is None:
            return None, None  # paused
        state = str(row[3]) if row is not None else str(kept_state)
        meta = json.loads(state).get("meta") or {}
        if meta.get("on_orphan") != "rerun":
            return None, None
        budget = max(int(meta.get("retries", 0)) + 1, 2)
        if attempt >= budget:
            _logger.warning("%s: no attempts left (%d of %d made); not rerun", job_id, attempt, budget)
            return None, None
        try:
            job = self._decode(tuple(row) if row is not None else (job_id, None, 0, state))
        except StoreError as exc:
            _logger.error("%s", exc)
            return None, None
        return job, None if row is not None else state

    def expire_previous_incarnations(self, node_id: str) -> int:
        """At start-up: the runs an earlier process of this node left 'running' died with it
        (their shims saw it go), so they need not wait for their leases to run out."""
        with self._writing(notify=False) as conn:
            return int(conn.execute(
                "UPDATE runs SET lease_expires_at = now_ms() - 1 WHERE state = 'running'"
                " AND substr(owner, 1, length(?) + 1) = ? || '/' AND owner <> ?",
                (node_id, node_id, self.runs_owner),
            ).rowcount)

    # -- nodes ----------------------------------------------------------------------------------

    def register_node(
        self, node_id: str, incarnation: str, *, hostname: str, pid: int, jobfile: str,
        jobfile_hash: str,
    ) -> None:
        """Announce this node; DuplicateNodeError if a live process has the same name."""
        assert self.lease is not None
        dead_ms = int(self.lease.seconds * 1000 * DEAD_AFTER_LEASES)
        values = (node_id, incarnation, hostname, pid, self.lease.seconds, jobfile, jobfile_hash)
        with self._writing(notify=False) as conn:
            taken = conn.execute(
                "INSERT INTO nodes (node_id, incarnation, hostname, pid, started_at, heartbeat_at,"
                " stopped_at, lease_seconds, jobfile, jobfile_hash)"
                " VALUES (?, ?, ?, ?, now_ms(), now_ms(), NULL, ?, ?, ?)"
                " ON CONFLICT (node_id) DO UPDATE SET incarnation = excluded.incarnation,"
                " hostname = excluded.hostname, pid = excluded.pid, started_at = excluded.started_at,"
                " heartbeat_at = excluded.heartbeat_at, stopped_at = NULL,"
                " lease_seconds = excluded.lease_seconds, jobfile = excluded.jobfile,"
                " jobfile_hash = excluded.jobfile_hash"
                " WHERE nodes.stopped_at IS NOT NULL OR nodes.heartbeat_at < now_ms() - ?",
                (*values, dead_ms),
            ).rowcount
            if taken:
                return
            holder = conn.execute(
                "SELECT hostname, pid, (now_ms() - heartbeat_at) / 1000.0, incarnation FROM nodes"
                " WHERE node_id = ?", (node_id,),
            ).fetchone()
            host, other_pid, age, other = holder
            if host == hostname and float(age) > self.lease.seconds and _process_gone(other_pid):
                # Killed on this very host (its pid is gone) and silent for a lease, so its
                # shims are past their deadlines: no need to wait three leases. (Both, as a
                # pid may be invisible from another pid namespace on the same host name.)
                conn.execute(
                    "UPDATE nodes SET incarnation = ?, hostname = ?, pid = ?, started_at = now_ms(),"
                    " heartbeat_at = now_ms(), stopped_at = NULL, lease_seconds = ?, jobfile = ?,"
                    " jobfile_hash = ? WHERE node_id = ? AND incarnation = ?",
                    (incarnation, hostname, pid, self.lease.seconds, jobfile, jobfile_hash,
                     node_id, other),
                )
                _logger.warning("Node %s: its previous process (pid %s) died without stopping; "
                                "taking over its name", node_id, other_pid)
                return
        if host == hostname and _process_gone(other_pid):
            wait = self.lease.seconds - float(age)
            raise DuplicateNodeError(
                f"node {node_id!r} ran here as pid {other_pid}, which is gone; its name is "
                f"free once its leases have run out, in {max(wait, 0.1):.1f} s: try again then"
            )
        raise DuplicateNodeError(
            f"another schedctl node named {node_id!r} is alive (pid {other_pid} on {host}, "
            f"heartbeat {float(age):.1f} s ago); stop it, or give this one another name "
            f"with 'cluster: node:' in the jobfile or --node"
        )

    def heartbeat_node(self, node_id: str, incarnation: str, jobfile_hash: str | None = None) -> bool:
        """False if this incarnation no longer owns the name (it was taken for dead)."""
        with self._writing(notify=False) as conn:
            return bool(conn.execute(
                "UPDATE nodes SET heartbeat_at = now_ms(),"
                " jobfile_hash = coalesce(?, jobfile_hash)"
                " WHERE node_id = ? AND incarnation = ?",
                (jobfile_hash, node_id, incarnation),
            ).rowcount)

    def node_stopped(self, node_id: str, incarnation: str) -> None:
        with self._writing(notify=False) as conn:
            conn.execute(
                "UPDATE nodes SET stopped_at = now_ms() WHERE node_id = ? AND incarnation = ?",
                (node_id, incarnation),
            )

    def nodes(self) -> list[NodeRow]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT node_id, incarnation, hostname, pid, started_at, heartbeat_at, stopped_at,"
                " lease_seconds, jobfile, jobfile_hash,"
                " stopped_at IS NULL AND heartbeat_at >= now_ms() - ? * 1000 * lease_seconds"
                " FROM nodes ORDER BY node_id",
                (DEAD_AFTER_LEASES,),
            ).fetchall()
        return [NodeRow(r[0], r[1], r[2], r[3], _dt(r[4]), _dt(r[5]), _dt(r[6]), r[7], r[8], r[9],
                        bool(r[10])) for r in rows]

    # -- shared settings ----------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_settings(self, values: dict[str, str]) -> None:
        with self._writing(notify=False) as conn:
            for key, value in values.items():
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A lock across every node (a session advisory lock), for work such as syncing
        a jobfile that must not interleave with another node's."""
        return _advisory(self, name)


def _process_gone(pid: int | None) -> bool:
    """Whether ``pid`` is no process this one can see."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


def _dt(value: int | None) -> datetime | None:
    return None if value is None else from_epoch_ms(int(value))


@contextmanager
def _advisory(store: Any, name: str) -> Iterator[None]:
    """Never waits forever: a node that froze while holding the lock must not stall the
    others (a reload waits with the scheduler's store lock held)."""
    conn = store.open_connection("schedctl-lock")
    try:
        conn.execute(f"SET lock_timeout = {int(EXCLUSIVE_WAIT_SECONDS * 1000)}")
        try:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"schedctl:{name}",))
        except store._psycopg.errors.LockNotAvailable:
            raise StoreError(
                f"{store.location}: another node held the {name} lock for over "
                f"{EXCLUSIVE_WAIT_SECONDS:g} s; try again"
            ) from None
        yield
    finally:
        conn.close()  # ends the session, and with it the lock
