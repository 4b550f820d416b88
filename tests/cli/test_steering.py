"""pause, resume and run-now from a script: their --json answers, with and without a
running scheduler, through the real executable."""

from __future__ import annotations

import json
import os
import pwd
from datetime import UTC, datetime

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.helpers import as_json, read_runs, wait_until

JOBS = """
    state: state.db
    jobs:
      backup: {command: echo backup, interval: 1h}
      report: {command: exit 4, interval: 1h}
"""


def synced(jobfile, state) -> None:
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(jobfile(JOBS)), store, datetime.now(UTC))
    store.shutdown()


def test_pause_and_resume_answer_in_json(schedctl, jobfile, state):
    synced(jobfile, state)

    paused = as_json(schedctl("pause", "--state", state, "backup", "report", "--json"))
    again = as_json(schedctl("pause", "--state", state, "backup", "--json"))
    resumed = as_json(schedctl("resume", "--state", state, "backup", "--json"))

    assert paused == [{"id": "backup", "paused": True, "changed": True},
                      {"id": "report", "paused": True, "changed": True}]
    assert again == [{"id": "backup", "paused": True, "changed": False}]
    [entry] = resumed
    assert (entry["id"], entry["paused"], entry["changed"]) == ("backup", False, True)
    assert datetime.fromisoformat(entry["next_run_time"]) > datetime.now(UTC)
    listed = {job["id"]: job["state"] for job in as_json(schedctl("list", "--state", state,
                                                                  "--json"))}
    assert listed == {"backup": "scheduled", "report": "paused"}


def test_run_now_in_the_foreground_answers_with_its_outcome_in_json(schedctl, jobfile, state):
    synced(jobfile, state)

    result = schedctl("run-now", "--state", state, "report", "--json")

    assert result.returncode == 1  # as without --json: the run failed
    answer = json.loads(result.stdout)
    assert (answer["id"], answer["requested"]) == ("report", False)
    outcome = answer["outcome"]
    assert (outcome["state"], outcome["exit_code"], outcome["attempt"]) == ("failed", 4, 1)
    datetime.fromisoformat(outcome["finished_at"])
    [row] = read_runs(state, "report")
    assert (row.state, row.exit_code) == ("failed", 4)


def test_run_now_with_a_scheduler_answers_that_it_asked_in_json(schedctl, jobfile, scheduler,
                                                                 state):
    daemon = scheduler(jobfile(JOBS))

    answer = as_json(schedctl("run-now", "--state", state, "backup", "--json"))

    assert answer == {"id": "backup", "requested": True, "outcome": None}
    wait_until(lambda: [r for r in read_runs(state, "backup") if r.state == "success"],
               what="the requested run", context=daemon.log)


def test_the_running_scheduler_logs_who_paused_resumed_or_ran_a_job(schedctl, jobfile,
                                                                     scheduler, state, cli_env):
    daemon = scheduler(jobfile(JOBS), "--log-format", "json")

    assert schedctl("pause", "--state", state, "backup").returncode == 0
    assert schedctl("pause", "--state", state, "backup").returncode == 0
    cli_env["SUDO_USER"] = "alice"  # what sudo tells the command it runs
    assert schedctl("resume", "--state", state, "backup").returncode == 0
    del cli_env["SUDO_USER"]
    assert schedctl("run-now", "--state", state, "report").returncode == 0
    daemon.wait_for_log('"event": "run-now"')

    audit = [record for record in map(json.loads, daemon.log().splitlines())
             if record["logger"] == "schedctl.audit"]
    me = f"uid {os.getuid()} ({pwd.getpwuid(os.getuid()).pw_name}"
    assert [(r["job_id"], r["event"], r["message"]) for r in audit] == [
        ("backup", "pause", f"backup: paused by {me})"),
        ("backup", "pause", f"backup: pause asked by {me}); it was paused already"),
        ("backup", "resume", f"backup: resumed by {me}, via sudo from alice)"),
        ("report", "run-now", f"report: run requested by {me})"),
    ]
    assert {r["uid"] for r in audit} == {os.getuid()}


def test_a_pause_made_while_no_scheduler_ran_is_logged_when_one_starts(schedctl, jobfile,
                                                                        scheduler, state):
    synced(jobfile, state)
    assert schedctl("pause", "--state", state, "report").returncode == 0

    daemon = scheduler(jobfile(JOBS))

    daemon.wait_for_log(f"report: paused by uid {os.getuid()}")
