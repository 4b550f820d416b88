"""Reading the history in bulk for the views: each job's latest outcomes (``history
--stats`` reads its rows in :mod:`schedctl.state.stats`). Kept apart from
:mod:`schedctl.state.history`, which writes.

Reads go through the ``runs_job (job_id, run_id)`` index: a job's latest runs are one
index range each, so a strip of outcomes for a thousand jobs costs a few statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.timeutil import to_epoch_ms

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
