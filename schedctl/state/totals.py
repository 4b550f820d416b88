"""Run counts over all time, per job, node and outcome: the history's rows plus what
pruning took away.

The history keeps the newest ``KEEP_RUNS_PER_JOB`` runs of each job. Counters read by
a monitoring system must never go down, not even across a restart, so the rows
pruning deletes are first added to the ``run_totals`` table (in the same
transaction), and :func:`read_totals` adds that table to an aggregate of ``runs``.
Histograms are kept the same way, as a count, a sum and cumulative bucket counts.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schedctl.jobstores._sqlstore import Connection, SQLJobStore

#: Upper bounds (seconds) of the run duration buckets: from a quick command to a night's work.
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
                    3600.0, 7200.0, 21600.0)
#: Upper bounds (seconds) of the lateness buckets: start time minus scheduled time.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0)

#: (job id, node, outcome): the node is the run owner's name before its '/'.
TallyKey = tuple[str, str, str]


@dataclass
class Histogram:
    """Observations as Prometheus keeps them: count, sum, and how many fell at or
    below each bound (cumulative)."""

    bounds: tuple[float, ...]
    cumulative: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.cumulative:
            self.cumulative = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        for index in range(bisect.bisect_left(self.bounds, value), len(self.bounds)):
            self.cumulative[index] += 1

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s observations; bounds this one lacks count at the nearest lower one."""
        self.count += other.count
        self.total += other.total
        if other.bounds == self.bounds:
            self.cumulative = [mine + theirs for mine, theirs in zip(self.cumulative, other.cumulative)]
            return
        for index, bound in enumerate(self.bounds):
            self.cumulative[index] += other.count_at(bound)

    def count_at(self, bound: float) -> int:
        """Observations at or below ``bound``, as far as these buckets can tell."""
        index = bisect.bisect_right(self.bounds, bound) - 1
        return self.cumulative[index] if index >= 0 else 0

    def to_json(self) -> str:
        return json.dumps({"count": self.count, "sum": self.total,
                           "buckets": [[b, n] for b, n in zip(self.bounds, self.cumulative)]})

    @classmethod
    def from_json(cls, text: str) -> Histogram:
        data = json.loads(text)
        pairs = data.get("buckets", [])
        return cls(tuple(float(b) for b, _ in pairs), [int(n) for _, n in pairs],
                   int(data.get("count", 0)), float(data.get("sum", 0.0)))


@dataclass
class Tally:
    """What one job's runs with one outcome on one node add up to."""

    runs: int = 0
    missed: int = 0  # scheduled runs the 'missed' rows stand for (a row may stand for many)
    last_at: int | None = None  # newest finished_at, UTC epoch ms
    durations: Histogram = field(default_factory=lambda: Histogram(DURATION_BUCKETS))
    lateness: Histogram = field(default_factory=lambda: Histogram(LATENESS_BUCKETS))

    def merge(self, other: Tally) -> None:
        self.runs += other.runs
        self.missed += other.missed
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at = other.last_at
        self.durations.merge(other.durations)
        self.lateness.merge(other.lateness)


def node_of(owner: str | None) -> str:
    """The node part of a run's owner (``node/incarnation`` or ``host/pid``)."""
    return (owner or "").split("/", 1)[0]


def read_totals(store: SQLJobStore) -> dict[TallyKey, Tally]:
    """Every tally over all time. Runs still going count for their lateness only."""
    with store._reading() as conn:
        totals = _from_runs(conn, "", ())
        for key, tally in _stored(conn, None).items():
            totals.setdefault(key, Tally()).merge(tally)
    return totals


def fold_runs(conn: Connection, job_id: str, where: str, params: Sequence[Any]) -> None:
    """Add the rows of ``job_id`` matching ``where`` to ``run_totals``, inside the caller's
    transaction, just before the caller deletes them."""
    folded = _from_runs(conn, f" WHERE job_id = ? AND {where}", (job_id, *params))
    if not folded:
        return
    stored = _stored(conn, job_id)
    for key, tally in folded.items():
        merged = stored.get(key, Tally())
        merged.merge(tally)
        conn.execute(
            "INSERT INTO run_totals (job_id, node, outcome, runs, missed, last_at, durations,"
            " lateness) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, node, outcome)"
            " DO UPDATE SET runs = excluded.runs, missed = excluded.missed,"
            " last_at = excluded.last_at, durations = excluded.durations,"
            " lateness = excluded.lateness",
            (*key, merged.runs, merged.missed, merged.last_at, merged.durations.to_json(),
             merged.lateness.to_json()),
        )


