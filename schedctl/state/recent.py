"""Reading the history in bulk for the views: each job's latest outcomes, and the rows that
``history --stats`` summarizes. Kept apart from :mod:`schedctl.state.history`, which writes.

Both read through the ``runs_job (job_id, run_id)`` index: a job's latest runs are one
index range each, so a strip of outcomes for a thousand jobs costs a few statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.timeutil import from_epoch_ms, to_epoch_ms

#: Jobs per statement when reading their latest outcomes (SQLite allows 500 in a UNION).
_BATCH = 200


def recent_outcomes(
    store: SQLJobStore, job_ids: Sequence[str], count: int, *, with_running: bool = True
) -> dict[str, list[str]]:
    """The states of each job's latest ``count`` runs, oldest first; ``running`` rows only
    when ``with_running`` (a dead scheduler's rows are not running)."""
    found: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
    skip = "" if with_running else " AND state <> 'running'"
    for start in range(0, len(job_ids), _BATCH):
        batch = job_ids[start:start + _BATCH]
        sql = " UNION ALL ".join(
            f"SELECT * FROM (SELECT job_id, run_id, state FROM runs WHERE job_id = ?{skip}"
            f" ORDER BY run_id DESC LIMIT {int(count)}) AS r{index}"
            for index in range(len(batch))
        )
        with store._reading() as conn:
            rows = conn.execute(sql, tuple(batch)).fetchall()
        for job_id, _, state in sorted(rows, key=lambda row: row[1]):
            found[job_id].append(state)
    return found


@dataclass(frozen=True)
class StatRow:
    """What ``history --stats`` needs of one run, oldest first."""

    run_id: int
    job_id: str
    state: str
    scheduled_for: datetime
    finished_at: datetime | None
    duration: float | None
    exit_code: int | None
    signal: int | None
    error: str | None


def stat_rows(
    store: SQLJobStore, job_id: str | None = None, *, since: datetime | None = None,
    until: datetime | None = None,
) -> list[StatRow]:
    """Every ended run of ``job_id`` (or of all jobs) scheduled within the bounds, oldest first."""
    where, params = time_filter(since, until)
    clauses = ["state <> 'running'", *where]
    if job_id is not None:
        clauses.append("job_id = ?")
        params = (*params, job_id)
    with store._reading() as conn:
        rows = conn.execute(
            "SELECT run_id, job_id, state, scheduled_for, finished_at, duration, exit_code,"
            f" signal, error FROM runs WHERE {' AND '.join(clauses)} ORDER BY run_id",
            params,
        ).fetchall()
    return [_stat_row(row) for row in rows]


def time_filter(
    since: datetime | None, until: datetime | None
) -> tuple[list[str], tuple[Any, ...]]:
    """SQL clauses and parameters for runs scheduled at or after ``since`` and before ``until``."""
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("scheduled_for >= ?")
        params.append(to_epoch_ms(since))
    if until is not None:
        clauses.append("scheduled_for < ?")
        params.append(to_epoch_ms(until))
    return clauses, tuple(params)


def _stat_row(row: Sequence[Any]) -> StatRow:
    run_id, job_id, state, scheduled, finished, duration, exit_code, signal, error = row
    return StatRow(
        int(run_id), str(job_id), str(state), from_epoch_ms(int(scheduled)),
        None if finished is None else from_epoch_ms(int(finished)),
        None if duration is None else float(duration), exit_code, signal, error,
    )
