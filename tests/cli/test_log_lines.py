"""The log of the real ``schedctl run``: every record through schedctl's formatter, a
``call:`` job's own ``logging`` included, and every time with its zone."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from tests.cli.helpers import read_runs, wait_until

MODULE = '''
import logging

def hello(name):
    logging.warning("hello from %s", name)
    logging.getLogger("reports.db").error("a named logger in %s", name)
'''

JOBS = """
    state: state.db
    executors:
      cpu: {type: processpool, max_workers: 1}
    jobs:
      threaded: {call: "loggingjob:hello", args: [thread], interval: 1h}
      pooled: {call: "loggingjob:hello", args: [process], interval: 1h, executor: cpu}
"""


@pytest.fixture
def logging_jobs(tmp_path, jobfile):
    (tmp_path / "loggingjob.py").write_text(MODULE)
    return jobfile(JOBS)


def run_both(schedctl, daemon, state) -> None:
    for job_id in ("threaded", "pooled"):
        assert schedctl("run-now", "--state", state, job_id).returncode == 0
    wait_until(lambda: len([r for r in read_runs(state) if r.state == "success"]) == 2,
               what="both jobs to run", context=daemon.log)


def test_json_log_is_pure_json_with_the_jobs_own_records(schedctl, logging_jobs, scheduler,
                                                         state):
    daemon = scheduler(logging_jobs, "--log-format", "json")
    run_both(schedctl, daemon, state)
    daemon.wait_for_log("a named logger in process")

    lines = daemon.log().splitlines()
    not_json = []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            not_json.append(line)
    assert not_json == [], not_json
    own = {(r["logger"], r["message"], r.get("job_id")) for r in records
           if not r["logger"].startswith("schedctl")}
    assert own == {
        ("root", "hello from thread", "threaded"), ("reports.db", "a named logger in thread", "threaded"),
        ("root", "hello from process", "pooled"), ("reports.db", "a named logger in process", "pooled"),
    }
    # The engine's own per-run lines stay out in the worker processes too.
    assert not [r for r in records if r["logger"].startswith("schedctl.executors")]


def test_text_log_lines_carry_an_iso_offset_and_the_jobs_records_their_job(
        schedctl, logging_jobs, scheduler, state, cli_env):
    cli_env["TZ"] = "America/New_York"
    daemon = scheduler(logging_jobs)
    run_both(schedctl, daemon, state)
    daemon.wait_for_log("a named logger in process")

    stamp = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d) (INFO|WARNING|ERROR) ")
    lines = [line for line in daemon.log().splitlines() if line.strip()]
    assert [line for line in lines if not stamp.match(line)] == []
    first = datetime.fromisoformat(stamp.match(lines[0]).group(1))
    assert first.utcoffset() == first.astimezone(_zone("America/New_York")).utcoffset()
    assert any(line.endswith("WARNING threaded: hello from thread") for line in lines), lines
    assert any(line.endswith("ERROR   pooled: a named logger in process") for line in lines)
    started = [line for line in lines if "threaded: started (scheduled " in line]
    assert re.search(r"\(scheduled \d{4}-\d\d-\d\d \d\d:\d\d:\d\d-0[45]:00\)", started[0])


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_history_and_resume_show_a_jobs_times_in_its_zone_with_the_zone_name(
        schedctl, jobfile, state, cli_env):
    """One documented zone per view: a job's times in the job's zone wherever a job is shown
    (its own, else the jobfile's), never the machine's, each time with its zone's name."""
    from datetime import UTC

    from schedctl.jobfile.loader import load_jobfile
    from schedctl.jobstores.sqlite import SQLiteJobStore
    from schedctl.state.sync import sync_jobs

    cli_env["TZ"] = "America/New_York"
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(jobfile("""
        state: state.db
        timezone: Europe/Berlin
        jobs:
          tokyo: {command: "true", cron: "0 9 * * *", timezone: Asia/Tokyo}
          here: {command: "true", interval: 1h}
    """)), store, datetime.now(UTC))
    store.shutdown()
    for job_id in ("tokyo", "here"):
        assert schedctl("run-now", "--state", state, job_id).returncode == 0
    assert schedctl("pause", "--state", state, "tokyo").returncode == 0

    history = schedctl("history", "--state", state).stdout
    resumed = schedctl("resume", "--state", state, "tokyo").stdout
    listing = schedctl("list", "--state", state).stdout

    [tokyo] = [line for line in history.splitlines() if " tokyo " in line]
    [here] = [line for line in history.splitlines() if " here " in line]
    assert tokyo.count(" JST") == 2 and len(re.findall(r" CES?T\b", here)) == 2, history
    assert re.search(r"next run \d{4}-\d\d-\d\d 09:00:00 JST$", resumed.strip()), resumed
    assert "09:00:00 JST" in listing, listing
