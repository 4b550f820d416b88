"""Run outcomes reached while the state store fails are written when it works again.

A run that started before a disk filled up and ended during the outage used to stay
``running`` in the history for good: ``status`` counted it as running, and the next
start called it ``interrupted`` although the log said ``success exit 0``. Now every
history write the store refuses is held, in order, and made once the store takes
writes again (at the next run's write, the next heartbeat, or the stop).
"""

from __future__ import annotations

import json
import signal
import textwrap
from datetime import UTC, datetime, timedelta

from schedctl.clock import FakeClock
from schedctl.commands.spec import CommandResult
from schedctl.errors import StoreError
from schedctl.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.service.runlog import RunLog
from schedctl.state.history import RunHistory
from tests.cli.helpers import wait_until
from tests.faults.test_broken_state import PipedDaemon, fill, started, tmpfs

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class FullDiskStore(SQLiteJobStore):
    """Refuses every write while ``full`` is set, as a full disk does: transactions, and
    the statements that commit by themselves."""

    full = False

    def _writing(self, *, notify: bool = True):
        if self.full:
            raise StoreError(f"{self.path} cannot be written: the disk is full (test)")
        return super()._writing(notify=notify)

    def _writing_one(self):
        if self.full:
            raise StoreError(f"{self.path} cannot be written: the disk is full (test)")
        return super()._writing_one()


def submitted(job_id: str, when: datetime) -> JobSubmissionEvent:
    return JobSubmissionEvent(code=EVENT_JOB_SUBMITTED, job_id=job_id, scheduled_run_times=(when,))


def succeeded(job_id: str, when: datetime, at: datetime) -> JobExecutionEvent:
    result = CommandResult(outcome="success", exit_code=0, signal=None,
                           started_at=when, finished_at=at, duration=(at - when).total_seconds())
    return JobExecutionEvent(code=EVENT_JOB_EXECUTED, job_id=job_id, scheduled_run_time=when,
                             retval=result)


def states(history: RunHistory) -> list[tuple[str, datetime, str, int | None]]:
    return sorted((r.job_id, r.scheduled_for, r.state, r.exit_code)
                  for r in history.runs(limit=1000))


def test_outcomes_of_an_outage_are_written_when_the_store_works_again(tmp_path, caplog):
    store = FullDiskStore(path=tmp_path / "state.db")
    history = RunHistory(store)
    clock = FakeClock(T0)
    runlog = RunLog(history, clock, owner="host/1")
    before, during, after = T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)

    runlog(submitted("long", before))  # started while the store worked
    store.full = True
    clock.advance(30)
    runlog(succeeded("long", before, clock.now()))  # ended during the outage
    runlog(submitted("short", during))  # began and ended during it
    runlog(succeeded("short", during, during + timedelta(seconds=1)))
    store.full = False
    assert states(history) == [("long", before, "running", None)]
    assert runlog.held == 3

    assert runlog.flush()  # what the heartbeat does
    assert states(history) == [("long", before, "success", 0), ("short", during, "success", 0)]
    assert runlog.held == 0
    [short] = history.runs("short")
    assert short.started_at is not None and short.duration == 1.0

    store.full = True
    runlog(submitted("third", after))
    store.full = False
    runlog(succeeded("third", after, after + timedelta(seconds=2)))  # the next write flushes
    assert ("third", after, "success", 0) in states(history)
    written = [r.getMessage() for r in caplog.records
               if r.getMessage().startswith("The state file works again")]
    assert written == ["The state file works again: wrote 3 run record(s) held since it failed",
                       "The state file works again: wrote 1 run record(s) held since it failed"]
    store.shutdown()


def test_a_run_that_ended_during_an_outage_is_not_left_running(tmp_path, cli_env):
    """The real executable: a run in flight when the disk fills up, which ends during the
    outage, is recorded with its outcome once the disk has room again and schedctl stops."""
    with tmpfs(tmp_path / "disk", "2m") as place:
        jobfile = place / "jobs.yaml"
        jobfile.write_text(textwrap.dedent("""
            state: state.db
            jobs:
              tick: {command: 'true', interval: 0.2s}
              slow: {command: 'sleep 1.5', interval: 1h}
        """))
        daemon = PipedDaemon.start(jobfile, tmp_path / "run.log", cli_env)
        try:
            wait_until(lambda: started(daemon.events(), "tick"), what="tick to run")
            # slow starts at once only by a run-now; ask for it and wait for it to begin.
            request = SQLiteJobStore(path=place / "state.db")
            request.request_run("slow", datetime.now(UTC))
            request.shutdown()
            wait_until(lambda: started(daemon.events(), "slow"), what="slow to start",
                       context=daemon.log)
            filler = fill(place)
            wait_until(lambda: any(e["level"] == "error" for e in daemon.events()), timeout=10,
                       what="the store error", context=daemon.log)
            wait_until(lambda: any(e.get("job_id") == "slow" and e.get("event") == "success"
                                   for e in daemon.events()), timeout=10,
                       what="slow to end during the outage", context=daemon.log)
            filler.unlink()
            daemon.signal(signal.SIGTERM)
            assert daemon.wait_exit() == 0
        finally:
            daemon.kill()
            daemon.cat.wait(5)
        events = daemon.events()
        assert not [e for e in events if "traceback" in e], events
        store = SQLiteJobStore(path=place / "state.db")
        runs = RunHistory(store).runs(limit=10_000)
        store.shutdown()
    assert [r.state for r in runs if r.job_id == "slow"] == ["success"]
    assert [r for r in runs if r.state == "running"] == []
    logged = {(e["job_id"], e["scheduled_for"]): e["event"] for e in events
              if e.get("event") in ("success", "failed")}
    recorded = {(r.job_id, r.scheduled_for.isoformat()): r.state for r in runs}
    assert {key: recorded.get(key) for key in logged} == logged, json.dumps(events[-20:])
