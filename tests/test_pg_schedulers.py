"""The Python API over a shared store: two BackgroundSchedulers in one process, one
PostgreSQL store, each run of an interval job done by exactly one of them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

from schedctl.events import EVENT_JOB_EXECUTED
from schedctl.executors.base import current_run
from schedctl.schedulers.background import BackgroundScheduler

RUNS: list[tuple[str, datetime]] = []
_LOCK = threading.Lock()


def note_run() -> None:
    """The job: remember which slot ran (module-level, so the store can keep it by name)."""
    run = current_run()
    assert run is not None
    with _LOCK:
        RUNS.append((threading.current_thread().name, run.scheduled_run_time))


def test_two_schedulers_on_one_store_run_each_slot_once(pg_url: str) -> None:
    RUNS.clear()
    schedulers = [BackgroundScheduler(timezone="UTC") for _ in range(2)]
    executed: Counter[int] = Counter()
    for index, scheduler in enumerate(schedulers):
        scheduler.add_jobstore("postgresql", url=pg_url)
        scheduler.add_listener(lambda event, i=index: executed.update([i]), EVENT_JOB_EXECUTED)
    start = datetime.now().astimezone() + timedelta(seconds=0.5)
    schedulers[0].add_job(note_run, "interval", seconds=0.25, id="tick", start_date=start)
    for scheduler in schedulers:
        scheduler.start()
    try:
        # Wait for real runs: ten slots of 0.25 s.
        deadline = time.monotonic() + 10
        while len(RUNS) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(RUNS) >= 10, RUNS
    finally:
        for scheduler in schedulers:
            scheduler.shutdown()
    slots = Counter(slot for _, slot in RUNS)
    assert max(slots.values()) == 1, f"a slot ran twice: {slots}"
    ordered = sorted(slots)
    assert all(b - a == timedelta(seconds=0.25) for a, b in pairwise(ordered)), ordered
    assert sum(executed.values()) == len(RUNS)  # every run was one scheduler's
