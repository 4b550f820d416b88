"""`schedctl status` puts every job in one bucket, so the counts add up, in text and JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.helpers import as_json, wait_until

JOBS = """\
state: state.db
jobs:
  sleeper:
    command: sleep 30
    interval: 1s
  hourly:
    command: 'true'
    interval: 1h
  held:
    command: 'true'
    interval: 1h
    paused: true
  at-start:
    command: 'true'
    cron: '@reboot'
"""


def test_every_job_is_in_one_bucket_of_status(schedctl, jobfile, scheduler, state):
    path = jobfile(JOBS)
    daemon = scheduler(path)

    def states() -> dict[str, str]:
        return {job["id"]: job["state"] for job in as_json(schedctl("list", "-f", path, "--json"))}

    wait_until(lambda: states()["sleeper"] == "running", 10, what="sleeper running",
               context=daemon.log)

    counts = as_json(schedctl("status", "-f", path, "--json"))["jobs"]
    assert counts == {"total": 4, "scheduled": 1, "paused": 1, "running": 1, "at_boot": 1}
    assert sum(value for key, value in counts.items() if key != "total") == counts["total"]

    text = schedctl("status", "-f", path).stdout
    line = next(line for line in text.splitlines() if line.startswith("jobs:"))
    total, buckets = re.match(r"jobs:\s+(\d+) \((.*)\)$", line).groups()
    numbers = [int(part.split()[0]) for part in buckets.split(", ")]
    assert sum(numbers) == int(total) == 4, line
    assert "1 at boot" in buckets, line


def test_status_json_of_a_state_file_without_a_scheduler_adds_up(schedctl, jobfile, tmp_path):
    path = jobfile(JOBS)
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(load_jobfile(path), store, datetime.now(UTC))
    store.shutdown()
    result = schedctl("status", "-f", path, "--json")
    assert result.returncode == 3
    counts = json.loads(result.stdout)["jobs"]
    assert counts == {"total": 4, "scheduled": 2, "paused": 1, "running": 0, "at_boot": 1}
