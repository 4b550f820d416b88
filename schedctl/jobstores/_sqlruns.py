"""Run rows inserted with a claim: one 'running' row per run a plan starts.

The rows go in the claim's own transaction, so a run exists exactly when the
schedule moved past it; their ``UNIQUE (job_id, scheduled_for, attempt, reason)``
is the backstop against a second firing by another node.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schedctl.job import Job
from schedctl.jobstores._sqlrows import Connection
from schedctl.jobstores.leases import Claim, LeaseTerms
from schedctl.timeutil import to_epoch_ms


class RunRows:
    """Mixed into SQLJobStore, which sets the node that owns the runs and their lease."""

    runs_owner: str | None
    lease: LeaseTerms | None

    def _insert_runs(
        self, conn: Connection, claimed: Sequence[tuple[Job, Any]], now: datetime, sent: float
    ) -> list[Claim]:
        """Insert a 'running' row for each run the plans start, in the claim's transaction;
        their claims, for the caller to register once the transaction commits.

        A slot whose row exists already was fired by someone else: it is dropped from its
        plan, so only what this transaction committed runs. Runs of a job still going
        elsewhere, up to ``max_instances``, turn its new ones into 'skipped' rows.
        """
        starting = [(job, d.run_times) for job, d in claimed if getattr(d, "run_times", None)]
        if not starting:
            return []
        now_ms = to_epoch_ms(now)
        # Only leased runs can be another node's: a store without leases has one scheduler.
        busy = {} if self.lease is None else self._running_elsewhere(
            conn, [job.id for job, _ in starting], now_ms)
        # A job whose trigger is done leaves the jobs table with this claim: its last runs
        # keep its definition, for a node that must rerun one after its node died.
        ending = {job.id for job, d in claimed if d.next_run_time is None}
        wanted: list[tuple[str, datetime, str | None]] = []
        for job, run_times in starting:
            holders = busy.get(job.id, [])
            state = job.to_json() if job.id in ending and self.lease is not None else None
            for run_time in run_times:
                if len(holders) >= job.max_instances:
                    self._insert_skipped(conn, job.id, run_time, now_ms, holders[0])
                else:
                    wanted.append((job.id, run_time, state))
        claims = self._insert_slots(conn, wanted, now, sent)
        inserted = {(claim.job_id, to_epoch_ms(claim.scheduled_for)) for claim in claims}
        for job, run_times in starting:
            run_times[:] = [t for t in run_times if (job.id, to_epoch_ms(t)) in inserted]
        return claims

    def _insert_slots(
        self, conn: Connection, slots: list[tuple[str, datetime, str | None]], now: datetime,
        sent: float,
    ) -> list[Claim]:
        """Insert the first attempts of ``slots`` (job id, slot, the job's definition when
        it is the last run); the claims of those actually inserted."""
        claims = (self.insert_run(conn, job_id, run_time, attempt=1, now=now, sent=sent,
                                  job_state=state) for job_id, run_time, state in slots)
        return [claim for claim in claims if claim is not None]

    def insert_run(
        self, conn: Connection, job_id: str, run_time: datetime, *, attempt: int, now: datetime,
        sent: float, reason: str = "schedule", owner: str | None = None,
        job_state: str | None = None,
    ) -> Claim | None:
        """Insert one 'running' row owned by this store's node; its claim, for the caller to
        register once the transaction commits, or None if that (job, slot, attempt) has a row
        already. ``job_state`` keeps the job's definition with a run that outlives the job's
        row (its trigger is done)."""
        lease_ms = None if self.lease is None else int(self.lease.seconds * 1000)
        # The lease runs from the store's clock at the insert, after ``sent``: the shim's
        # deadline (``sent + lease - margin``) always comes first.
        row = conn.execute(
            "INSERT INTO runs (job_id, scheduled_for, attempt, state, reason, owner, started_at,"
            " lease_expires_at, job_state) VALUES (?, ?, ?, 'running', ?, ?, ?, now_ms() + ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING run_id",
            (job_id, to_epoch_ms(run_time), attempt, reason, owner or self.runs_owner,
             to_epoch_ms(now), lease_ms, job_state),
        ).fetchone()
        if row is None:
            return None
        return Claim(int(row[0]), job_id, run_time, attempt, self.lease, sent)

    def _running_elsewhere(
        self, conn: Connection, job_ids: list[str], now_ms: int
    ) -> dict[str, list[str]]:
        """The owners of these jobs' live runs on other nodes, by job (this node's own are
        the executor's business: it knows them, and ``overlap: replace`` may stop them)."""
        marks = ", ".join("?" for _ in job_ids)
        rows = conn.execute(
            f"SELECT job_id, owner FROM runs WHERE state = 'running' AND job_id IN ({marks})"
            " AND owner <> ? AND lease_expires_at > ?",
            (*job_ids, self.runs_owner, now_ms),
        ).fetchall()
        busy: dict[str, list[str]] = {}
        for job_id, owner in rows:
            busy.setdefault(str(job_id), []).append(str(owner))
        return busy

    def _insert_skipped(
        self, conn: Connection, job_id: str, run_time: datetime, now_ms: int, holder: str
    ) -> None:
        error = f"the previous run was still going on {holder} (max_instances reached)"
        conn.execute(
            "INSERT INTO runs (job_id, scheduled_for, attempt, state, reason, owner, finished_at,"
            " error) VALUES (?, ?, 1, 'skipped', 'schedule', ?, ?, ?) ON CONFLICT DO NOTHING",
            (job_id, to_epoch_ms(run_time), self.runs_owner, now_ms, error),
        )
        logging.getLogger("schedctl.events").warning("%s: skipped: %s", job_id, error)
