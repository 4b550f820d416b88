"""Store scale: adding many jobs, adding one, starting over many, finding the next due one.

All on the SQLite stores (schedctl's SQLiteJobStore, APScheduler's
SQLAlchemyJobStore on an SQLite file), each case in its own process so peak RSS
belongs to it alone. Stored jobs run hourly, due over the coming hour: nothing
is due during a measurement.

- add N: schedctl builds the jobs and stores them with one ``add_jobs`` call, from a
  generator (the benchmark's own specs would otherwise count in the peak RSS), each job
  built as a caller writes it: ``Job(...)`` with its ``IntervalTrigger``. The earlier
  form of this case, each job made from a ``JobSpec`` through ``make_job``'s generic
  options dict (5 us a job no caller spends), is still measured at the largest N;
  APScheduler has no batch call, so it is ``add_job`` one by one on a paused
  scheduler, stopped at a time cap and extrapolated (marked *).
- add one: 1,000 single ``scheduler.add_job`` calls on a running scheduler.
- start over N: from constructing store and scheduler on an existing file to the
  end of the first loop pass; then ``get_next_run_time`` and one idle loop pass,
  at a small and a large N (the cost must not grow with N).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import Case, Results, Row, Size, Value, all_met, at_most, compare
from bench.sides import (
    JOB_DEFAULTS,
    JobSpec,
    add_job,
    fill_store,
    make_job,
    make_scheduler,
    make_store,
    prepared_copy,
)

TITLE = "Store scale"
#: The function every benchmark job names.
NOOP = JobSpec("", "date", {}).func
GOAL_START_S = 1.0
GOAL_FLAT = 1.5  # "flat": at most this much slower at the large size than at the small one
GOAL_SINGLE_FACTOR = 15.0
#: Adding the largest batch: seconds, and peak RSS in MB.
GOAL_BATCH_S = 1.0
GOAL_BATCH_RSS_MB = 100.0


# (small N, large N, batch-add sizes, APScheduler add cap in s, single adds)
_SIZES = {
    "full": (1_000, 100_000, (10_000, 100_000), 10.0, 1_000),
    "quick": (1_000, 10_000, (10_000,), 3.0, 1_000),
    "smoke": (100, 1_000, (500,), 1.0, 100),
}


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    small, large, add_sizes, cap, singles = _SIZES[size.name]
    out = []
    for lib in libs:
        for n in (small, large):
            out.append(
                Case(
                    "store_scale", lib, "sqlite", f"prepare-{n}", {"n": n}, timeout=300, setup=True
                )
            )
    for lib in libs:
        for n in add_sizes:
            out.append(
                Case("store_scale", lib, "sqlite", f"add-{n}", {"n": n, "cap": cap}, timeout=300)
            )
        if lib == "schedctl":
            n = add_sizes[-1]
            out.append(Case("store_scale", lib, "sqlite", f"addspecs-{n}",
                            {"n": n, "specs": True}, timeout=300))
        out.append(Case("store_scale", lib, "sqlite", "add-one", {"n": singles}, timeout=120))
        for n in (small, large):
            out.append(Case("store_scale", lib, "sqlite", f"start-{n}", {"n": n}, timeout=120))
    return out


def hourly_specs(n: int, prefix: str = "h") -> list[JobSpec]:
    """``n`` hourly jobs whose first runs are spread over the hour after next."""
    base = datetime.now(UTC) + timedelta(hours=1)
    specs = []
    for i in range(n):
        first = base + timedelta(seconds=3600 * i / n)
        specs.append(
            JobSpec(
                f"{prefix}{i}", "interval", {"hours": 1, "start_date": first}, next_run_time=first
            )
        )
    return specs


def run(case: Case, workdir: str) -> dict[str, Any]:
    kind = case.name.split("-")[0]
    fresh = os.path.join(workdir, f"{case.name}-{case.lib}-{os.getpid()}.db")
    if kind == "prepare":
        fill_store(case.lib, "sqlite", hourly_specs(case.params["n"]), _prepared(case, workdir))
        return {}
    if kind == "add" and case.name == "add-one":
        return _add_one(case, fresh)
    if kind in ("add", "addspecs"):
        return _add_many(case, fresh)
    return _start(case, prepared_copy(_prepared(case, workdir), fresh))


def _prepared(case: Case, workdir: str) -> str:
    return os.path.join(workdir, f"prepared-{case.lib}-{case.params['n']}.db")


def _add_many(case: Case, path: str) -> dict[str, Any]:
    n = case.params["n"]
    if case.lib == "schedctl":
        # The jobs come from a generator, as a caller streaming them would give them: the
        # benchmark's own specs (400 B each) would otherwise count in the peak RSS.
        base = datetime.now(UTC) + timedelta(hours=1)
        firsts = [base + timedelta(seconds=3600 * i / n) for i in range(n)]
        jobs = _jobs_from_specs if case.params.get("specs") else _jobs_as_written
        started = time.perf_counter()
        store = make_store("schedctl", "sqlite", path)
        store.add_jobs(jobs(firsts))
        return {"seconds": time.perf_counter() - started, "added": n}
    specs = hourly_specs(n, "a")
    scheduler = make_scheduler(case.lib, make_store(case.lib, "sqlite", path))
    scheduler.start(paused=True)
    deadline = time.perf_counter() + case.params["cap"]
    started = time.perf_counter()
    added = 0
    for spec in specs:
        add_job(scheduler, spec)
        added += 1
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed * n / added,
        "added": added,
        "extrapolated": added < n,
        "capped": added < n,
    }


def _jobs_as_written(firsts: list[datetime]) -> Iterator[Any]:
    """Hourly jobs as a caller streaming them writes them, with the options of JOB_DEFAULTS."""
    from schedctl.job import Job
    from schedctl.triggers.interval import IntervalTrigger

    grace, coalesce = JOB_DEFAULTS["misfire_grace_time"], JOB_DEFAULTS["coalesce"]
    instances = JOB_DEFAULTS["max_instances"]
    for i, first in enumerate(firsts):
        yield Job(
            None, id=f"a{i}", func=NOOP,
            trigger=IntervalTrigger(hours=1, start_date=first, timezone=UTC),
            next_run_time=first, misfire_grace_time=grace, coalesce=coalesce,
            max_instances=instances,
        )


def _jobs_from_specs(firsts: list[datetime]) -> Iterator[Any]:
    """The same jobs, each from a JobSpec through the benchmark's generic ``make_job``."""
    for i, first in enumerate(firsts):
        yield make_job("schedctl", JobSpec(f"a{i}", "interval", {"hours": 1, "start_date": first},
                                           next_run_time=first))


