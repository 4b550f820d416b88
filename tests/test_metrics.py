"""Metrics from the history: tallies over all time (pruning included), the live counters
of a running scheduler, and the exposition text read back with prometheus_client's parser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.metrics.exposition import ProcessCollector, render, store_exposition
from schedctl.metrics.live import LiveRuns
from schedctl.metrics.text import JobSnapshot, TextCache, escape, render_jobs
from schedctl.state import history as history_module
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.state.sync import sync_jobs
from schedctl.state.totals import DURATION_BUCKETS, Histogram, Tally, read_totals
from schedctl.state.scheduleindex import ScheduleEntry, schedule_index

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
JOBS = """\
jobs:
  backup:
    command: "true"
    interval: 1h
  report:
    command: "true"
    cron: "0 6 * * *"
  held:
    command: "true"
    interval: 5m
    paused: true
  at-boot:
    command: "true"
    cron: "@reboot"
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteJobStore]:
    made = SQLiteJobStore(path=tmp_path / "state.db")
    (tmp_path / "jobs.yaml").write_text(JOBS)
    sync_jobs(load_jobfile(tmp_path / "jobs.yaml"), made, T0)
    yield made
    made.shutdown()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record_mixed_runs(history: RunHistory, owner: str = "db1/100") -> None:
    """Runs of every kind the acceptance names: success, failure, timeout, skipped, missed;
    a call: job's success has no duration of its own (the history takes it from the start)."""
    for minute, state in enumerate(["success", "failed", "timeout", "success", "failed"]):
        slot = at(minute * 60)
        history.started("backup", slot, at=slot + timedelta(seconds=0.2), owner=owner)
        history.finished("backup", slot, RunOutcome(state, slot + timedelta(seconds=3),
                                                     duration=2.8, exit_code=1), owner=owner)
    history.finished("backup", at(600), RunOutcome("skipped", at(600)), owner=owner)
    history.finished("backup", at(660), RunOutcome("missed", at(700), missed_runs=4), owner=owner)
    history.started("report", at(0), at=at(0.01), owner=owner)
    history.finished("report", at(0), RunOutcome("success", at(7.01)), owner=owner)


def families(text: bytes | str) -> dict[str, list]:
    """name -> samples, the way Prometheus reads the text."""
    body = text.decode() if isinstance(text, bytes) else text
    return {family.name: family.samples for family in text_string_to_metric_families(body)}


def value(samples: list, name: str, **labels: str) -> float | None:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, found
    return found[0] if found else None


# -- histograms and tallies ---------------------------------------------------------------------


@pytest.mark.parametrize("values, at_one, count", [
    ([], 0, 0), ([0.1, 1.0], 2, 2), ([1.0000001, 3], 0, 2), ([0.5] * 3 + [9999], 3, 4),
], ids=["empty", "on-the-bound", "just-over", "mixed"])
def test_a_histogram_counts_each_observation_at_and_below_its_bounds(
    values: list[float], at_one: int, count: int
) -> None:
    histogram = Histogram(DURATION_BUCKETS)
    for observed in values:
        histogram.observe(observed)
    assert (histogram.count_at(1.0), histogram.count, histogram.total) == (at_one, count, sum(values))
    again = Histogram.from_json(histogram.to_json())
    assert (again.cumulative, again.count, again.total) == (histogram.cumulative, count, sum(values))


def test_merging_other_bounds_keeps_the_buckets_cumulative() -> None:
    old = Histogram((1.0, 10.0), [2, 5], 6, 70.0)
    current = Histogram((0.5, 2.0, 20.0))
    current.merge(old)
    assert current.cumulative == [0, 2, 5] and current.count == 6


def test_tallies_count_every_outcome_of_the_history(store: SQLiteJobStore) -> None:
    history = RunHistory(store)
    record_mixed_runs(history)
    totals = read_totals(store)
    runs = {outcome: tally.runs for (job, _, outcome), tally in totals.items() if job == "backup"}
    assert runs == {"success": 2, "failed": 2, "timeout": 1, "skipped": 1, "missed": 1}
    assert totals[("backup", "db1", "missed")].missed == 4
    assert totals[("report", "db1", "success")].durations.total == pytest.approx(7.0)
    started = sum(t.lateness.count for (job, _, _), t in totals.items() if job == "backup")
    assert started == 5  # skipped and missed runs never started


