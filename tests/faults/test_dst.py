"""End to end across the 2024 DST transitions of America/New_York, on an injected clock.

A real Service (jobfile, sync, SQLite store, thread pool, real commands, run history)
runs two days around each transition; the history must follow rule C of
shared/conformance/README.md:

* spring forward (2024-03-10, 02:00 EST -> 03:00 EDT): a fixed-time job due in the gap
  runs once, at 03:00 EDT; several matches in the gap (and one at 03:00) collapse into
  that run; a wildcard job skips the wall times that do not exist.
* fall back (2024-11-03, 02:00 EDT -> 01:00 EST): a fixed-time job runs once, on the
  first pass; a wildcard job runs on both passes.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.cli.helpers import read_runs
from tests.faults.harness import SteppingClock, duplicates, read_ledger, run_service

NEW_YORK = ZoneInfo("America/New_York")

JOBS = """
    state: state.db
    timezone: America/New_York
    defaults:
      command: '{cmd}'
    jobs:
      fixed-0230: {{cron: "30 2 * * *"}}
      fixed-0130: {{cron: "30 1 * * *"}}
      fixed-2-and-3: {{cron: "0 2,3 * * *"}}
      fixed-seconds: {{cron: "15 30 2 * * *"}}
      hourly: {{cron: "0 * * * *"}}
      every-2h: {{cron: "0 */2 * * *"}}
      half-hourly: {{cron: "*/30 * * * *"}}
"""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def local_day_counts(runs: dict[str, list[datetime]], job_id: str) -> Counter[date]:
    return Counter(when.astimezone(NEW_YORK).date() for when in runs.get(job_id, []))


def history_runs(state) -> dict[str, list[datetime]]:
    """Successful runs by job, from the history, oldest first."""
    runs: dict[str, list[datetime]] = {}
    for record in reversed(read_runs(state)):
        assert record.state == "success", record
        runs.setdefault(record.job_id, []).append(record.scheduled_for)
    return runs


@pytest.mark.parametrize(("start", "until", "day"), [
    ("2024-03-09T12:00:00+00:00", "2024-03-11T12:00:00+00:00", date(2024, 3, 10)),
    ("2024-11-02T12:00:00+00:00", "2024-11-04T12:00:00+00:00", date(2024, 11, 3)),
], ids=["spring-forward", "fall-back"])
def test_dst_transition_end_to_end(
    jobfile, state, ledger, ledger_command, restore_signals, start, until, day
):
    clock = SteppingClock(utc(start), until=utc(until))
    record = run_service(jobfile(JOBS.format(cmd=ledger_command)), state, clock)
    assert not record.problems
    assert not duplicates(read_ledger(ledger))
    runs = history_runs(state)
    assert sum(map(len, runs.values())) == len(read_ledger(ledger))

    def on(job_id: str) -> list[datetime]:
        return [t for t in runs[job_id] if t.astimezone(NEW_YORK).date() == day]

    if day.month == 3:
        transition = utc("2024-03-10T03:00:00-04:00")  # the first instant after the gap
        assert on("fixed-0230") == [transition]
        assert on("fixed-2-and-3") == [transition]
        assert on("fixed-seconds") == [transition]
        assert on("fixed-0130") == [utc("2024-03-10T01:30:00-05:00")]
        assert local_day_counts(runs, "hourly")[day] == 23
        assert [t.astimezone(NEW_YORK).hour for t in on("every-2h")] == [0, 4, 6, 8, 10, 12, 14,
                                                                          16, 18, 20, 22]
        assert local_day_counts(runs, "half-hourly")[day] == 46
        assert not [t for t in on("hourly") if t.astimezone(NEW_YORK).hour == 2]
    else:
        assert on("fixed-0130") == [utc("2024-11-03T01:30:00-04:00")]  # the first pass only
        assert on("fixed-0230") == [utc("2024-11-03T02:30:00-05:00")]
        assert on("fixed-2-and-3") == [utc("2024-11-03T02:00:00-05:00"),
                                       utc("2024-11-03T03:00:00-05:00")]
        assert local_day_counts(runs, "hourly")[day] == 25
        one_am = [t for t in on("hourly") if t.astimezone(NEW_YORK).hour == 1]
        assert one_am == [utc("2024-11-03T01:00:00-04:00"), utc("2024-11-03T01:00:00-05:00")]
        assert local_day_counts(runs, "half-hourly")[day] == 50
        assert len(on("every-2h")) == 12  # even wall hours: none of them is repeated
    # The days around the transition are ordinary ones.
    for other in (day.replace(day=day.day - 1), day.replace(day=day.day + 1)):
        for job_id in ("fixed-0230", "fixed-0130"):
            assert local_day_counts(runs, job_id)[other] <= 1
