"""Job functions the benchmarks schedule, and the counters they feed.

They live in an importable module because the SQLite stores keep jobs by their
``module:qualname`` reference; each benchmark runs in a child process of its own,
so module globals are private to one measurement.
"""

from __future__ import annotations

import subprocess
import threading
import time

NOOP = "bench.probes:noop"
RECORD_LATENESS = "bench.probes:record_lateness"
MARK = "bench.probes:mark"
RUN_TRUE = "bench.probes:run_true"

_lock = threading.Lock()
runs = 0
lateness: list[float] = []
marked: set[str] = set()
target = 0
done = threading.Event()


def record_lateness(scheduled: float) -> None:
    """Record how late this run started against the epoch time it was scheduled for."""
    late = time.time() - scheduled  # first, before anything else can add to it
    lateness.append(late)
    _count()


def run_true(scheduled: float) -> None:
    """Record the lateness, then run ``true`` through the shell as a command job does."""
    late = time.time() - scheduled
    subprocess.run(["/bin/sh", "-c", "true"], check=True)
    lateness.append(late)
    _count()


def noop() -> None:
    """The trivial job: only counts that it ran."""
    _count()


def mark(key: str) -> None:
    """Count distinct keys, not runs: "every job has run at least once"."""
    global runs
    with _lock:
        marked.add(key)
        runs += 1
        if target and len(marked) >= target:
            done.set()


def expect(count: int) -> None:
    """Reset the counters; ``done`` is set once ``count`` runs (or marks) have happened."""
    global runs, target
    with _lock:
        runs, target = 0, count
        lateness.clear()
        marked.clear()
        done.clear()


def _count() -> None:
    global runs
    with _lock:
        runs += 1
        if target and runs >= target:
            done.set()