def test_pruning_folds_runs_into_the_totals_so_counts_never_go_down(
    store: SQLiteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "KEEP_RUNS_PER_JOB", 3)
    history = RunHistory(store)
    record_mixed_runs(history)
    assert len(history.runs("backup", limit=100)) == 3
    totals = read_totals(store)
    assert sum(t.runs for (job, _, _), t in totals.items() if job == "backup") == 7
    assert sum(t.durations.count for (job, _, _), t in totals.items() if job == "backup") == 5
    assert totals[("backup", "db1", "missed")].missed == 4
    last_failure = totals[("backup", "db1", "failed")].last_at
    assert last_failure == int(at(4 * 60 + 3).timestamp() * 1000)


def test_live_counters_equal_what_the_history_holds(
    store: SQLiteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "KEEP_RUNS_PER_JOB", 4)
    history = RunHistory(store)
    history.finished("backup", at(-60), RunOutcome("success", at(-55), duration=5.0), owner="a/1")
    live = LiveRuns(read_totals(store))  # a scheduler starting on a history
    history.observer = live
    record_mixed_runs(history)
    history.started("report", at(900), at=at(901), owner="db1/100")  # still going
    with live.reading() as (counted, lateness):
        assert _summary(counted) == _summary(read_totals(store))
        assert sum(histogram.count for histogram in lateness.values()) == 7


def _summary(totals: dict) -> dict:
    return {key: (t.runs, t.missed, t.last_at, t.durations.count, round(t.durations.total, 6),
                  t.durations.cumulative) for key, t in totals.items() if t.runs}


# -- the exposition -----------------------------------------------------------------------------


def test_the_exposition_counts_runs_per_job_and_outcome(store: SQLiteJobStore) -> None:
    history = RunHistory(store)
    record_mixed_runs(history)
    samples = families(store_exposition(store))
    runs = samples["schedctl_runs"]
    for outcome, count in [("success", 2), ("failed", 2), ("timeout", 1), ("skipped", 1),
                           ("missed", 1)]:
        assert value(runs, "schedctl_runs_total", job_id="backup", outcome=outcome) == count
    assert value(runs, "schedctl_runs_total", job_id="held", outcome="failed") == 0
    durations = samples["schedctl_run_duration_seconds"]
    assert value(durations, "schedctl_run_duration_seconds_count", job_id="backup") == 5
    assert value(durations, "schedctl_run_duration_seconds_bucket", job_id="report", le="5.0") == 0
    assert value(durations, "schedctl_run_duration_seconds_bucket", job_id="report", le="10.0") == 1
    assert value(samples["schedctl_run_lateness_seconds"],
                 "schedctl_run_lateness_seconds_count") == 6
    assert value(samples["schedctl_missed_runs"], "schedctl_missed_runs_total", job_id="backup") == 4
    assert value(samples["schedctl_last_success_timestamp_seconds"],
                 "schedctl_last_success_timestamp_seconds", job_id="backup") == at(183).timestamp()


def test_gauges_follow_the_schedule(store: SQLiteJobStore) -> None:
    samples = families(store_exposition(store))
    nexts = {s.labels["job_id"]: s.value for s in samples["schedctl_next_run_timestamp_seconds"]}
    expected = {entry.id: entry.next_run_time for entry in schedule_index(store)}
    assert set(nexts) == {"backup", "report"}  # paused and @reboot jobs have no next run
    assert all(nexts[job] == expected[job].timestamp() for job in nexts)  # type: ignore[union-attr]
    paused = {s.labels["job_id"]: s.value for s in samples["schedctl_job_paused"]}
    assert paused == {"backup": 0, "report": 0, "held": 1, "at-boot": 0}
    assert {s.name for s in samples["schedctl_build_info"]} == {"schedctl_build_info"}


def test_a_removed_job_leaves_its_series_but_not_the_lateness_total(store: SQLiteJobStore) -> None:
    history = RunHistory(store)
    record_mixed_runs(history)
    store.remove_job("report")
    samples = families(store_exposition(store))
    assert {s.labels["job_id"] for s in samples["schedctl_runs"]} == {"backup", "held", "at-boot"}
    assert value(samples["schedctl_run_lateness_seconds"], "schedctl_run_lateness_seconds_count") == 6


