"""Previews of a jittered schedule (``validate``, ``next``) show its nominal slots.

Jitter delays each run at random; a preview that included it would differ on every call
and make an interval look uneven. The slots are shown, and the jitter is said apart.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from click.testing import CliRunner, Result

from schedctl.cli import main
from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs

JOBS = """\
    state: state.db
    timezone: UTC
    jobs:
      quarter: {command: echo, cron: "*/15 * * * *", jitter: 10m}
      spaced: {command: echo, interval: 7m, start_date: "2026-01-01 00:00:00", jitter: 5m}
      plain: {command: echo, interval: 1h}
"""


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def jobfile(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(textwrap.dedent(JOBS))
    return path


def on_grid(times: list[datetime], step: timedelta) -> bool:
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    return all((t - origin) % step == timedelta(0) for t in times)


def test_validate_shows_the_slots_and_the_jitter_apart(tmp_path):
    path = jobfile(tmp_path)

    first, second = (json.loads(cli("validate", path, "--json", "-n", "6").stdout) for _ in range(2))
    text = cli("validate", path, "-n", "2").stdout

    jobs = {job["id"]: job for job in first["jobs"]}
    again = {job["id"]: job for job in second["jobs"]}
    assert [jobs[i] for i in ("quarter", "spaced")] == [again[i] for i in ("quarter", "spaced")]
    assert (jobs["quarter"]["jitter"], jobs["spaced"]["jitter"], jobs["plain"]["jitter"]) == (
        600.0, 300.0, None)
    quarter = [datetime.fromisoformat(t) for t in jobs["quarter"]["next_runs"]]
    spaced = [datetime.fromisoformat(t) for t in jobs["spaced"]["next_runs"]]
    assert on_grid(quarter, timedelta(minutes=15)) and on_grid(spaced, timedelta(minutes=7))
    assert {b - a for a, b in pairwise(spaced)} == {timedelta(minutes=7)}
    notes = [line.strip() for line in text.splitlines() if "jitter" in line]
    assert notes == ["jitter: each run starts up to 10m after its time, at random",
                     "jitter: each run starts up to 5m after its time, at random"]


def test_next_of_a_jittered_job_starts_at_the_slot_of_its_next_run(tmp_path):
    path = jobfile(tmp_path)
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(load_jobfile(path), store, datetime.now(UTC))
    stored = {job.id: job.next_run_time for job in store.get_all_jobs()}
    store.shutdown()

    runs = [json.loads(cli("next", "--state", tmp_path / "state.db", "quarter", "-n", "4", "--json").stdout)
            for _ in range(2)]
    text = cli("next", "--state", tmp_path / "state.db", "spaced", "-n", "2").stdout

    assert runs[0] == runs[1]
    times = [datetime.fromisoformat(t) for t in runs[0]]
    assert on_grid(times, timedelta(minutes=15))
    assert {b - a for a, b in pairwise(times)} == {timedelta(minutes=15)}
    assert timedelta(0) <= stored["quarter"] - times[0] <= timedelta(minutes=10)
    assert text.splitlines()[-1] == "jitter: each run starts up to 5m after its time, at random"
    assert "jitter" not in cli("next", "--state", tmp_path / "state.db", "plain").stdout
