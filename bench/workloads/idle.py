"""Idle cost: 10,000 jobs due in an hour, a scheduler with nothing to do for a while.

Measured inside the scheduler's process after it has settled: CPU time (user +
system, all threads, from getrusage), loop passes (schedctl ``tick``,
APScheduler ``_process_jobs``) and context switches, each per minute. Every
case sleeps for the whole window, so all run in parallel.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from bench.harness import Case, Results, Row, Size, at_most
from bench.sides import STORES, populated_scheduler, store_label
from bench.workloads.store_scale import hourly_specs

TITLE = "Idle"
PARALLEL = True
GOAL_CPU_S_PER_MIN = 0.06  # 0.1 % of one core
GOAL_WAKEUPS_PER_MIN = 1.0
_SIZES = {"full": (10_000, 60.0), "quick": (10_000, 5.0), "smoke": (200, 0.5)}  # jobs, window s
_SETTLE_S = 0.5


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    count, window = _SIZES[size.name]
    return [
        Case("idle", lib, store, "idle", {"count": count, "window": window}, timeout=window + 180)
        for lib in libs
        for store in STORES
    ]


def run(case: Case, workdir: str) -> dict[str, Any]:
    window = case.params["window"]
    path = os.path.join(workdir, f"idle-{case.lib}-{os.getpid()}.db")
    scheduler = populated_scheduler(case.lib, case.store, hourly_specs(case.params["count"]), path)
    scheduler.start()
    scheduler.probe.first_pass.wait(60)
    time.sleep(_SETTLE_S)
    before, passes, started = (
        resource.getrusage(resource.RUSAGE_SELF),
        scheduler.probe.passes,
        time.perf_counter(),
    )
    time.sleep(window)
    after, elapsed = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    passes = scheduler.probe.passes - passes
    per_min = 60 / elapsed
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    switches = (after.ru_nvcsw + after.ru_nivcsw) - (before.ru_nvcsw + before.ru_nivcsw)
    scheduler.shutdown(wait=False)
    return {
        "window_s": elapsed,
        "cpu_s_per_min": cpu * per_min,
        "wakeups_per_min": passes * per_min,
        "ctx_switches_per_min": switches * per_min,
    }


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    rows = []
    for store in STORES:
        for metric, label, unit, goal in (
            ("cpu_s_per_min", "CPU", "CPU-s/min", GOAL_CPU_S_PER_MIN),
            ("wakeups_per_min", "loop wake-ups", "/min", GOAL_WAKEUPS_PER_MIN),
            ("ctx_switches_per_min", "context switches (all threads)", "/min", None),
        ):
            ours = results.value("idle", "schedctl", store, metric)
            theirs = results.value("idle", "apscheduler", store, metric)
            row = Row(TITLE, f"{label}, {store_label(store)}", unit, ours, theirs)
            if goal is not None:
                row.goal = f"≈ 0 (≤ {goal:g}{'/min' if unit == '/min' else ' s/min'})"
                row.met = at_most(ours, goal)
            rows.append(row)
    return rows
