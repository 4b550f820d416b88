"""In process, through click's CliRunner: what the read and steer commands print.

The state file is real (SQLite under ``tmp_path``), seeded the way ``schedctl
run`` fills it: ``sync_jobs`` for the jobs and ``RunHistory`` for the runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from schedctl import __version__
from schedctl.cli import main
from schedctl.state.history import RunOutcome
from schedctl.jobstores.sqlite import SQLiteJobStore
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import sample_jobfile, seeding

NOW = datetime.now(UTC)

JOBS = sample_jobfile(description="nightly backup")

#: (job, minutes ago, outcome): the seeded history, oldest first.
RUNS = [
    ("old", 3 * 24 * 60, RunOutcome("failed", NOW, exit_code=1)),  # a job since removed
    ("backup", 180, RunOutcome("success", NOW, duration=12.5, exit_code=0)),
    ("backup", 120, RunOutcome("failed", NOW, duration=2.0, exit_code=3, output="disk full\n")),
    ("report", 90, RunOutcome("success", NOW, duration=0.2, exit_code=0, output="ok\n")),
    ("backup", 60, RunOutcome("timeout", NOW, duration=3600.0, error="timed out after 1h")),
    ("report", 30, RunOutcome("success", NOW, duration=0.3, exit_code=0, output="ok\n")),
]
FAILED_IN_24H = 2  # the failed and the timed-out backup; old's failure is 3 days old


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A state file with the jobs of JOBS and the runs of RUNS; no scheduler holds it."""
    with seeding(tmp_path, JOBS, NOW) as history:
        for job_id, minutes, outcome in RUNS:
            at = NOW - timedelta(minutes=minutes)
            history.started(job_id, at, at=at, owner="test/1")
            history.finished(job_id, at, RunOutcome(**{**outcome.__dict__, "finished_at": at}),
                             owner="test/1")
    return tmp_path / "state.db"


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def ok_json(*args: object) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_clean_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


# -- list --------------------------------------------------------------------------------------

def test_list_json_has_every_job_with_its_state_and_last_run(seeded):
    jobs = {job["id"]: job for job in ok_json("list", "--state", seeded)}

    assert sorted(jobs) == ["backup", "cleanup", "report"]
    assert set(jobs["backup"]) == {
        "id", "description", "trigger", "schedule", "timezone", "next_run_time", "state", "kind",
        "action", "env", "executor", "last_run", "node", "recent",
    }
    assert jobs["backup"]["node"] is None  # a state file has one scheduler: no node column
    backup = jobs["backup"]
    assert (backup["state"], backup["kind"], backup["action"]) == (
        "scheduled", "command", "/usr/local/bin/backup --all")
    assert (backup["schedule"], backup["trigger"]) == ("at 02:30 every day", "cron[30 2 * * *]")
    assert backup["description"] == "nightly backup"
    assert backup["last_run"]["state"] == "timeout"
    assert backup["recent"] == ["success", "failed", "timeout"]  # oldest first
    assert (jobs["cleanup"]["state"], jobs["cleanup"]["next_run_time"]) == ("paused", None)
    assert jobs["cleanup"]["last_run"] is None
    assert datetime.fromisoformat(jobs["report"]["next_run_time"]) > NOW


def test_list_table_shows_one_row_per_job(seeded):
    result = cli("list", "--state", seeded)

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "SCHEDULE", "NEXT", "RUN", "STATE", "LAST", "RUN", "RECENT"]
    firsts = [row.split()[0] for row in rows if row and not row.startswith(" ")]
    assert sorted(firsts[:2]) == ["backup", "report"] and firsts[2] == "cleanup"  # paused last
    assert "timeout" in result.stdout and "paused" in result.stdout


def test_list_finds_the_state_through_the_jobfile(seeded):
    jobs = ok_json("list", "-f", seeded.parent / "jobs.yaml")
    assert len(jobs) == 3


def test_list_of_an_empty_state_says_how_to_load_jobs(tmp_path):
    SQLiteJobStore(path=tmp_path / "empty.db").shutdown()
    result = cli("list", "--state", tmp_path / "empty.db")
    assert result.exit_code == 0
    assert "schedctl run JOBFILE" in result.stdout


