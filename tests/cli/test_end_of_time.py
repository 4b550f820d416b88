"""`validate -n` and `next -n` of schedules that reach year 9999, with the real executable:
the list ends where time ends, with no traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs

JOBS = """\
state: state.db
timezone: UTC
jobs:
  daily:
    command: 'true'
    interval: 1d
    start_date: 9999-12-30
  spread:
    command: 'true'
    interval: 12h
    jitter: 10m
    start_date: 9999-12-30
  last:
    command: 'true'
    date: 9999-12-31 23:59:00
"""
EXPECTED = {
    "daily": ["9999-12-30T00:00:00+00:00", "9999-12-31T00:00:00+00:00"],
    "spread": ["9999-12-30T00", "9999-12-30T12", "9999-12-31T00", "9999-12-31T12"],
    "last": ["9999-12-31T23:59:00+00:00"],
}


def starts(times: list[str], expected: list[str]) -> bool:
    return len(times) == len(expected) and all(t.startswith(e) for t, e in zip(times, expected))


def test_validate_lists_runs_up_to_the_end_of_time(schedctl, jobfile):
    path = jobfile(JOBS)
    text = schedctl("validate", "-n", 5, path)
    assert text.returncode == 0, text.stderr
    assert "Traceback" not in text.stderr and "9999-12-31 00:00:00 UTC" in text.stdout

    result = schedctl("validate", "-n", 5, "--json", path)
    assert result.returncode == 0, result.stderr
    plan = {job["id"]: job["next_runs"] for job in json.loads(result.stdout)["jobs"]}
    assert all(starts(plan[job_id], expected) for job_id, expected in EXPECTED.items()), plan


@pytest.mark.parametrize("job_id", sorted(EXPECTED))
def test_next_lists_runs_up_to_the_end_of_time(schedctl, jobfile, tmp_path, job_id):
    path = jobfile(JOBS)
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(load_jobfile(path), store, datetime(2026, 3, 2, tzinfo=UTC))
    store.shutdown()

    result = schedctl("next", "-f", path, job_id, "-n", 5, "--json")
    assert result.returncode == 0, result.stderr
    assert starts(json.loads(result.stdout), EXPECTED[job_id]), result.stdout
    text = schedctl("next", "-f", path, job_id, "-n", 5)
    assert text.returncode == 0 and "Traceback" not in text.stderr, text.stderr
    times = [line for line in text.stdout.splitlines() if not line.startswith("jitter: ")]
    assert len(times) == len(EXPECTED[job_id])
    # A jittered schedule's slots are followed by one line saying how far a run may move.
    assert ("jitter: " in text.stdout) == (job_id == "spread")
