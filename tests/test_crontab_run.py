"""A crontab run as it is, on the fake clock: converted in memory, synced into a real state
file, and driven through a DST night; each line runs at cron's times, with its stdin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from schedctl.clock import FakeClock
from schedctl.crontab.build import crontab_jobfile
from schedctl.crontab.files import Source
from schedctl.events import EVENT_JOB_EXECUTED
from schedctl.executors.debug import DebugExecutor
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.conftest import EventLog, TickOnlyScheduler
from tests.cronref import fire_times

NEW_YORK = ZoneInfo("America/New_York")
#: From 23:00 EST before the spring-forward night of 2026-03-08 to 05:00 EDT after it.
START = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)
END = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


def test_a_crontab_runs_at_crons_times_through_a_dst_night(tmp_path: Path) -> None:
    out = tmp_path / "nightly.out"
    text = (f"CRON_TZ=America/New_York\n"
            f"*/20 * * * *  true\n"
            f"30 2 * * *    cat >> {out}%night run%\n")
    jobfile = crontab_jobfile(Source(str(tmp_path / "my.crontab"), text))
    store = SQLiteJobStore(path=tmp_path / "state.db")
    clock = FakeClock(START)
    sync_jobs(jobfile, store, START)
    scheduler = TickOnlyScheduler(clock=clock, timezone="UTC", jobstores={"default": store},
                                  executors={"default": DebugExecutor()})
    log = EventLog()
    scheduler.add_listener(log, EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        while (deadline := scheduler.tick(clock.now())) is not None and deadline <= END:
            clock.set(deadline)
    finally:
        scheduler.shutdown()
    ran: dict[str, list[datetime]] = {}
    for event in log.events:
        ran.setdefault(event.job_id, []).append(event.scheduled_run_time.astimezone(UTC))
    for job_id, spec in (("true", "*/20 * * * *"), ("cat", "30 2 * * *")):
        expected = [t for t in fire_times(spec, NEW_YORK, START, 100) if t <= END]
        assert ran[job_id] == expected
    assert ran["cat"] == [datetime(2026, 3, 8, 7, 0, tzinfo=UTC)]  # 03:00 EDT: once, at the jump
    assert out.read_text() == "night run\n"