# -- history -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "expected"), [
    ((), ["report", "backup", "report", "backup", "backup", "old"]),
    (("-n", "2"), ["report", "backup"]),
    (("backup",), ["backup", "backup", "backup"]),
    (("--failed",), ["backup", "backup", "old"]),
    (("backup", "--failed", "-n", "1"), ["backup"]),
    (("old",), ["old"]),  # a removed job keeps its history
], ids=["all", "count", "job", "failed", "job-failed-count", "removed-job"])
def test_history_filters(seeded, args, expected):
    rows = ok_json("history", "--state", seeded, *args)

    assert [row["job_id"] for row in rows] == expected
    assert [row["run_id"] for row in rows] == sorted((r["run_id"] for r in rows), reverse=True)
    if "--failed" in args:
        assert {row["state"] for row in rows} <= {"failed", "timeout"}


def test_history_json_rows_carry_the_outcome(seeded):
    [row] = ok_json("history", "--state", seeded, "backup", "-n", "1", "--failed")
    assert set(row) == {
        "run_id", "job_id", "scheduled_for", "attempt", "state", "reason", "owner", "started_at",
        "finished_at", "duration", "exit_code", "signal", "error", "output",
    }
    assert (row["state"], row["error"], row["duration"]) == ("timeout", "timed out after 1h", 3600.0)
    datetime.fromisoformat(row["scheduled_for"])


def test_history_table_shows_outcomes_and_output_on_request(seeded):
    plain = cli("history", "--state", seeded, "backup")
    with_output = cli("history", "--state", seeded, "backup", "--output")

    assert plain.exit_code == with_output.exit_code == 0
    assert plain.stdout.split()[:7] == ["RUN", "JOB", "SCHEDULED", "STARTED", "DURATION", "ATTEMPT",
                                        "OUTCOME"]
    assert "failed exit 3" in plain.stdout
    assert "timeout after 1h" in plain.stdout and "timeout timed out" not in plain.stdout
    assert "disk full" not in plain.stdout
    assert "disk full" in with_output.stdout


def test_history_of_a_state_without_runs(tmp_path):
    SQLiteJobStore(path=tmp_path / "empty.db").shutdown()
    result = cli("history", "--state", tmp_path / "empty.db")
    assert (result.exit_code, result.stdout.strip()) == (0, "No runs recorded yet.")


def _here(iso: str) -> str:
    """An instant as ``history`` writes it: in the machine's zone."""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


@pytest.mark.parametrize(("args", "expected"), [
    (("--until", "2020-01-01T00:00:00+00:00"),
     f"No runs scheduled before {_here('2020-01-01T00:00:00+00:00')}; 6 runs recorded in all."),
    (("report", "--failed"), "No failed runs of report; 6 runs recorded in all, 2 of report."),
    (("backup", "--since", "2099-01-01T00:00:00+00:00", "--until", "2099-01-02T00:00:00+00:00"),
     f"No runs of backup scheduled since {_here('2099-01-01T00:00:00+00:00')} and before "
     f"{_here('2099-01-02T00:00:00+00:00')}; 6 runs recorded in all, 3 of backup."),
    (("cleanup",), "No runs of cleanup; 6 runs recorded in all."),
], ids=["until", "failed-of-job", "span-of-job", "job-never-run"])
def test_history_says_what_its_filters_left_out(seeded, args, expected):
    result = cli("history", "--state", seeded, *args)
    assert (result.exit_code, result.stdout.strip()) == (0, expected)
    assert ok_json("history", "--state", seeded, *args) == []


# -- next --------------------------------------------------------------------------------------

def test_next_of_a_job_starts_at_its_next_run_time(seeded):
    jobs = {job["id"]: job for job in ok_json("list", "--state", seeded)}

    times = [datetime.fromisoformat(t) for t in ok_json("next", "--state", seeded, "backup", "-n", "3")]

    assert times[0] == datetime.fromisoformat(jobs["backup"]["next_run_time"])
    assert [b - a for a, b in pairwise(times)] == [timedelta(days=1)] * 2
    assert all((t.hour, t.minute) == (2, 30) for t in times)
    assert len(ok_json("next", "--state", seeded, "report")) == 5  # the default count


@pytest.mark.parametrize(("expr", "zone", "count", "check"), [
    ("30 2 * * *", "Europe/Berlin", 3, lambda t: (t.hour, t.minute) == (2, 30)),
    ("*/15 9-17 * * 1-5", "America/New_York", 6,
     lambda t: t.minute % 15 == 0 and 9 <= t.hour <= 17 and t.isoweekday() <= 5),
    ("0 0 29 2 *", "UTC", 2, lambda t: (t.month, t.day) == (2, 29)),
    ("*/20 * * * * *", "Asia/Kolkata", 4, lambda t: t.second % 20 == 0),
], ids=["daily-berlin", "weekday-quarters-new-york", "leap-day", "seconds-kolkata"])
def test_next_cron_lists_the_runs_of_an_expression(expr, zone, count, check):
    times = [datetime.fromisoformat(t) for t in ok_json("next", "--cron", expr, "--timezone", zone,
                                                        "-n", count)]

    assert len(times) == count
    assert times == sorted(set(times))
    assert times[0] > NOW
    local = [t.astimezone(ZoneInfo(zone)) for t in times]
    assert all(t.utcoffset() == there.utcoffset() for t, there in zip(times, local))  # printed in the zone
    assert all(check(t) for t in local)


