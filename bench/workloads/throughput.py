"""Dispatch throughput: how many runs of a trivial job per second can the loop start?

Two shapes, the same on both engines (20 worker threads, coalescing, one instance
per job):

- burst: a backlog of one-shot jobs, all due, released at once by ``resume()``;
  runs completed per second until the backlog is gone (or a time cap).
- due at once: 5,000 one-shot jobs due at the same instant, in a scheduler running
  since before it; runs completed per second from that instant to the last.
- sustained: 100 jobs every millisecond (a demand of 100,000 runs/s, more than
  either engine can start); runs completed per second over a window, after a warm-up.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import probes
from bench.harness import Case, Results, Row, Size, compare
from bench.sides import STORES, JobSpec, populated_scheduler, store_label

TITLE = "Throughput"
#: (backlog size, cap in s) and (jobs, interval in s, warm-up s, window s)
_BURST = {"full": (50_000, 10.0), "quick": (10_000, 3.0), "smoke": (300, 2.0)}
_DUE = {"full": (5_000, 10.0), "quick": (5_000, 5.0), "smoke": (200, 2.0)}  # jobs, cap in s
#: Seconds from start to the due instant, beyond 0.1 ms a job: filling and starting are over
#: by then (a smoke run's 200 jobs take a few milliseconds).
_DUE_LEAD = {"full": 2.0, "quick": 2.0, "smoke": 0.5}
#: The memory store, burst and sustained: at least this many times APScheduler's rate.
GOAL_MEMORY_FACTOR = 1.2
_SHAPES = ("burst", "due", "sustained")
_SUSTAINED = {
    "full": (100, 0.001, 0.5, 3.0),
    "quick": (100, 0.001, 0.3, 1.0),
    "smoke": (20, 0.001, 0.1, 0.3),
}


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    count, cap = _BURST[size.name]
    jobs, interval, warmup, window = _SUSTAINED[size.name]
    burst = {"count": count, "cap": cap}
    due_count, due_cap = _DUE[size.name]
    due = {"count": due_count, "cap": due_cap, "lead": _DUE_LEAD[size.name]}
    sustained = {"jobs": jobs, "interval": interval, "warmup": warmup, "window": window}
    return [
        Case("throughput", lib, store, name, params, timeout=120)
        for name, params in (("burst", burst), ("due", due), ("sustained", sustained))
        for lib in libs
        for store in STORES
    ]


def run(case: Case, workdir: str) -> dict[str, Any]:
    path = os.path.join(workdir, f"{case.name}-{case.lib}-{os.getpid()}.db")
    if case.name == "due":
        return _due(case, path)
    return _burst(case, path) if case.name == "burst" else _sustained(case, path)


def _burst(case: Case, path: str) -> dict[str, Any]:
    count, cap = case.params["count"], case.params["cap"]
    due = datetime.now(UTC) - timedelta(seconds=1)
    specs = [JobSpec(f"b{i}", "date", {"run_date": due}, next_run_time=due) for i in range(count)]
    scheduler = populated_scheduler(case.lib, case.store, specs, path)
    scheduler.start(paused=True)
    probes.expect(count)
    started = time.perf_counter()
    scheduler.resume()
    finished = probes.done.wait(cap)
    elapsed = time.perf_counter() - started
    runs = probes.runs
    scheduler.shutdown(wait=False)
    return {"runs": runs, "elapsed_s": elapsed, "finished": finished, "runs_per_s": runs / elapsed}


def _due(case: Case, path: str) -> dict[str, Any]:
    count, cap, lead = case.params["count"], case.params["cap"], case.params["lead"]
    # Far enough ahead that filling and starting are over; the jobs wait in the store.
    at = datetime.now(UTC) + timedelta(seconds=lead + count * 1e-4)
    specs = [JobSpec(f"d{i}", "date", {"run_date": at}, next_run_time=at) for i in range(count)]
    scheduler = populated_scheduler(case.lib, case.store, specs, path)
    probes.expect(count)
    scheduler.start()
    time.sleep(max(0.0, at.timestamp() - time.time()))
    started = time.perf_counter()
    finished = probes.done.wait(cap)
    elapsed = time.perf_counter() - started
    runs = probes.runs
    scheduler.shutdown(wait=False)
    return {"runs": runs, "elapsed_s": elapsed, "finished": finished, "runs_per_s": runs / elapsed}


def _sustained(case: Case, path: str) -> dict[str, Any]:
    p = case.params
    start = datetime.now(UTC) + timedelta(seconds=0.2)
    trigger_args = {"seconds": p["interval"], "start_date": start}
    specs = [
        JobSpec(f"s{i}", "interval", trigger_args, next_run_time=start) for i in range(p["jobs"])
    ]
    scheduler = populated_scheduler(case.lib, case.store, specs, path)
    probes.expect(0)
    scheduler.start()
    time.sleep(0.2 + p["warmup"])
    runs0, passes0, started = probes.runs, scheduler.probe.passes, time.perf_counter()
    time.sleep(p["window"])
    runs1, passes1, elapsed = probes.runs, scheduler.probe.passes, time.perf_counter() - started
    scheduler.shutdown(wait=False)
    return {
        "runs": runs1 - runs0,
        "elapsed_s": elapsed,
        "runs_per_s": (runs1 - runs0) / elapsed,
        "passes_per_s": (passes1 - passes0) / elapsed,
    }


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    rows = []
    for name in _SHAPES:
        aps_memory = results.value(name, "apscheduler", "memory", "runs_per_s")
        for store in STORES:
            ours = results.value(name, "schedctl", store, "runs_per_s")
            theirs = results.value(name, "apscheduler", store, "runs_per_s")
            label = "due at one instant" if name == "due" else name
            row = Row(TITLE, f"{label}, {store_label(store)}", "runs/s", ours, theirs)
            if store == "memory" and "apscheduler" in libs:
                row.goal = f"≥ {GOAL_MEMORY_FACTOR:g}× APScheduler"
                row.met = compare(ours, theirs, better="higher", factor=GOAL_MEMORY_FACTOR)
            elif store == "sqlite" and "apscheduler" in libs:
                shown = "?" if aps_memory.number is None else f"{aps_memory.number:,.0f}/s"
                row.goal = f"≥ APScheduler memory ({shown})"
                row.met = compare(ours, aps_memory, better="higher")
            rows.append(row)
    return rows
