"""Catch-up: 1,000 one-second jobs in the SQLite store, after a day of downtime.

Every job started a day ago and was last due a day ago: 86,400 missed fire times
each. Measured: from constructing store and scheduler on the file until every
job has run once (both engines coalesce the backlog into one run). APScheduler
walks every missed fire time, so its run is capped; when capped, the time it
would need is estimated from how many jobs it got through.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import probes
from bench.harness import Case, Results, Row, Size, Value, at_most
from bench.sides import JobSpec, fill_store, make_scheduler, make_store

TITLE = "Catch-up"
GOAL_MS_PER_1K = 50.0
DOWNTIME = timedelta(days=1)
_SIZES = {"full": (1000, 30.0), "quick": (1000, 5.0), "smoke": (50, 1.0)}  # jobs, cap in s


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    count, cap = _SIZES[size.name]
    return [
        Case("catchup", lib, "sqlite", "catchup", {"count": count, "cap": cap}, timeout=cap + 120)
        for lib in libs
    ]


def run(case: Case, workdir: str) -> dict[str, Any]:
    count, cap = case.params["count"], case.params["cap"]
    path = os.path.join(workdir, f"catchup-{case.lib}-{os.getpid()}.db")
    day_ago = datetime.now(UTC) - DOWNTIME
    specs = [
        JobSpec(
            f"c{i}",
            "interval",
            {"seconds": 1, "start_date": day_ago},
            next_run_time=day_ago,
            func=probes.MARK,
            args=(f"c{i}",),
        )
        for i in range(count)
    ]
    fill_store(case.lib, "sqlite", specs, path)
    probes.expect(count)
    started = time.perf_counter()
    scheduler = make_scheduler(case.lib, make_store(case.lib, "sqlite", path))
    scheduler.start()
    returned = time.perf_counter() - started
    finished = probes.done.wait(cap)
    elapsed = time.perf_counter() - started
    caught_up = len(probes.marked)
    if finished:
        scheduler.shutdown(wait=False)
    result = {
        "start_returned_s": returned,
        "jobs_caught_up": caught_up,
        "capped": not finished,
        "cap_s": cap,
    }
    if finished:
        result["ms_per_1k"] = elapsed * 1000 * 1000 / count
    elif caught_up:
        result["estimated_ms_per_1k"] = elapsed * 1000 * 1000 / caught_up
    return result


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    ours, theirs = _value(results, "schedctl"), _value(results, "apscheduler")
    row = Row(
        TITLE,
        "a day of downtime, per 1,000 1-s jobs (SQLite store)",
        "ms/1k",
        ours,
        theirs,
        goal=f"< {GOAL_MS_PER_1K:g} ms per 1,000 jobs",
    )
    row.met = at_most(ours, GOAL_MS_PER_1K - 1e-9)
    return [row]


def _value(results: Results, lib: str) -> Value:
    value = results.value("catchup", lib, "sqlite", "ms_per_1k")
    reps = results.reps("catchup", lib, "sqlite")
    if value.number is not None or not reps:
        return value
    cap = reps[0].get("cap_s")
    estimates = [r["estimated_ms_per_1k"] for r in reps if r.get("estimated_ms_per_1k")]
    caught = reps[0].get("jobs_caught_up", 0)
    text = f">{cap:g} s" if cap else ">cap"
    if estimates:
        text += f" (≈{estimates[0] / 1000:,.0f} s est. from {caught} jobs)"
    return Value(None, text)