def _stored(conn: Connection, job_id: str | None) -> dict[TallyKey, Tally]:
    where, params = (" WHERE job_id = ?", (job_id,)) if job_id is not None else ("", ())
    rows = conn.execute(
        "SELECT job_id, node, outcome, runs, missed, last_at, durations, lateness FROM run_totals"
        + where, params,
    ).fetchall()
    return {
        (job, node, outcome): _tally_from_json(runs, missed, last_at, durations, lateness)
        for job, node, outcome, runs, missed, last_at, durations, lateness in rows
    }


def _tally_from_json(runs: int, missed: int, last_at: int | None, durations: str,
                     lateness: str) -> Tally:
    tally = Tally(int(runs), int(missed), None if last_at is None else int(last_at))
    tally.durations.merge(Histogram.from_json(durations))
    tally.lateness.merge(Histogram.from_json(lateness))
    return tally


# One pass of SQL over the rows, the same in SQLite and PostgreSQL: counts, sums and a
# CASE per bucket. Lateness is that of first attempts (a retry starts late by design).
_STARTED = "attempt = 1 AND started_at IS NOT NULL"


def _bucket_sums(expression: str, bounds: Iterable[float], scale: float, guard: str) -> str:
    return ", ".join(
        f"sum(CASE WHEN {guard}{expression} <= {bound * scale!r} THEN 1 ELSE 0 END)"
        for bound in bounds
    )


_AGGREGATE = (
    "SELECT job_id, owner, state, count(*),"
    " sum(CASE WHEN state = 'missed' THEN coalesce(missed_runs, 1) ELSE 0 END),"
    " max(finished_at), count(duration), coalesce(sum(duration), 0), "
    + _bucket_sums("duration", DURATION_BUCKETS, 1, "")
    + f", sum(CASE WHEN {_STARTED} THEN 1 ELSE 0 END),"
    f" coalesce(sum(CASE WHEN {_STARTED} THEN started_at - scheduled_for ELSE 0 END), 0), "
    + _bucket_sums("started_at - scheduled_for", LATENESS_BUCKETS, 1000, f"{_STARTED} AND ")
    + " FROM runs{where} GROUP BY job_id, owner, state"
)


def _from_runs(conn: Connection, where: str, params: Sequence[Any]) -> dict[TallyKey, Tally]:
    totals: dict[TallyKey, Tally] = {}
    durations_end = 8 + len(DURATION_BUCKETS)
    for row in conn.execute(_AGGREGATE.format(where=where), params).fetchall():
        job_id, owner, state, runs, missed, last_at, count, total = row[:8]
        tally = Tally(int(runs), int(missed or 0), None if last_at is None else int(last_at))
        tally.durations = Histogram(DURATION_BUCKETS, [int(n) for n in row[8:durations_end]],
                                    int(count), float(total))
        late_count, late_ms = row[durations_end:durations_end + 2]
        tally.lateness = Histogram(LATENESS_BUCKETS,
                                   [int(n or 0) for n in row[durations_end + 2:]],
                                   int(late_count or 0), float(late_ms or 0) / 1000)
        if state == "running":  # not a finished run yet: only its lateness is known
            tally.runs, tally.last_at = 0, None
            tally.durations = Histogram(DURATION_BUCKETS)
        totals.setdefault((job_id, node_of(owner), state), Tally()).merge(tally)
    return totals


def running_now(store: SQLJobStore) -> dict[tuple[str, str], int]:
    """Runs going on now, by (job id, node): rows still 'running' whose lease holds (a
    state file's rows have none; whether its scheduler lives is the caller's question)."""
    with store._reading() as conn:
        rows = conn.execute(
            "SELECT job_id, owner, count(*) FROM runs WHERE state = 'running'"
            " AND (lease_expires_at IS NULL OR lease_expires_at > now_ms()) GROUP BY job_id, owner"
        ).fetchall()
    counts: dict[tuple[str, str], int] = {}
    for job_id, owner, count in rows:
        key = (str(job_id), node_of(owner))
        counts[key] = counts.get(key, 0) + int(count)
    return counts
