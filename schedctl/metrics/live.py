"""The running scheduler's tallies, kept in memory.

Seeded from the store when ``schedctl run`` starts (so a restart is not a reset), then
kept up to date by the history itself: :class:`LiveRuns` is the history's observer and
counts each start and outcome the history committed, no more and no less. A scrape
reads no run from the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from schedctl.metrics.text import lateness_by_node
from schedctl.state.history import NEVER_STARTED, RunOutcome
from schedctl.state.totals import LATENESS_BUCKETS, Histogram, Tally, TallyKey, node_of
from schedctl.timeutil import to_epoch_ms


class LiveRuns:
    """Tallies by (job, node, outcome), as :func:`schedctl.state.totals.read_totals` gives
    them, updated as runs start and end. Thread-safe: job threads report, scrapes read."""

    def __init__(self, totals: Mapping[TallyKey, Tally]) -> None:
        self._lock = threading.Lock()
        self._totals = dict(totals)
        self._lateness = lateness_by_node(totals)  # all a scrape shows of it: kept summed
        # When each attempt started (epoch ms): the history works out a duration the
        # outcome lacks (a call: job's) from its row's start, and so does this.
        self._starts: dict[tuple[str, int, int], int] = {}

    @contextmanager
    def reading(self) -> Iterator[tuple[Mapping[TallyKey, Tally], Mapping[str, Histogram]]]:
        """The tallies and the lateness by node, held still while the caller renders them."""
        with self._lock:
            yield self._totals, self._lateness

    def run_started(self, job_id: str, scheduled_for: datetime, *, at: datetime, attempt: int,
                    owner: str) -> None:
        slot, started = to_epoch_ms(scheduled_for), to_epoch_ms(at)
        with self._lock:
            self._starts[(job_id, slot, attempt)] = started
            if attempt == 1:  # a retry starts late by design: lateness is the schedule's
                late = self._lateness.setdefault(node_of(owner), Histogram(LATENESS_BUCKETS))
                late.observe((started - slot) / 1000)

    def run_finished(self, job_id: str, scheduled_for: datetime, outcome: RunOutcome, *,
                     owner: str, written: bool) -> None:
        with self._lock:
            started = self._starts.pop((job_id, to_epoch_ms(scheduled_for), outcome.attempt), None)
            if not written:  # fenced: another node took the run over and records it
                return
            tally = self._tally(job_id, owner, outcome.state)
            tally.runs += 1
            finished = to_epoch_ms(outcome.finished_at)
            tally.last_at = finished if tally.last_at is None else max(tally.last_at, finished)
            if outcome.state == "missed":
                tally.missed += outcome.missed_runs or 1
            if outcome.state in NEVER_STARTED:
                return
            duration = outcome.duration
            if duration is None and started is not None:
                duration = (finished - started) / 1000
            if duration is not None:
                tally.durations.observe(duration)

    def _tally(self, job_id: str, owner: str, outcome: str) -> Tally:
        return self._totals.setdefault((job_id, node_of(owner), outcome), Tally())