def test_next_cron_table_shows_local_times_and_distances():
    result = cli("next", "--cron", "30 2 * * *", "--timezone", "Europe/Berlin", "-n", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(" 02:30:00 CE" in line and "(in " in line for line in lines)


@pytest.mark.parametrize(("args", "message"), [
    (("next",), "give either a JOB or --cron EXPR"),
    (("next", "backup", "--cron", "* * * * *"), "give either a JOB or --cron EXPR"),
    (("next", "--cron", "61 * * * *"), "--cron: "),
    (("next", "--cron", "* * *"), "expected 5 fields"),
    (("next", "--cron", "* * * * *", "--timezone", "Mars/Olympus"), "unknown timezone"),
], ids=["neither", "both", "out-of-range", "too-few-fields", "bad-timezone"])
def test_next_usage_errors(seeded, args, message):
    assert_clean_error(cli(*args, "--state", seeded), 2, message)


def test_a_misspelt_timezone_is_named_as_the_option_with_a_fix(tmp_path):
    done = subprocess.run([SCHEDCTL, "next", "--cron", "* * * * *", "--timezone", "Europe/Berln"],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith("Error: Invalid value for '--timezone': unknown timezone "
                                "'Europe/Berln' — did you mean 'Europe/Berlin'?\n")


# -- status ------------------------------------------------------------------------------------

def test_status_without_a_scheduler(seeded):
    result = cli("status", "--state", seeded, "--json")

    assert result.exit_code == 3
    view = json.loads(result.stdout)
    assert view["running"] is False
    assert view["state"] == str(seeded)
    assert view["jobs"] == {"total": 3, "scheduled": 2, "paused": 1, "running": 0, "at_boot": 0}
    assert view["failures_24h"] == FAILED_IN_24H
    assert set(view) == {"state", "exists", "running", "pid", "hostname", "started_at",
                         "heartbeat_at", "jobfile", "jobs", "failures_24h", "replaced_24h"}
    assert view["exists"] is True
    assert view["replaced_24h"] == 0

    text = cli("status", "--state", seeded)
    assert text.exit_code == 3
    assert text.stdout.startswith("not running")
    assert "jobs:     3 (2 scheduled, 1 paused, 0 running, 0 at boot)" in text.stdout
    assert f"failures: {FAILED_IN_24H} in the last 24 hours" in text.stdout


def test_status_without_a_state_file_is_not_running_not_an_error(tmp_path):
    """A monitoring check tells "nothing has run here" (3, as systemctl status says of a
    stopped unit) from an error (1): a state file it cannot open."""
    missing = tmp_path / "never-run.db"
    (tmp_path / "jobs.yaml").write_text(f"state: {missing}\njobs:\n  a: {{command: 'true', interval: 1h}}\n")
    (tmp_path / "broken.db").write_bytes(b"this is not a SQLite database" * 100)

    text = cli("status", "--state", missing)
    data = cli("status", "-f", tmp_path / "jobs.yaml", "--json")
    broken = cli("status", "--state", tmp_path / "broken.db")

    assert (text.exit_code, text.stdout) == (
        3, f"not running: no state file at {missing} yet ('schedctl run' creates it)\n")
    assert (data.exit_code, json.loads(data.stdout)) == (
        3, {"state": str(missing), "running": False, "exists": False})
    assert broken.exit_code == 1 and broken.stdout == ""


# -- pause and resume (no scheduler) -----------------------------------------------------------

def test_pause_and_resume_change_the_state_file(seeded):
    def state_of(job: str) -> str:
        return {j["id"]: j for j in ok_json("list", "--state", seeded)}[job]["state"]

    assert cli("pause", "--state", seeded, "backup", "report").stdout == (
        "backup: paused\nreport: paused\n")
    assert state_of("backup") == state_of("report") == "paused"
    assert cli("pause", "--state", seeded, "backup").stdout == "backup: already paused\n"

    resumed = cli("resume", "--state", seeded, "backup", "cleanup")
    assert resumed.exit_code == 0
    lines = resumed.stdout.splitlines()
    assert lines[0].startswith("backup: resumed, next run ") and " 02:30:00 " in lines[0]
    assert lines[1].startswith("cleanup: resumed, next run ")
    assert cli("resume", "--state", seeded, "backup").stdout.startswith("backup: not paused")
    assert state_of("report") == "paused"


@pytest.mark.parametrize("command", [
    ("pause", "backup", "nope"), ("resume", "nope"), ("run-now", "nope"), ("next", "nope"),
    ("history", "nope"),
], ids=["pause", "resume", "run-now", "next", "history"])
def test_an_unknown_job_is_an_error_listing_the_known_ids(seeded, command):
    result = cli(*command, "--state", seeded)

    assert_clean_error(result, 1, "'nope'", "known ids: backup, cleanup, report")
    assert {j["id"]: j for j in ok_json("list", "--state", seeded)}["backup"]["state"] == "scheduled"


@pytest.mark.parametrize(("args", "code", "message"), [
    (("list",), 2, "no state file given: use --state PATH or -f JOBFILE"),
    (("list", "--state", "missing.db"), 1, "does not exist yet; 'schedctl run' creates it"),
    (("status", "-f", "missing.yaml"), 2, "cannot read the jobfile"),
    (("pause", "--state", "missing.db"), 2, "Missing argument 'JOB...'"),
    (("history", "--state", "missing.db", "-n", "lots"), 2, "'lots' is not a valid integer"),
    (("history", "--state", "missing.db", "-n", "0"), 2, "0 is not in the range 1<=x<=1000000"),
    (("history", "--state", "missing.db", "-n", "9" * 30), 2, "is not in the range 1<=x<=1000000"),
    (("next", "--cron", "* * * * *", "-n", "-1"), 2, "-1 is not in the range 1<=x<=10000"),
    (("next", "--cron", "* * * * *", "-n", "100000000"), 2,
     "100000000 is not in the range 1<=x<=10000"),
    (("validate", "-n", "10001", "jobs.yaml"), 2, "10001 is not in the range 0<=x<=10000"),
], ids=["no-state", "missing-state", "missing-jobfile", "no-job", "bad-count", "zero-count",
        "huge-history-count", "negative-count", "huge-next-count", "huge-validate-count"])
def test_usage_and_state_errors(tmp_path, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCHEDCTL_STATE", raising=False)
    monkeypatch.delenv("SCHEDCTL_JOBFILE", raising=False)
    result = cli(*args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_state_can_come_from_the_environment(seeded, monkeypatch):
    monkeypatch.setenv("SCHEDCTL_STATE", str(seeded))
    result = CliRunner().invoke(main, ["list", "--json"])
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 3


# -- help and version --------------------------------------------------------------------------

@pytest.mark.parametrize("command", sorted(main.every_command()), ids=sorted(main.every_command()))
def test_every_command_has_help(command):
    result = cli(command, "--help")

    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: main {command}")
    assert "--help" in result.stdout
    json_capable = {"list", "history", "next", "status", "validate", "pause", "resume", "run-now"}
    assert ("--json" in result.stdout) == (command in json_capable)


def test_help_and_version_of_the_real_executable():
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SCHEDCTL, *args], capture_output=True, text=True, timeout=30,
                              check=False)

    helped, short, version = run("--help"), run("-h"), run("--version")

    assert helped.returncode == short.returncode == version.returncode == 0
    assert helped.stdout == short.stdout
    assert helped.stdout.startswith("Usage: schedctl [OPTIONS] COMMAND")
    for command in main.every_command():
        assert f"  {command} " in helped.stdout
    assert version.stdout.strip() == f"schedctl, version {__version__}"


def test_each_command_is_loaded_from_the_module_the_group_names():
    from schedctl.cli.group import COMMAND_MODULES

    defined = {name: command.callback.__module__ for name, command in main.every_command().items()}
    assert defined == {name: f"schedctl.cli.{module}" for name, module in COMMAND_MODULES.items()}


def test_a_command_loads_only_its_own_module():
    program = ("import sys\nfrom schedctl.cli import main\n"
               "main(['list', '--help'], standalone_mode=False)\n"
               "print(' '.join(m for m in sys.modules if m.startswith('schedctl.cli.')))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True)
    loaded = set(done.stdout.split())
    assert "schedctl.cli.jobs" in loaded
    assert loaded.isdisjoint({"schedctl.cli.run", "schedctl.cli.crontabs", "schedctl.cli.edit",
                              "schedctl.cli.top", "schedctl.cli.metrics"}), loaded
