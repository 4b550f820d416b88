"""``history --stats`` and the strip of ``list`` as plain functions: what counts as a run,
the percentiles, the sparkline and the glyphs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schedctl.cli.glyphs import outcome_glyphs, sparkline
from schedctl.state.stats import StatRow
from schedctl.state.stats import job_stats

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def row(n: int, state: str, duration: float | None = None, job_id: str = "a") -> StatRow:
    return StatRow(n, job_id, state, T0 + timedelta(minutes=n), None, duration, None, None,
                   f"reason {n}" if state == "failed" else None)


def test_only_runs_that_started_count_and_the_rest_apart() -> None:
    rows = [row(1, "success", 1.0), row(2, "failed", 2.0), row(3, "missed"), row(4, "skipped"),
            row(5, "replaced", 9.0), row(6, "timeout", 3.0), row(7, "success", 4.0)]
    [stats] = job_stats(rows, ["a", "b"])[:1]
    assert (stats.runs, stats.successes, stats.failures) == (4, 2, 2)
    assert (stats.missed, stats.skipped, stats.replaced) == (1, 1, 1)
    assert stats.success_rate == 0.5
    assert stats.durations == [1.0, 2.0, 3.0, 4.0]  # the replaced run's is not the job's
    assert stats.last_failure is not None and stats.last_failure.run_id == 6
    assert [s.job_id for s in job_stats(rows, ["b"])] == ["a", "b"]  # b: no runs, still listed


@pytest.mark.parametrize(("durations", "p50", "p95"), [
    ([5.0], 5.0, 5.0),
    ([1.0, 2.0], 1.0, 2.0),
    ([float(n) for n in range(1, 101)], 50.0, 95.0),
    ([float(n) for n in range(20, 0, -1)], 10.0, 19.0),
], ids=["one", "two", "hundred", "unsorted"])
def test_percentiles_are_nearest_rank(durations, p50, p95) -> None:
    [stats] = job_stats([row(n, "success", d) for n, d in enumerate(durations)])
    assert (stats.percentile(0.5), stats.percentile(0.95)) == (p50, p95)


def test_sparkline_scales_from_the_least_to_the_most() -> None:
    assert sparkline([1.0, 8.0, 4.5, 1.0], unicode=True) == "▁█▅▁"
    assert sparkline([1.0, 8.0, 4.5, 1.0], unicode=False) == "_#=_"
    assert sparkline([3.0, 3.0], unicode=True) == "▁▁"
    assert sparkline([], unicode=True) == ""


def test_glyphs_tell_outcomes_apart_in_both_alphabets() -> None:
    states = ["success", "failed", "timeout", "missed", "skipped", "replaced", "running"]
    assert "".join(g for g, _ in outcome_glyphs(states, True)) == "✔✘✘⏭⏭↷…"
    assert "".join(g for g, _ in outcome_glyphs(states, False)) == "+xx>>~*"