def _add_one(case: Case, path: str) -> dict[str, Any]:
    specs = hourly_specs(case.params["n"], "one")
    scheduler = make_scheduler(case.lib, make_store(case.lib, "sqlite", path))
    scheduler.start()
    scheduler.probe.first_pass.wait(10)
    started = time.perf_counter()
    for spec in specs:
        add_job(scheduler, spec)
    elapsed = time.perf_counter() - started
    scheduler.shutdown(wait=False)
    return {"per_add_us": elapsed / len(specs) * 1e6}


def _start(case: Case, path: str) -> dict[str, Any]:
    started = time.perf_counter()
    store = make_store(case.lib, "sqlite", path)
    scheduler = make_scheduler(case.lib, store)
    scheduler.start()
    returned = time.perf_counter()
    scheduler.probe.first_pass.wait(60)
    ready = time.perf_counter()
    one_pass = scheduler.tick if case.lib == "schedctl" else scheduler._process_jobs
    result = {
        "start_s": ready - started,
        "start_returned_s": returned - started,
        "next_us": _per_call_us(store.get_next_run_time, 2000),
        "idle_pass_us": _per_call_us(one_pass, 300),
    }
    scheduler.shutdown(wait=False)
    return result


def _per_call_us(call: Callable[[], Any], calls: int, batches: int = 10) -> float:
    """Median over batches of the mean per call, in microseconds."""
    per_batch = max(1, calls // batches)
    samples = []
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(per_batch):
            call()
        samples.append((time.perf_counter() - started) / per_batch * 1e6)
    return statistics.median(samples)


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    sizes = sorted(
        {int(k.split("/")[0].split("-")[1]) for k in results.data if k.startswith("start-")}
    )
    adds = sorted(
        {
            int(k.split("/")[0].split("-")[1])
            for k in results.data
            if k.startswith("add-") and not k.startswith("add-one")
        }
    )
    rows = [_add_row(results, n) for n in adds]
    if adds:
        rows[-1].goal = f"< {GOAL_BATCH_S:g} s"
        rows[-1].met = at_most(rows[-1].schedctl, GOAL_BATCH_S - 1e-9)
        rss = Row(
            TITLE,
            f"peak RSS, add {adds[-1]:,} jobs",
            "MB",
            _val(results, f"add-{adds[-1]}", "schedctl", "peak_rss_mb"),
            _val(results, f"add-{adds[-1]}", "apscheduler", "peak_rss_mb"),
            goal=f"< {GOAL_BATCH_RSS_MB:g} MB",
        )
        rss.met = at_most(rss.schedctl, GOAL_BATCH_RSS_MB - 1e-9)
        rows.append(rss)
        via_specs = f"addspecs-{adds[-1]}"
        if any(k.startswith(via_specs + "/") for k in results.data):
            rows.append(Row(
                TITLE, f"add {adds[-1]:,} jobs, each through bench JobSpec and make_job", "s",
                _val(results, via_specs, "schedctl", "seconds"), Value(None),
                note="the earlier form of the batch case: its per-job glue is the benchmark's",
            ))
    rows.append(_single_row(results, libs))
    if len(sizes) == 2:
        rows += _start_rows(results, *sizes)
    return rows


def _val(results: Results, name: str, lib: str, metric: str) -> Value:
    value = results.value(name, lib, "sqlite", metric)
    extrapolated = any(r.get("extrapolated") for r in results.reps(name, lib, "sqlite"))
    return Value(value.number, value.text, "*" if extrapolated else "")


def _add_row(results: Results, n: int) -> Row:
    row = Row(
        TITLE,
        f"add {n:,} jobs (schedctl: add_jobs batch)",
        "s",
        _val(results, f"add-{n}", "schedctl", "seconds"),
        _val(results, f"add-{n}", "apscheduler", "seconds"),
    )
    if row.apscheduler.mark:
        row.note = "* APScheduler: add_job one by one, extrapolated from the adds done in the cap"
    return row


def _single_row(results: Results, libs: tuple[str, ...]) -> Row:
    ours = _val(results, "add-one", "schedctl", "per_add_us")
    theirs = _val(results, "add-one", "apscheduler", "per_add_us")
    row = Row(TITLE, "one add_job on a running scheduler", "µs", ours, theirs)
    if "apscheduler" in libs:
        row.goal = f"≥ {GOAL_SINGLE_FACTOR:g}× cheaper than APScheduler"
        row.met = compare(ours, theirs, factor=GOAL_SINGLE_FACTOR)
    return row


def _start_rows(results: Results, small: int, large: int) -> list[Row]:
    def pair(n: int, metric: str) -> tuple[Value, Value]:
        return (
            _val(results, f"start-{n}", "schedctl", metric),
            _val(results, f"start-{n}", "apscheduler", metric),
        )

    start = Row(
        TITLE,
        f"start over {large:,} stored jobs (to first pass done)",
        "s",
        *pair(large, "start_s"),
        goal=f"< {GOAL_START_S:g} s",
    )
    start.met = at_most(start.schedctl, GOAL_START_S - 1e-9)
    rss = Row(TITLE, f"peak RSS, start over {large:,} jobs", "MB", *pair(large, "peak_rss_mb"))
    rows = [start, rss]
    for metric, label in (("next_us", "get_next_run_time"), ("idle_pass_us", "idle loop pass")):
        small_pair, large_pair = pair(small, metric), pair(large, metric)
        rows.append(Row(TITLE, f"{label} at {small:,} jobs", "µs", *small_pair))
        rows.append(Row(TITLE, f"{label} at {large:,} jobs", "µs", *large_pair))
        growth = Row(
            TITLE,
            f"{label}: {large:,} vs {small:,} jobs",
            "x",
            _growth(large_pair[0], small_pair[0]),
            _growth(large_pair[1], small_pair[1]),
            goal=f"flat (≤ {GOAL_FLAT:g}×)",
        )
        growth.met = all_met([at_most(growth.schedctl, GOAL_FLAT)])
        rows.append(growth)
    return rows


def _growth(large: Value, small: Value) -> Value:
    if large.number is None or small.number is None or small.number == 0:
        return Value(None)
    return Value(large.number / small.number)
