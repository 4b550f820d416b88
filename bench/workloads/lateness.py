"""Lateness: 1,000 one-shot jobs due within one second; how late does each start?

Each job gets the epoch time it is due as its argument and records
``time.time() - scheduled`` first thing. The jobs are added to a running
scheduler far enough ahead that adding is over before the first is due; a run
whose adding overran is repeated with twice the head start.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from bench import probes
from bench.harness import Case, Results, Row, Size, all_met, at_most, compare, percentile
from bench.sides import STORES, JobSpec, add_job, make_scheduler, make_store, store_label

TITLE = "Lateness"
GOAL_P99_MS = 5.0
#: Memory store: p99 at most this share of APScheduler's, and max no higher than its.
GOAL_MEMORY_P99_SHARE = 0.8
_SIZES = {"full": (1000, 1.0), "quick": (1000, 1.0), "smoke": (100, 0.2)}
#: Rough seconds per add_job, for a head start that adding the jobs does not overrun
#: (APScheduler's SQLAlchemy store commits with fsync, schedctl's WAL store without).
_ADD_COST = {"memory": 1e-4, "sqlite": 1e-3}
_APS_SQLITE_ADD_COST = 3e-3


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    count, spread = _SIZES[size.name]
    return [
        Case("lateness", lib, store, "lateness", {"count": count, "spread": spread}, timeout=120)
        for lib in libs
        for store in STORES
    ]


def run(case: Case, workdir: str) -> dict[str, Any]:
    per_add = _ADD_COST[case.store]
    if (case.lib, case.store) == ("apscheduler", "sqlite"):
        per_add = _APS_SQLITE_ADD_COST
    head_start = 0.3 + per_add * case.params["count"]
    for attempt in range(4):
        path = os.path.join(workdir, f"lateness-{case.lib}-{os.getpid()}-{attempt}.db")
        result = _measure(case, path, head_start)
        if not result["setup_overran"]:
            return result
        head_start = 2 * result["setup_s"] + 0.5
    result["error"] = f"adding the jobs took longer than the {head_start:.1f} s head start"
    return result


def _measure(case: Case, path: str, head_start: float) -> dict[str, Any]:
    count, spread = case.params["count"], case.params["spread"]
    scheduler = make_scheduler(case.lib, make_store(case.lib, case.store, path))
    scheduler.start()
    probes.expect(count)
    started = time.perf_counter()
    base = time.time() + head_start
    for i in range(count):
        due = base + spread * i / count
        add_job(scheduler, _spec(i, due))
    setup_s = time.perf_counter() - started
    overran = time.time() >= base
    if not overran:
        probes.done.wait(head_start + spread + 30)
    scheduler.shutdown(wait=False)
    late_ms = [late * 1000 for late in probes.lateness]
    return {
        "runs": len(late_ms),
        "missing": count - len(late_ms),
        "setup_s": setup_s,
        "setup_overran": overran,
        "p50_ms": percentile(late_ms, 50) if late_ms else None,
        "p99_ms": percentile(late_ms, 99) if late_ms else None,
        "max_ms": max(late_ms) if late_ms else None,
    }


def _spec(i: int, due: float) -> JobSpec:
    run_date = datetime.fromtimestamp(due, UTC)
    return JobSpec(
        id=f"late-{i}",
        trigger="date",
        trigger_args={"run_date": run_date},
        func=probes.RECORD_LATENESS,
        args=(due,),
    )


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    rows = []
    for store in STORES:
        for metric in ("p50", "p99", "max"):
            ours = results.value("lateness", "schedctl", store, f"{metric}_ms")
            theirs = results.value("lateness", "apscheduler", store, f"{metric}_ms")
            row = Row(TITLE, f"{metric}, {store_label(store)}", "ms", ours, theirs)
            if metric == "p99" and store == "memory":
                row.goal = f"≤ {GOAL_MEMORY_P99_SHARE:g}× APScheduler and < {GOAL_P99_MS:g} ms"
                checks = [at_most(ours, GOAL_P99_MS - 1e-9)]
                if "apscheduler" in libs:
                    checks.append(compare(ours, theirs, factor=1 / GOAL_MEMORY_P99_SHARE))
                row.met = all_met(checks)
            elif metric == "p99":
                row.goal = f"≤ APScheduler and < {GOAL_P99_MS:g} ms"
                checks = [at_most(ours, GOAL_P99_MS - 1e-9)]
                if "apscheduler" in libs:
                    checks.append(compare(ours, theirs))
                row.met = all_met(checks)
            elif metric == "max" and store == "memory" and "apscheduler" in libs:
                row.goal = "≤ APScheduler"
                row.met = compare(ours, theirs)
            rows.append(row)
    return rows
