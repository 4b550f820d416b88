"""``history --stats``: each job's runs summed up — counts, success rate, duration
percentiles, its latest durations, and its last failure. Plain data; ``cli/`` renders it.

Every attempt counts as a run, as in the history and the metrics: a run retried twice
before it succeeded is two failures and a success. Missed and skipped runs never
started, and runs replaced on purpose (``overlap: replace``) are no failures: these are
counted apart, and are neither runs nor successes nor failures. The rows are read here
too (``stat_rows``), apart from the views of ``list``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.state.history import FAILURES, NEVER_STARTED, REPLACED
from schedctl.state.recent import time_filter
from schedctl.timeutil import from_epoch_ms

#: How many of the latest durations the sparkline shows.
SPARK_RUNS = 20


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


def _stat_row(row: Sequence[Any]) -> StatRow:
    run_id, job_id, state, scheduled, finished, duration, exit_code, signal, error = row
    return StatRow(
        int(run_id), str(job_id), str(state), from_epoch_ms(int(scheduled)),
        None if finished is None else from_epoch_ms(int(finished)),
        None if duration is None else float(duration), exit_code, signal, error,
    )


@dataclass
class JobStats:
    """One job's summary over the runs read."""

    job_id: str
    runs: int = 0
    successes: int = 0
    failures: int = 0
    missed: int = 0
    skipped: int = 0
    replaced: int = 0
    durations: list[float] = field(default_factory=list)  # oldest first
    last_failure: StatRow | None = None

    @property
    def success_rate(self) -> float | None:
        """Successes over runs, 0 to 1; None without runs."""
        return self.successes / self.runs if self.runs else None

    def percentile(self, share: float) -> float | None:
        """The nearest-rank percentile of the durations (``share`` 0.5 is the median)."""
        if not self.durations:
            return None
        ordered = sorted(self.durations)
        return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]

    @property
    def latest_durations(self) -> list[float]:
        return self.durations[-SPARK_RUNS:]

    def to_json(self) -> dict[str, Any]:
        last = self.last_failure
        return {
            "job_id": self.job_id, "runs": self.runs, "successes": self.successes,
            "failures": self.failures, "success_rate": self.success_rate,
            "missed": self.missed, "skipped": self.skipped, "replaced": self.replaced,
            "duration": {"p50": self.percentile(0.5), "p95": self.percentile(0.95),
                         "max": max(self.durations, default=None)},
            "latest_durations": self.latest_durations,
            "last_failure": None if last is None else {
                "run_id": last.run_id, "outcome": last.state,
                "scheduled_for": last.scheduled_for.isoformat(),
                "finished_at": last.finished_at.isoformat() if last.finished_at else None,
                "exit_code": last.exit_code, "signal": last.signal, "error": last.error,
            },
        }


def job_stats(rows: Iterable[StatRow], job_ids: Sequence[str] = ()) -> list[JobStats]:
    """One summary per job of ``rows`` (oldest first), plus one for each of ``job_ids``
    without runs; in job id order."""
    stats = {job_id: JobStats(job_id) for job_id in job_ids}
    for row in rows:
        _add(stats.setdefault(row.job_id, JobStats(row.job_id)), row)
    return [stats[job_id] for job_id in sorted(stats)]


def _add(stats: JobStats, row: StatRow) -> None:
    if row.state == "missed":
        stats.missed += 1
    elif row.state == "skipped":
        stats.skipped += 1
    elif row.state == REPLACED:
        stats.replaced += 1
    if row.state in (*NEVER_STARTED, REPLACED):
        return
    stats.runs += 1
    if row.state == "success":
        stats.successes += 1
    elif row.state in FAILURES:
        stats.failures += 1
        stats.last_failure = row
    if row.duration is not None:
        stats.durations.append(row.duration)