def test_nodes_label_their_own_runs() -> None:
    tallies = {("j", "alpha", "success"): Tally(runs=2), ("j", "beta", "success"): Tally(runs=3),
               ("j", "beta", "failed"): Tally(runs=1)}
    schedule = [ScheduleEntry("j", int(T0.timestamp() * 1000), False)]
    cluster = families(render_jobs(JobSnapshot(tallies, schedule, by_node=True)))["schedctl_runs"]
    assert value(cluster, "schedctl_runs_total", job_id="j", node="beta", outcome="success") == 3
    assert value(cluster, "schedctl_runs_total", job_id="j", node="alpha", outcome="success") == 2
    own = families(render_jobs(JobSnapshot(tallies, schedule, by_node=True, only_node="alpha")))
    assert {s.labels["node"] for s in own["schedctl_runs"]} == {"alpha"}
    merged = families(render_jobs(JobSnapshot(tallies, schedule)))["schedctl_runs"]
    assert value(merged, "schedctl_runs_total", job_id="j", outcome="success") == 5


@pytest.mark.parametrize("job_id", ['a"b', "back\\slash", "new\nline", "plain"])
def test_label_values_are_escaped_as_prometheus_reads_them(job_id: str) -> None:
    text = render_jobs(JobSnapshot({(job_id, "", "success"): Tally(runs=1)},
                                   [ScheduleEntry(job_id, None, True)]))
    samples = families(text)["schedctl_runs"]
    assert value(samples, "schedctl_runs_total", job_id=job_id, outcome="success") == 1
    assert escape(job_id).count("\n") == 0


def test_text_kept_between_scrapes_is_written_again_when_a_job_runs(store: SQLiteJobStore) -> None:
    history = RunHistory(store)
    live = LiveRuns(read_totals(store))
    history.observer = live
    cache = TextCache()

    def scrape(kept: TextCache | None) -> str:
        with live.reading() as (totals, lateness):
            return render_jobs(JobSnapshot(totals, schedule_index(store), lateness=lateness), kept)

    first = scrape(cache)
    record_mixed_runs(history)
    paused = store.lookup_job("report")
    assert paused is not None
    paused.next_run_time = None
    store.update_job(paused)
    again = scrape(cache)
    assert again != first
    assert again == scrape(None)  # as if written from nothing
    assert value(families(again)["schedctl_runs"], "schedctl_runs_total", job_id="backup",
                 outcome="failed") == 2
    assert value(families(again)["schedctl_job_paused"], "schedctl_job_paused", job_id="report") == 1


def test_every_alert_kind_and_result_shows_from_the_start_at_zero() -> None:
    text = render(JobSnapshot(totals={}, schedule=[]), ProcessCollector(alerts={})).decode()
    (alerts,) = [f for f in text_string_to_metric_families(text) if f.name == "schedctl_alerts"]
    shown = {(s.labels["kind"], s.labels["result"]) for s in alerts.samples if s.value == 0}
    kinds = {"failure", "recovery", "output", "ping"}  # output: on_output, crontab's MAILTO
    assert shown == {(kind, result) for kind in kinds for result in ("sent", "failed", "dropped")}


@pytest.mark.parametrize(("alerts", "store_errors"), [
    (None, None), ({}, 0), ({("failure", "sent"): 3, ("ping", "dropped"): 12_345}, 7),
], ids=["cli", "service-at-start", "service-counting"])
def test_the_process_families_read_as_prometheus_client_writes_them(
        alerts: dict[tuple[str, str], int] | None, store_errors: int | None) -> None:
    """Our writer of the process families against the library's, on the same families."""
    from prometheus_client import generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    from schedctl import __version__
    from schedctl.metrics.exposition import ALERT_KINDS, ALERT_RESULTS

    class Library(Collector):
        def collect(self) -> Iterator[Any]:
            build = GaugeMetricFamily("schedctl_build_info", "The running schedctl's version.",
                                      labels=["version"])
            build.add_metric([__version__], 1)
            yield build
            if alerts is not None:
                family = CounterMetricFamily(
                    "schedctl_alerts", "Alerts handed to the alert thread, by kind and result "
                    "(sent, failed, or dropped when too many were waiting).",
                    labels=["kind", "result"])
                for kind in sorted(ALERT_KINDS):
                    for result in sorted(ALERT_RESULTS):
                        family.add_metric([kind, result], alerts.get((kind, result), 0))
                yield family
            if store_errors is not None:
                yield CounterMetricFamily("schedctl_store_errors",
                                          "Operations on the state store that failed.",
                                          value=store_errors)

    ours = ProcessCollector(alerts=alerts, store_errors=store_errors).text()
    assert ours == generate_latest(Library()).decode()
